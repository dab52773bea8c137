# SPDX-License-Identifier: GPL-3.0-or-later
"""What the workload controllers share about objects: label selectors, ownership, pod readiness, timestamps."""

from __future__ import annotations

import datetime
import random

from ..nodes import now, parse, stamp  # one clock and one timestamp format for the whole double

__all__ = ["now", "parse", "stamp"]  # re-exported for the controllers and the kubelet

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3


def random_suffix(length: int = 5, rng: random.Random | None = None) -> str:
    """The suffix the API server appends to a generateName."""
    return "".join((rng or random).choice(NAME_ALPHABET) for _unused in range(length))


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); an empty selector matches everything."""
    labels = labels or {}
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        tests = {
            "In": lambda k=key, v=values: labels.get(k) in v,
            "NotIn": lambda k=key, v=values: labels.get(k) not in v,
            "Exists": lambda k=key: k in labels,
            "DoesNotExist": lambda k=key: k not in labels,
        }
        if not tests[operator]():
            return False
    return True


def in_namespace(objects: list[dict], namespace: str) -> list[dict]:
    return [o for o in objects if o["metadata"].get("namespace") == namespace]


def controller_uid(obj: dict) -> str | None:
    """The uid of the object's controlling owner (ownerReferences[].controller), None when it has none."""
    refs = obj["metadata"].get("ownerReferences") or []
    return next((ref["uid"] for ref in refs if ref.get("controller")), None)


def owner_reference(owner: dict, api_version: str, kind: str) -> dict:
    meta = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_active(pod: dict) -> bool:
    """Counted by its ReplicaSet: not being deleted and not finished."""
    return not is_terminating(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def is_ready(pod: dict) -> bool:
    ready = condition(pod, "Ready")
    return bool(ready and ready.get("status") == "True")


def is_available(pod: dict, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready for at least minReadySeconds."""
    if not is_ready(pod):
        return False
    since = condition(pod, "Ready").get("lastTransitionTime")
    return min_ready_seconds <= 0 or not since or (now - parse(since)).total_seconds() >= min_ready_seconds


def set_condition(conditions: list[dict], new: dict, now: datetime.datetime) -> list[dict]:
    """Conditions with `new` (type, status, reason, message) in place; the transition time moves on status change.
    A `lastUpdateTime` key (Deployments) left empty is kept from the old condition while status and reason stay."""
    old = next((c for c in conditions if c["type"] == new["type"]), None)
    moment = stamp(now)
    changed = not old or old.get("status") != new["status"]
    merged = dict(new, lastTransitionTime=moment if changed else old.get("lastTransitionTime", moment))
    if "lastUpdateTime" in new and not new["lastUpdateTime"]:
        same = not changed and old.get("reason") == new.get("reason") and old.get("lastUpdateTime")
        merged["lastUpdateTime"] = old["lastUpdateTime"] if same else moment
    if not old:
        return [*conditions, merged]
    return [merged if c is old else c for c in conditions]
