# SPDX-License-Identifier: GPL-3.0-or-later
"""The workload controllers' round on the lease holder: one snapshot of deployments, replicasets, statefulsets, jobs,
pods and nodes, then garbage collection (and finished Jobs past their TTL), the Deployment, ReplicaSet, StatefulSet
and Job controllers, the scheduler and the node lifecycle controller, each deciding on that snapshot (what one
creates, the next sees a round later, as with informers). Timings (node monitor period and grace period, default
toleration seconds) come from kubelite's args files (kubeargs.py), read when kubelite starts; `forget()` drops the
node monitor's clocks when the lease is lost."""

from __future__ import annotations

from .. import heartbeat
from ..kubeargs import Timings
from ..kubeclient import KubeClient
from . import deployment, garbage, job, nodelifecycle, replicaset, scheduler, statefulset
from .actions import apply
from .podutil import in_namespace, now

MONITORS: dict[str, nodelifecycle.Monitor] = {}  # per node name (the suite runs several in one process)


def forget(name: str) -> None:
    MONITORS.pop(name, None)


def node_monitor(node, timings: Timings) -> nodelifecycle.Monitor:
    monitor = MONITORS.get(node.hostname)
    if monitor is None:
        monitor = MONITORS[node.hostname] = nodelifecycle.Monitor(
            timings.node_monitor_period, timings.node_monitor_grace_period
        )
    return monitor


def monitor_nodes(client: KubeClient, node, timings: Timings, nodes: list[dict] | None = None) -> list[dict]:
    """The node monitor's pass when due; the nodes as they are after it."""
    nodes = client.list("nodes") if nodes is None else nodes
    monitor = node_monitor(node, timings)
    if not monitor.due():
        return nodes
    leases = client.list("leases", namespace=heartbeat.NAMESPACE)
    marked = monitor.check(nodes, now(), leases)
    apply(client, marked + garbage.orphan_leases(leases, nodes))
    changed = {a.name: a.body["status"] for a in marked}
    return [dict(n, status=dict(n["status"], **changed[n["metadata"]["name"]])) if n["metadata"]["name"] in changed
            else n for n in nodes]  # fmt: skip


def shape(nodes: list[dict]) -> list:
    """What the other controllers care about in the nodes (not the heartbeats): names, spec, labels, readiness."""
    return sorted(
        (n["metadata"]["name"], repr(n.get("spec")), repr(n["metadata"].get("labels")), all_ready([n])) for n in nodes
    )


def all_ready(nodes: list[dict]) -> bool:
    return all((nodelifecycle.condition(n, "Ready") or {}).get("status") == "True" for n in nodes)


def sync(client: KubeClient, node, timings: Timings) -> None:
    moment = now()
    deployments, replica_sets = client.list("deployments"), client.list("replicasets")
    stateful_sets, jobs, pods = client.list("statefulsets"), client.list("jobs"), client.list("pods")
    nodes = monitor_nodes(client, node, timings, client.list("nodes"))
    collected = garbage.collect(deployments, replica_sets, pods, nodes, node.profile.minor, stateful_sets, jobs)
    collected += job.expired(jobs, moment)
    apply(client, collected)
    gone = {(a.resource, a.namespace, a.name) for a in collected}
    replica_sets = [o for o in replica_sets if ("replicasets", *key(o)) not in gone]
    pods = [o for o in pods if ("pods", *key(o)) not in gone]
    for item in deployments:
        namespace = item["metadata"]["namespace"]
        apply(
            client,
            deployment.reconcile(item, in_namespace(replica_sets, namespace), in_namespace(pods, namespace), moment),
        )
    for item in replica_sets:
        apply(client, replicaset.reconcile(item, in_namespace(pods, item["metadata"]["namespace"]), moment))
    jobs = [o for o in jobs if ("jobs", *key(o)) not in gone]
    for item in jobs:
        namespace = item["metadata"]["namespace"]
        apply(client, job.reconcile(item, in_namespace(pods, namespace), moment, node.profile.minor))
    job.keep_only({j["metadata"]["uid"] for j in jobs})
    claims = client.list("persistentvolumeclaims")
    for item in stateful_sets:
        namespace = item["metadata"]["namespace"]
        apply(
            client,
            statefulset.reconcile(
                item, in_namespace(pods, namespace), in_namespace(claims, namespace), moment, node.profile.minor
            ),
        )
    storage = scheduler.Storage(claims, client.list("persistentvolumes"), client.list("storageclasses"))
    apply(client, scheduler.schedule(pods, nodes, moment, storage))
    tolerations = {
        nodelifecycle.NOT_READY: timings.not_ready_toleration,
        nodelifecycle.UNREACHABLE: timings.unreachable_toleration,
    }
    apply(client, nodelifecycle.reconcile(nodes, pods, moment, tolerations))


def key(obj: dict) -> tuple[str | None, str]:
    return obj["metadata"].get("namespace"), obj["metadata"]["name"]
