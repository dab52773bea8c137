# SPDX-License-Identifier: GPL-3.0-or-later
"""Garbage collection of workload objects: ReplicaSets whose Deployment and pods whose ReplicaSet, StatefulSet or
Job is gone (background propagation, what `kubectl delete` asks for), node Leases whose Node is gone, and the pod
GC's force deletes: pods bound to a node that no longer exists, and (1.26+, NodeOutOfServiceVolumeDetach, beta then
GA in 1.28) terminating pods on a node that is not Ready and carries the `node.kubernetes.io/out-of-service` taint
(so their volumes detach at once)."""

from __future__ import annotations

from .actions import Action
from .podutil import controller_uid

OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
FORCE = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}


def owner_kind(obj: dict) -> str | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return next((ref["kind"] for ref in refs if ref.get("controller")), None)


def out_of_service(nodes: list[dict]) -> set[str]:
    """Nodes not Ready (False or Unknown) with the out-of-service taint."""
    found = set()
    for node in nodes:
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})
        taints = (node.get("spec") or {}).get("taints") or []
        if ready.get("status") != "True" and any(t.get("key") == OUT_OF_SERVICE for t in taints):
            found.add(node["metadata"]["name"])
    return found


def collect(
    deployments: list[dict],
    replica_sets: list[dict],
    pods: list[dict],
    nodes: list[dict],
    minor: int = 99,
    stateful_sets: list[dict] | None = None,
    jobs: list[dict] | None = None,
) -> list[Action]:
    """`stateful_sets`, `jobs`: also delete pods whose StatefulSet or Job is gone (None: callers that do not list
    them)."""
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
    down = out_of_service(nodes) if minor >= 26 else set()
    live_owners = {"ReplicaSet": set(live_sets)}
    if stateful_sets is not None:
        live_owners["StatefulSet"] = {s["metadata"]["uid"] for s in stateful_sets}
    if jobs is not None:
        live_owners["Job"] = {j["metadata"]["uid"] for j in jobs}
    for pod in pods:
        meta = pod["metadata"]
        owners = live_owners.get(owner_kind(pod) or "")
        if owners is not None and controller_uid(pod) not in owners:
            actions.append(Action("delete", "pods", meta["namespace"], meta["name"]))
        elif (bound := pod["spec"].get("nodeName")) and (
            bound not in node_names or (meta.get("deletionTimestamp") and bound in down)
        ):
            actions.append(Action("delete", "pods", meta["namespace"], meta["name"], FORCE))
    return actions


def orphan_leases(leases: list[dict], nodes: list[dict]) -> list[Action]:
    """Node Leases (`kube-node-lease`) whose owning Node is gone: a deleted Node's Lease goes with it."""
    uids = {n["metadata"].get("uid") for n in nodes}
    return [
        Action("delete", "leases", item["metadata"]["namespace"], item["metadata"]["name"])
        for item in leases
        if any(ref.get("kind") == "Node" and ref.get("uid") not in uids
               for ref in item["metadata"].get("ownerReferences") or [])
    ]  # fmt: skip
