# SPDX-License-Identifier: GPL-3.0-or-later
"""The ReplicaSet controller: keeps `spec.replicas` active pods from the template (creating or deleting the least
valuable first, as kube-controller-manager ranks them), adopts matching orphans and reports the counts in status."""

from __future__ import annotations

import copy
import datetime
import random

from .actions import Action, status_update
from .podutil import (
    condition,
    controller_uid,
    is_active,
    is_available,
    is_ready,
    owner_reference,
    random_suffix,
    selector_matches,
)

PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def reconcile(
    replica_set: dict, pods: list[dict], now: datetime.datetime, rng: random.Random | None = None
) -> list[Action]:
    """Actions for one ReplicaSet given the pods of its namespace."""
    meta, spec = replica_set["metadata"], replica_set["spec"]
    if meta.get("deletionTimestamp"):
        return []
    uid, namespace = meta["uid"], meta["namespace"]
    matching = [p for p in pods if selector_matches(spec.get("selector"), p["metadata"].get("labels"))]
    orphans = [p for p in matching if controller_uid(p) is None and is_active(p)]
    owned = [p for p in pods if controller_uid(p) == uid] + orphans
    actions = [adopt(replica_set, p) for p in orphans]
    active = [p for p in owned if is_active(p)]
    diff = len(active) - spec.get("replicas", 1)
    if diff < 0:
        actions += [Action("create", "pods", namespace, "", new_pod(replica_set, rng)) for _unused in range(-diff)]
    for pod in sorted(active, key=deletion_rank)[: max(diff, 0)]:
        actions.append(Action("delete", "pods", namespace, pod["metadata"]["name"]))
    return actions + status_update("replicasets", replica_set, status(replica_set, active, now))


def status(replica_set: dict, active: list[dict], now: datetime.datetime) -> dict:
    """ReplicaSetStatus; zero counts other than `replicas` are omitted as the API's JSON omits them."""
    selector_labels = (replica_set["spec"].get("selector") or {}).get("matchLabels") or {}
    template_labels = ((replica_set["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    wanted_labels = dict(selector_labels, **template_labels)
    min_ready = replica_set["spec"].get("minReadySeconds", 0)
    counts = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(
            1 for p in active if all(p["metadata"].get("labels", {}).get(k) == v for k, v in wanted_labels.items())
        ),
        "readyReplicas": sum(1 for p in active if is_ready(p)),
        "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
        "observedGeneration": replica_set["metadata"].get("generation", 1),
    }
    return {k: v for k, v in counts.items() if v or k == "replicas"}


def new_pod(replica_set: dict, rng: random.Random | None = None) -> dict:
    """A pod from the template, named as the API names `generateName: <replicaset>-`."""
    meta = replica_set["metadata"]
    template = copy.deepcopy(replica_set["spec"]["template"])
    base = meta["name"][:58] + "-"
    pod_meta = {
        "name": base + random_suffix(rng=rng),
        "generateName": base,
        "namespace": meta["namespace"],
        "labels": (template.get("metadata") or {}).get("labels") or {},
        "ownerReferences": [owner_reference(replica_set, "apps/v1", "ReplicaSet")],
    }
    annotations = (template.get("metadata") or {}).get("annotations")
    if annotations:
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]}


def adopt(replica_set: dict, pod: dict) -> Action:
    refs = (pod["metadata"].get("ownerReferences") or []) + [owner_reference(replica_set, "apps/v1", "ReplicaSet")]
    return Action("patch", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"], {
        "metadata": {"ownerReferences": refs}
    })  # fmt: skip


def deletion_rank(pod: dict) -> tuple:
    """controller.ActivePods order: unscheduled, pending, not ready, ready for less time, more restarts, newer."""
    status = pod.get("status") or {}
    ready = condition(pod, "Ready") if is_ready(pod) else None
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = pod["metadata"].get("creationTimestamp", "")
    return (
        bool(pod["spec"].get("nodeName")),
        PHASE_RANK.get(status.get("phase", "Pending"), 0),
        bool(ready),
        invert(ready.get("lastTransitionTime", "") if ready else ""),
        -restarts,
        invert(created),
    )


def invert(text: str) -> tuple:
    """Sorts timestamps newest first inside an ascending sort."""
    return tuple(-ord(c) for c in text)
