# SPDX-License-Identifier: GPL-3.0-or-later
"""The node lifecycle controller (kube-controller-manager's, on the lease holder), with its timings from
`args/kube-controller-manager` (kubeargs.py):
- node health (`Monitor`): every `--node-monitor-period` (default 5s) it notes, on its own clock, when each node's
  Ready heartbeat or its Lease in `kube-node-lease` (heartbeat.py) last changed; a node not heard of for
  `--node-monitor-grace-period` (40s, 50s from 1.32) gets Ready (and its other conditions) `Unknown`, reason
  `NodeStatusUnknown`, "Kubelet stopped posting node status."
  (kubectl: NotReady). A new leader starts its clocks when it first sees a node, as the real one does;
- pods (`reconcile`): on a node whose Ready is not True they are marked not Ready at once (endpoints drop them) and
  evicted once the node has been so for their NoExecute toleration of `node.kubernetes.io/unreachable` (Unknown) or
  `not-ready` (False), which the API server's DefaultTolerationSeconds admission gives every pod (kube-apiserver
  `--default-{unreachable,not-ready}-toleration-seconds`, default 300); evicted pods get reason `NodeLost` (kubectl
  shows STATUS Unknown) and a graceful delete; the ReplicaSet then replaces them elsewhere.
- NoExecute taints on the node's spec (e.g. `node.kubernetes.io/out-of-service`, put there by an administrator):
  the taint manager evicts the pods that do not tolerate them at once (tolerationSeconds: that long after the
  taint's timeAdded), whatever the node's health.
Simplified: no taints are written on the nodes (the scheduler derives them from the Ready condition)."""

from __future__ import annotations

import datetime
import time

from .actions import Action
from .podutil import condition, is_ready, parse, set_condition, stamp

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


class Monitor:
    """monitorNodeHealth / tryUpdateNodeHealth: when this controller last saw each node's heartbeat change."""

    def __init__(self, period: float, grace: float, clock=time.monotonic):
        self.period, self.grace, self.clock = period, grace, clock
        self.seen: dict[str, tuple[tuple, float]] = {}  # node -> ((heartbeat, renewTime), when observed)
        self.last_check: float | None = None

    def due(self) -> bool:
        return self.last_check is None or self.clock() - self.last_check >= self.period

    def check(self, nodes: list[dict], now: datetime.datetime, leases: list[dict] = ()) -> list[Action]:
        """One monitor pass: the nodes to turn Unknown (as status patches). `leases`: those of `kube-node-lease`; a
        node is heard of when its Ready condition's heartbeat time or its Lease's renewTime changed."""
        moment = self.last_check = self.clock()
        renewed = {item["metadata"]["name"]: (item.get("spec") or {}).get("renewTime") for item in leases}
        actions = []
        names = set()
        for node in nodes:
            name = node["metadata"]["name"]
            names.add(name)
            ready = condition(node, "Ready") or {}
            beat = (ready.get("lastHeartbeatTime"), renewed.get(name))
            if self.seen.get(name, (None, 0.0))[0] != beat or name not in self.seen:
                self.seen[name] = (beat, moment)
            if ready.get("status") != "Unknown" and moment - self.seen[name][1] > self.grace:
                actions.append(unknown(node, now))
        self.seen = {k: v for k, v in self.seen.items() if k in names}
        return actions


def unknown(node: dict, now: datetime.datetime) -> Action:
    """Every condition Unknown, the heartbeat times kept, transitions now (as the real controller writes them)."""
    changed = stamp(now)
    conditions = [
        dict(c, status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
             lastTransitionTime=changed if c.get("status") != "Unknown" else c.get("lastTransitionTime", changed))
        for c in (node.get("status") or {}).get("conditions") or []
    ]  # fmt: skip
    return Action("status", "nodes", None, node["metadata"]["name"], {"status": {"conditions": conditions}})


def gone_since(node: dict, now: datetime.datetime) -> datetime.datetime | None:
    """When the node stopped being Ready (None while it is): its Ready condition's last transition."""
    ready = condition(node, "Ready") or {}
    if ready.get("status") == "True":
        return None
    changed = ready.get("lastTransitionTime") or ready.get("lastHeartbeatTime")
    return parse(changed) if changed else now


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
    nodes: list[dict], pods: list[dict], now: datetime.datetime, tolerations: dict[str, float] | None = None
) -> list[Action]:
    """`tolerations`: seconds per taint key for pods without a toleration of their own (the admission's values)."""
    defaults = tolerations or {NOT_READY: 300, UNREACHABLE: 300}
    actions = tainted(nodes, pods, now)
    evicted = {a.name for a in actions if a.verb == "delete"}
    pods = [p for p in pods if p["metadata"]["name"] not in evicted]
    for node in nodes:
        since = gone_since(node, now)
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
            allowed = toleration_seconds(pod, taint, defaults[taint])
            if allowed is not None and (now - since).total_seconds() >= allowed:
                actions += evict(pod, name)
            elif is_ready(pod):
                actions.append(mark_not_ready(pod, now))
    return actions


def tainted(nodes: list[dict], pods: list[dict], now: datetime.datetime) -> list[Action]:
    """The taint manager for the NoExecute taints on node specs."""
    actions = []
    for node in nodes:
        name = node["metadata"]["name"]
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("effect") != "NoExecute":
                continue
            added = parse(taint["timeAdded"]) if taint.get("timeAdded") else now
            for pod in pods:
                meta = pod["metadata"]
                if pod["spec"].get("nodeName") != name or meta.get("deletionTimestamp"):
                    continue
                allowed = taint_toleration(pod, taint)
                if allowed is not None and (now - added).total_seconds() >= allowed:
                    actions.append(Action("delete", "pods", meta["namespace"], meta["name"]))
    return actions


def taint_toleration(pod: dict, taint: dict) -> float | None:
    """Seconds the pod stays with this taint: 0 when it does not tolerate it, None when forever."""
    for toleration in pod["spec"].get("tolerations") or []:
        if toleration.get("effect") not in (None, "", "NoExecute"):
            continue
        exists = toleration.get("operator") == "Exists"
        any_key = toleration.get("key") in (None, "") and exists
        value = toleration.get("value", "") == taint.get("value", "")
        same = toleration.get("key") == taint["key"] and (exists or value)
        if any_key or same:
            seconds = toleration.get("tolerationSeconds")
            return None if seconds is None else max(float(seconds), 0.0)
    return 0.0


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
