# SPDX-License-Identifier: GPL-3.0-or-later
"""The userspace service proxy: which listeners a node opens, and real TCP through them on loopback."""

from __future__ import annotations

import socket
import urllib.request

from microk8s_double.network import proxy
from network_fakes import backend, free_port


def lb_service(ports, external=None):
    svc = {
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.152.183.185", "ports": ports},
    }
    if external:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": external}]}}
    return svc


def test_listeners_cover_cluster_ip_node_port_and_load_balancer_addresses():
    ports = [
        {"port": 8081, "targetPort": 8080, "nodePort": 31305, "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 31000},
    ]
    endpoints = {
        "metadata": {"name": "hello", "namespace": "default"},
        "subsets": [
            {
                "addresses": [{"ip": "10.1.0.5"}, {"ip": "10.1.1.5"}],
                "notReadyAddresses": [{"ip": "10.1.2.5"}],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    headless = {"metadata": {"name": "h", "namespace": "default"}, "spec": {"clusterIP": "None", "ports": ports}}
    wanted = proxy.listeners([lb_service(ports, "10.77.0.240"), headless], [endpoints], "0.0.0.0")
    targets = [("10.1.0.5", 8080), ("10.1.1.5", 8080)]
    assert wanted == {("10.152.183.185", 8081): targets, ("0.0.0.0", 31305): targets, ("10.77.0.240", 8081): targets}
    pending = proxy.listeners([lb_service(ports)], [], "0.0.0.0")
    assert pending == {("10.152.183.185", 8081): [], ("0.0.0.0", 31305): []}


def test_named_ports_pick_their_endpoint_port():
    ports = [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
    subset = {
        "addresses": [{"ip": "10.1.0.5"}],
        "ports": [{"name": "https", "port": 8443}, {"name": "http", "port": 8080}],
    }
    assert proxy.backends(ports[1], {"subsets": [subset]}) == [("10.1.0.5", 8443)]
    assert proxy.backends({"name": "other", "port": 1}, {"subsets": [subset]}) == []


def fetch(address) -> str:
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/x", timeout=5) as answer:
        return answer.read().decode().split()[0]


def test_connections_reach_live_backends_round_robin_skipping_dead_ones():
    one, one_address = backend("one")
    two, two_address = backend("two")
    dead = ("127.0.0.1", free_port())
    listen = ("127.0.0.1", free_port())
    node_proxy = proxy.Proxy()
    try:
        node_proxy.sync({listen: [one_address, dead, two_address]})
        answers = {fetch(listen) for _unused in range(6)}
        assert answers == {"one", "two"}
        node_proxy.sync({listen: [two_address]})
        assert {fetch(listen) for _unused in range(3)} == {"two"}
        node_proxy.sync({})
        with socket.socket() as probe:
            assert probe.connect_ex(listen) != 0
    finally:
        node_proxy.sync({})
        one.shutdown()
        two.shutdown()


def test_a_service_without_endpoints_closes_connections_and_bind_failures_are_survived():
    listen = ("127.0.0.1", free_port())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", free_port()))
        squatter.listen()
        taken = squatter.getsockname()
        node_proxy = proxy.Proxy()
        node_proxy.sync({listen: [], taken: []})
        assert list(node_proxy.open) == [listen]
        with socket.create_connection(listen, timeout=5) as client:
            assert client.recv(10) == b""
        node_proxy.sync({})
