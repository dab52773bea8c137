# SPDX-License-Identifier: GPL-3.0-or-later
"""Networking in running daemons: the controllers on the lease holder and every node's proxy, as `kubectl expose`
and `microk8s enable metallb` leave them (nodes on loopback, pod_network host: no root-only command)."""

from __future__ import annotations

import urllib.request

import pytest
from cluster_fixtures import FAST_ARGS, clusters, wait_for
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import services
from microk8s_double.kubeclient import KubeClient
from network_fakes import backend

LEASE_1S = {"kubelet-config": {"nodeLeaseDurationSeconds": "4"}}  # node Lease renewed (heartbeat) every 1 s


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def fetch(ip: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}/x", timeout=5) as answer:
        return answer.read().decode().split()[0]


def test_a_load_balancer_service_is_allocated_and_every_node_proxies_its_node_port(make_cluster):
    cluster = make_cluster(
        args=dict(FAST_ARGS, kubelet={"node-status-update-frequency": "1s"}, **LEASE_1S), pod_network="host"
    )
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    client = KubeClient.for_node(first.node)
    app, app_address = backend("hello")
    try:
        spec = {"type": "LoadBalancer", "ports": [{"port": 8081, "targetPort": app_address[1], "protocol": "TCP"}]}
        client.create(
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "hello", "namespace": "default"},
                "spec": spec,
            },
        )
        client.create(
            "endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "hello", "namespace": "default"},
                "subsets": [
                    {"addresses": [{"ip": app_address[0]}], "ports": [{"port": app_address[1], "protocol": "TCP"}]}
                ],
            },
        )
        hello = wait_for(lambda: (s := client.get("services", "hello", "default"))["spec"].get("clusterIP") and s)
        node_port = hello["spec"]["ports"][0]["nodePort"]
        assert services.external_ip(hello) is None
        for node in (first, second):
            assert wait_for(lambda n=node: fetch(n.ip, node_port), what=f"{node.hostname}'s NodePort") == "hello"
        addon_workloads.enable_metallb(first.node, "10.77.0.240-10.77.0.250")
        wait_for(
            lambda: services.external_ip(client.get("services", "hello", "default")) == "10.77.0.240",
            what="the first pool address",
        )
        kubernetes = client.get("services", "kubernetes", "default")
        assert kubernetes["spec"]["clusterIP"] == "10.152.183.1"

        def pod_cidrs():
            return sorted(n["spec"].get("podCIDR", "") for n in client.list("nodes"))

        # The joined node registers its Node a moment after `join` returns (its kubelet's first heartbeat with the
        # cluster's credentials), as on real MicroK8s: wait for both Nodes, not only for the ones listed so far.
        wait_for(lambda: pod_cidrs() == ["10.1.0.0/24", "10.1.1.0/24"], what="both Nodes with their pod CIDRs")
    finally:
        app.shutdown()
