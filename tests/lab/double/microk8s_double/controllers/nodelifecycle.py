# SPDX-License-Identifier: GPL-3.0-or-later
"""The node lifecycle controller, for pods: on a node whose kubelet stopped posting (Ready not True, or its last
heartbeat older than `node_grace_period`) pods are marked not Ready at once (so endpoints drop them) and evicted once
the node has been gone for their toleration of `node.kubernetes.io/unreachable` (NoExecute), by default the double's
`pod_eviction_timeout` setting (real clusters: 300 s, added as a default toleration). Evicted pods get reason
`NodeLost` (kubectl shows STATUS Unknown) and a graceful delete; the ReplicaSet then replaces them elsewhere."""

from __future__ import annotations

import datetime

from .actions import Action
from .podutil import condition, is_ready, parse, set_condition

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def gone_since(node: dict, now: datetime.datetime, grace: float) -> datetime.datetime | None:
    """When the node stopped being Ready (None while it is): the last heartbeat plus the grace period."""
    ready = condition(node, "Ready") or {}
    beat = ready.get("lastHeartbeatTime")
    last = parse(beat) if beat else now
    if ready.get("status") == "True" and (now - last).total_seconds() <= grace:
        return None
    if ready.get("status") == "False":
        return parse(ready["lastTransitionTime"]) if ready.get("lastTransitionTime") else last
    return last + datetime.timedelta(seconds=grace)


def toleration_seconds(pod: dict, taint_key: str, default: float) -> float | None:
    """How long the pod stays on a node with this NoExecute taint: its toleration's seconds, None = forever."""
    for toleration in pod["spec"].get("tolerations") or []:
        if toleration.get("effect") not in (None, "", "NoExecute"):
            continue
        if toleration.get("key") in (None, "", taint_key) and (
            toleration.get("operator") == "Exists" or toleration.get("key") == taint_key
        ):
            return toleration.get("tolerationSeconds")
    return default


def reconcile(
    nodes: list[dict], pods: list[dict], now: datetime.datetime, grace: float, eviction_timeout: float
) -> list[Action]:
    actions = []
    for node in nodes:
        since = gone_since(node, now, grace)
        if since is None:
            continue
        name = node["metadata"]["name"]
        taint = NOT_READY if (condition(node, "Ready") or {}).get("status") == "False" else UNREACHABLE
        for pod in pods:
            meta = pod["metadata"]
            if pod["spec"].get("nodeName") != name or meta.get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            allowed = toleration_seconds(pod, taint, eviction_timeout)
            if allowed is not None and (now - since).total_seconds() >= allowed:
                actions += evict(pod, name)
            elif is_ready(pod):
                actions.append(mark_not_ready(pod, now))
    return actions


def mark_not_ready(pod: dict, now: datetime.datetime) -> Action:
    """nodeutil.MarkPodsNotReady: the Ready condition turns False, the rest of the status stays."""
    ready = dict(condition(pod, "Ready"), status="False")
    conditions = set_condition(list(pod["status"]["conditions"]), ready, now)
    return Action("status", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"], {
        "status": {"conditions": conditions}
    })  # fmt: skip


def evict(pod: dict, node_name: str) -> list[Action]:
    meta = pod["metadata"]
    message = f"Node {node_name} which was running pod {meta['name']} is unresponsive"
    return [
        Action(
            "status", "pods", meta["namespace"], meta["name"], {"status": {"reason": "NodeLost", "message": message}}
        ),
        Action("delete", "pods", meta["namespace"], meta["name"]),
    ]
