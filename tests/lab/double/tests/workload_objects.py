# SPDX-License-Identifier: GPL-3.0-or-later
"""Builders of the objects the workload tests feed the controllers, and a tiny in-memory world that applies the
controllers' actions the way the API server would (enough to run several rounds of a rollout)."""

from __future__ import annotations

import copy
import datetime
import uuid

from microk8s_double.controllers.actions import Action
from microk8s_double.controllers.podutil import stamp

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(seconds: float) -> str:
    return stamp(NOW - datetime.timedelta(seconds=seconds))


def node(
    name: str,
    ready: bool | str = True,
    beat_age: float = 1,
    unschedulable: bool = False,
    labels=None,
    taints=None,
    changed_age: float | None = None,
):
    """`ready`: True/False or a status string ("Unknown"); `changed_age`: seconds since the Ready transition."""
    beat = ago(beat_age)
    changed = beat if changed_age is None else ago(changed_age)
    status = ready if isinstance(ready, str) else ("True" if ready else "False")
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": dict({"unschedulable": True} if unschedulable else {}, **({"taints": taints} if taints else {})),
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "lastHeartbeatTime": beat,
                    "lastTransitionTime": changed,
                }
            ]
        },
    }


def template(image: str = "hello:local", labels=None, **spec) -> dict:
    return {
        "metadata": {"labels": labels or {"app": "hello"}},
        "spec": dict({"containers": [{"name": "hello", "image": image}]}, **spec),
    }


def deployment(name: str = "hello", replicas: int = 3, image: str = "hello:local", **spec) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1},
        "spec": dict(
            {"replicas": replicas, "selector": {"matchLabels": {"app": "hello"}}, "template": template(image)}, **spec
        ),
    }


def pod(name: str, owner: dict | None = None, node_name: str | None = None, ready: bool = True, **extra) -> dict:
    meta = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": "hello"},
            "creationTimestamp": ago(100)}  # fmt: skip
    if owner:
        meta["ownerReferences"] = [{"kind": owner.get("kind", "ReplicaSet"), "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]  # fmt: skip
    condition = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ago(60)}
    status = {"phase": "Running" if node_name else "Pending", "conditions": [condition] if node_name else []}
    result = {"metadata": meta, "spec": {"containers": [{"name": "hello", "image": "hello:local"}]}, "status": status}
    if node_name:
        result["spec"]["nodeName"] = node_name
    for key, value in extra.items():
        result[key].update(value)
    return result


def merge(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class World:
    """Objects by resource; `apply` performs the actions as the API would (create gets a uid and timestamp)."""

    def __init__(self, **objects: list[dict]):
        self.objects = {k: [copy.deepcopy(o) for o in v] for k, v in objects.items()}
        self.clock = 0

    def find(self, resource: str, name: str) -> dict:
        return next(o for o in self.objects.setdefault(resource, []) if o["metadata"]["name"] == name)

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if action.verb == "create":
                self.clock += 1
                obj = copy.deepcopy(action.body)
                obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=ago(-self.clock), generation=1)
                self.objects.setdefault(action.resource, []).append(obj)
            elif action.verb in ("patch", "status"):
                merge(self.find(action.resource, action.name), action.body)
            elif action.verb == "delete":
                self.objects[action.resource].remove(self.find(action.resource, action.name))
