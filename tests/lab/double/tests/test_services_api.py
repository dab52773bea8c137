# SPDX-License-Identifier: GPL-3.0-or-later
"""The networking controllers and a node's network loop against the double's real API server (in-memory store):
what `kubectl expose` + `microk8s enable metallb` lead to, and traffic through the proxy and the ingress."""

from __future__ import annotations

import dataclasses
import random
import socket
import urllib.request

import pytest
from api_fixtures import api_server
from microk8s_double import network, nodes
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import endpoints, nodeipam, services
from network_fakes import FakeRunner, backend, free_port


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def hello_service(kind="LoadBalancer", selector=True):
    spec = {"type": kind, "ports": [{"port": 8081, "targetPort": 8080, "protocol": "TCP"}]}
    spec.update({"selector": {"app": "hello"}} if selector else {})
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello", "namespace": "default"}, "spec": spec}


def free_node_port() -> int:
    """A NodePort nothing on this host listens on (other suites may run side by side)."""
    for port in random.sample(range(30000, 32768), 500):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free NodePort on this host")


def running_pod(api, name, ip, port):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "hello"}},
        "spec": {
            "nodeName": "elsewhere",
            "containers": [{"name": "hello", "image": "hello:local", "ports": [{"containerPort": port}]}],
        },
    }
    api.client.create("pods", pod)
    status = {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
    api.client.patch("pods", name, {"status": status}, namespace="default", subresource="status")


def test_load_balancer_is_pending_without_metallb_then_gets_the_first_pool_address(api):
    api.client.create("services", hello_service())
    services.sync(api.client)
    stored = api.client.get("services", "hello", "default")
    assert stored["spec"]["clusterIP"].startswith("10.152.183.") and stored["spec"]["clusterIP"] != "10.152.183.1"
    assert 30000 <= stored["spec"]["ports"][0]["nodePort"] <= 32767
    assert services.external_ip(stored) is None  # <pending>
    addon_workloads.enable_metallb(api.node, "10.77.0.240-10.77.0.250")
    services.sync(api.client)
    stored = api.client.get("services", "hello", "default")
    assert services.external_ip(stored) == "10.77.0.240"
    version = stored["metadata"]["resourceVersion"]
    services.sync(api.client)
    assert api.client.get("services", "hello", "default")["metadata"]["resourceVersion"] == version
    addon_workloads.enable_metallb(api.node, "10.77.0.245-10.77.0.250")  # enabled again with another range
    config = api.client.get("configmaps", services.METALLB_CONFIG, services.METALLB_NAMESPACE)
    assert [str(a) for a in services.pool_ranges(config)[0]] == ["10.77.0.245", "10.77.0.250"]
    addon_workloads.apply(api.node, "disable", "metallb")
    assert api.client.get("configmaps", services.METALLB_CONFIG, services.METALLB_NAMESPACE) is None


def test_endpoints_and_node_pod_cidrs_are_written(api):
    api.client.create("services", hello_service("ClusterIP"))
    running_pod(api, "hello-1", "10.1.0.5", 8080)
    endpoints.sync(api.client, api.node)
    stored = api.client.get("endpoints", "hello", "default")
    assert stored["subsets"][0]["addresses"][0]["ip"] == "10.1.0.5"
    assert stored["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    endpoints.sync(api.client, api.node)
    assert (
        api.client.get("endpoints", "hello", "default")["metadata"]["resourceVersion"]
        == stored["metadata"]["resourceVersion"]
    )
    api.client.delete("services", "hello", "default")
    endpoints.sync(api.client, api.node)
    assert api.client.get("endpoints", "hello", "default") is None
    node = nodes.heartbeat(api.node, worker=False)  # what a kubelet registers
    api.client.create("nodes", node)
    nodeipam.sync(api.client)
    services.sync(api.client)
    endpoints.sync(api.client, api.node)
    assert api.client.get("services", "kubernetes", "default")["spec"]["clusterIP"] == "10.152.183.1"
    masters = api.client.get("endpoints", "kubernetes", "default")["subsets"]
    assert masters == [
        {
            "addresses": [{"ip": api.ip}],
            "ports": [{"name": "https", "port": api.node.port("apiserver"), "protocol": "TCP"}],
        }
    ]
    assert api.client.get("nodes", "node-1")["spec"]["podCIDR"].startswith("10.1.")


def test_a_node_proxies_its_node_port_and_serves_ingress_to_the_endpoints(api):
    app, app_address = backend("hello")
    ports = {
        "apiserver": api.node.port("apiserver"),
        "ingress_http": free_port(api.ip),
        "ingress_https": free_port(api.ip),
    }
    node = dataclasses.replace(api.node, settings=dict(api.node.settings, pod_network="host", ports=ports))
    service = hello_service("NodePort")
    service["spec"]["ports"][0].update(nodePort=free_node_port(), targetPort=app_address[1])
    api.client.create("services", service)
    running_pod(api, "hello-1", app_address[0], app_address[1])
    services.sync(api.client)
    endpoints.sync(api.client, api.node)
    addon_workloads.apply(node, "enable", "ingress")
    rule = {
        "host": "hello.lab",
        "http": {
            "paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "hello", "port": {"number": 8081}}}}
            ]
        },
    }
    api.client.create(
        "ingresses",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"rules": [rule]},
        },
    )
    runner = FakeRunner()
    node_network = network.NodeNetwork(node, lambda: api.client, runner)
    try:
        node_network.apply(node_network.read())
        node_port = api.client.get("services", "hello", "default")["spec"]["ports"][0]["nodePort"]
        with urllib.request.urlopen(f"http://{api.ip}:{node_port}/np", timeout=5) as answer:
            assert answer.read().decode().startswith("hello /np")
        request = urllib.request.Request(f"http://{api.ip}:{ports['ingress_http']}/in", headers={"Host": "hello.lab"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.read().decode() == "hello /in hello.lab http"
        assert runner.commands == []  # pod_network host: no root-only command
        addon_workloads.apply(node, "disable", "ingress")
        node_network.apply(node_network.read())
        assert node_network.ingress is None
    finally:
        node_network.proxy.sync({})
        if node_network.ingress:
            node_network.ingress.close()
        app.shutdown()
