# SPDX-License-Identifier: GPL-3.0-or-later
"""The workload controllers' round on the lease holder: one snapshot of deployments, replicasets, pods and nodes,
then garbage collection, the Deployment and ReplicaSet controllers, the scheduler and the node lifecycle
controller, each deciding on that snapshot (what one creates, the next sees a round later, as with informers)."""

from __future__ import annotations

from ..kubeclient import KubeClient
from ..node import Node
from ..nodes import with_liveness
from . import deployment, garbage, nodelifecycle, replicaset, scheduler
from .actions import apply
from .podutil import in_namespace, now


def sync(client: KubeClient, node: Node) -> None:
    moment, grace = now(), node.setting("node_grace_period", 40)
    deployments, replica_sets = client.list("deployments"), client.list("replicasets")
    pods, nodes = client.list("pods"), client.list("nodes")
    collected = garbage.collect(deployments, replica_sets, pods, nodes)
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
    apply(client, scheduler.schedule(pods, [with_liveness(n, grace) for n in nodes], moment))
    apply(client, nodelifecycle.reconcile(nodes, pods, moment, grace, node.setting("pod_eviction_timeout", 300)))


def key(obj: dict) -> tuple[str | None, str]:
    return obj["metadata"].get("namespace"), obj["metadata"]["name"]
