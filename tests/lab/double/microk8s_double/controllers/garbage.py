# SPDX-License-Identifier: GPL-3.0-or-later
"""Garbage collection of workload objects: ReplicaSets whose Deployment and pods whose ReplicaSet is gone
(background propagation, what `kubectl delete` asks for), and pods bound to a node that no longer exists
(the pod GC, force delete)."""

from __future__ import annotations

from .actions import Action
from .podutil import controller_uid

FORCE = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}


def owner_kind(obj: dict) -> str | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return next((ref["kind"] for ref in refs if ref.get("controller")), None)


def collect(deployments: list[dict], replica_sets: list[dict], pods: list[dict], nodes: list[dict]) -> list[Action]:
    actions = []
    deployment_uids = {d["metadata"]["uid"] for d in deployments}
    live_sets = []
    for rs in replica_sets:
        meta = rs["metadata"]
        if owner_kind(rs) == "Deployment" and controller_uid(rs) not in deployment_uids:
            actions.append(Action("delete", "replicasets", meta["namespace"], meta["name"]))
        else:
            live_sets.append(meta["uid"])
    node_names = {n["metadata"]["name"] for n in nodes}
    for pod in pods:
        meta = pod["metadata"]
        if owner_kind(pod) == "ReplicaSet" and controller_uid(pod) not in live_sets:
            actions.append(Action("delete", "pods", meta["namespace"], meta["name"]))
        elif pod["spec"].get("nodeName") and pod["spec"]["nodeName"] not in node_names:
            actions.append(Action("delete", "pods", meta["namespace"], meta["name"], FORCE))
    return actions
