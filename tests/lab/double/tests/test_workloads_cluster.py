# SPDX-License-Identifier: GPL-3.0-or-later
"""Workloads in running daemons: the lease holder's controllers and every node's kubelet (a worker's too, through
the control plane) for a Deployment whose image no node has (nodes on loopback, pod_network host, no containerd:
the pods are spread, bound and reported by their own node's kubelet in ErrImagePull)."""

from __future__ import annotations

import pytest
from cluster_fixtures import FAST_ARGS, clusters, wait_for
from microk8s_double.kubeclient import KubeClient

LEASE_1S = {"kubelet-config": {"nodeLeaseDurationSeconds": "4"}}  # node Lease renewed (heartbeat) every 1 s


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def test_a_deployment_is_spread_and_each_kubelet_reports_its_pods(make_cluster):
    cluster = make_cluster(
        args=dict(FAST_ARGS, kubelet={"node-status-update-frequency": "1s"}, **LEASE_1S), pod_network="host"
    )
    first = cluster.new_node()
    (worker,) = cluster.grow(1, worker=True)
    client = KubeClient.for_node(first.node)
    wait_for(lambda: len(client.list("nodes")) == 2, what="both nodes registered")
    labels = {"app": "hello"}
    container = {"name": "hello", "image": "hello:local"}
    client.create("deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
    })  # fmt: skip

    def reported():
        pods = client.list("pods", namespace="default")
        waiting = [
            (p["spec"]["nodeName"], p["status"]["hostIP"], s["state"]["waiting"]["reason"])
            for p in pods
            for s in p.get("status", {}).get("containerStatuses", [])
            if "waiting" in s["state"]
        ]
        return len(waiting) == 2 and sorted(waiting)

    found = wait_for(reported, timeout=30, what="both pods reported by their kubelets")
    assert {(name, ip) for name, ip, _reason in found} == {(first.hostname, first.ip), (worker.hostname, worker.ip)}
    assert {reason for _name, _ip, reason in found} <= {"ErrImagePull", "ImagePullBackOff"}
    status = client.get("deployments", "hello", "default")["status"]
    assert status.get("unavailableReplicas") == 2 and not status.get("availableReplicas")
