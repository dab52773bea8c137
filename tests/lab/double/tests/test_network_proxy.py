# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy: the kernel rules a node loads (their text), the userspace proxy of the suite (real TCP on loopback)."""

from __future__ import annotations

import collections
import contextlib
import http.client
import socket
import time
import urllib.request

import pytest
from microk8s_double.network import nftables, proxy
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


def outcome(address) -> str:
    try:
        return fetch(address)
    except (OSError, http.client.HTTPException):  # reset or closed by the proxy: the endpoint refused
        return "failed"


def test_userspace_connections_go_to_one_endpoint_at_random_and_are_never_retried_elsewhere():
    one, one_address = backend("one")
    two, two_address = backend("two")
    refusing = ("127.0.0.1", free_port())
    listen = ("127.0.0.1", free_port())
    node_proxy = proxy.Proxy()
    try:
        node_proxy.sync({listen: [one_address, refusing, two_address]})
        answers = [outcome(listen) for _unused in range(90)]
        counts = collections.Counter(answers)
        assert set(counts) == {"one", "two", "failed"} and min(counts.values()) >= 12, counts  # ~30 each
        assert sum(a == b for a, b in zip(answers, answers[1:])) >= 10  # random: ~30; round robin: none
        node_proxy.sync({listen: [two_address]})  # the Endpoints changed
        assert {fetch(listen) for _unused in range(3)} == {"two"}
        node_proxy.sync({})
        with socket.socket() as probe:
            assert probe.connect_ex(listen) != 0
    finally:
        node_proxy.sync({})
        one.shutdown()
        two.shutdown()


@contextlib.contextmanager
def unanswering_endpoint():
    """A listener whose accept queue is full: the kernel drops further SYNs unanswered, as a dead node does."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        fillers = []
        try:
            for _unused in range(2):  # backlog 0 queues one connection; the second one fills it
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(server.getsockname())
                fillers.append(filler)
            time.sleep(0.2)
            yield server.getsockname()
        finally:
            for filler in fillers:
                filler.close()


def test_userspace_a_connection_to_an_unanswering_endpoint_hangs_until_the_client_gives_up():
    listen = ("127.0.0.1", free_port())
    node_proxy = proxy.Proxy(give_up=3)
    with unanswering_endpoint() as silent:
        try:
            node_proxy.sync({listen: [silent]})
            with socket.create_connection(listen, timeout=5) as client:
                client.sendall(b"GET / HTTP/1.0\r\n\r\n")
                client.settimeout(1.5)
                with pytest.raises(TimeoutError):  # no answer, no close: the old proxy closed it after 1 s
                    client.recv(10)
                client.settimeout(5)
                with contextlib.suppress(ConnectionResetError):
                    assert client.recv(10) == b""  # the proxy gave up as the SYN's sender would
        finally:
            node_proxy.sync({})


def test_a_service_without_endpoints_refuses_connections_and_bind_failures_are_survived():
    listen = ("127.0.0.1", free_port())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", free_port()))
        squatter.listen()
        taken = squatter.getsockname()
        node_proxy = proxy.Proxy()
        node_proxy.sync({listen: [], taken: []})
        assert list(node_proxy.open) == [listen]
        # the proxy accepts and resets: on a busy machine the reset can reach the client while connect() still
        # waits, so it may come from the connect as well as from the first read
        with pytest.raises(ConnectionResetError), socket.create_connection(listen, timeout=5) as client:
            client.settimeout(2)
            client.recv(10)
        node_proxy.sync({})


# -- the kernel rules -------------------------------------------------------------------------------------------------


def hello_endpoints(*addresses):
    return {
        "metadata": {"name": "hello", "namespace": "default"},
        "subsets": [
            {
                "addresses": [{"ip": ip, "nodeName": node} for ip, node in addresses],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
    }


PORTS = [{"port": 8081, "targetPort": 8080, "nodePort": 31305, "protocol": "TCP"}]
THREE = [("10.1.0.5", "node1"), ("10.1.1.5", "node2"), ("10.1.2.5", "node3")]


def rules(table, chain):
    return [r.text for r in table.rules if r.chain == chain]


def test_rules_pick_one_endpoint_uniformly_as_kube_proxys_statistic_rules_and_dnat_to_it():
    table = proxy.ruleset([lb_service(PORTS, "10.77.0.240")], [hello_endpoints(*THREE)], "node1")
    label = "default/hello/8081"
    assert rules(table, f"svc-{label}") == [
        f"numgen random mod 3 == 0 jump sep-{label}/10.1.0.5:8080",
        f"numgen random mod 2 == 0 jump sep-{label}/10.1.1.5:8080",
        f"jump sep-{label}/10.1.2.5:8080",
    ]  # 1/3, then 1/2 of the other 2/3, then the rest: each one third, and never a second try
    assert rules(table, f"sep-{label}/10.1.1.5:8080") == [
        "ip saddr 10.1.1.5 meta mark set mark or 0x4000",  # hairpin: a pod reaching itself is masqueraded
        "dnat to 10.1.1.5:8080",
    ]
    tcp = "meta l4proto tcp"
    assert rules(table, "services") == [
        f"{tcp} ip daddr 10.152.183.185 tcp dport 8081 ip saddr != 10.1.0.0/16 meta mark set mark or 0x4000",
        f"{tcp} ip daddr 10.152.183.185 tcp dport 8081 jump svc-{label}",
        f"{tcp} ip daddr 10.77.0.240 tcp dport 8081 jump ext-{label}",
        f"{tcp} fib daddr type local tcp dport 31305 jump ext-{label}",
    ]
    assert rules(table, f"ext-{label}") == ["meta mark set mark or 0x4000", f"jump svc-{label}"]  # Cluster: SNAT
    assert rules(table, "nat-postrouting") == ["meta mark & 0x4000 == 0x4000 masquerade"]
    assert table.chains["nat-output"] == ("nat", "output", -100)  # the node's own processes too
    assert rules(table, "nat-output") == rules(table, "nat-prerouting") == ["jump services"]


def test_endpoints_removed_from_the_endpoints_object_leave_the_rules():
    before = proxy.ruleset([lb_service(PORTS)], [hello_endpoints(*THREE)], "node1")
    after = proxy.ruleset([lb_service(PORTS)], [hello_endpoints(*THREE[:2])], "node1")
    label = "default/hello/8081"
    assert rules(after, f"svc-{label}") == [
        f"numgen random mod 2 == 0 jump sep-{label}/10.1.0.5:8080",
        f"jump sep-{label}/10.1.1.5:8080",
    ]
    assert f"sep-{label}/10.1.2.5:8080" in before.chains and f"sep-{label}/10.1.2.5:8080" not in after.chains
    empty = proxy.ruleset([lb_service(PORTS, "10.77.0.240")], [], "node1")
    assert rules(empty, "no-endpoints") == [
        "meta l4proto tcp ip daddr 10.152.183.185 tcp dport 8081 reject",
        "meta l4proto tcp ip daddr 10.77.0.240 tcp dport 8081 reject",
        "meta l4proto tcp fib daddr type local tcp dport 31305 reject",
    ]  # connection refused, as kube-proxy's "has no endpoints" REJECT
    assert [c for c in empty.chains if c.startswith(("svc-", "sep-"))] == []


def test_external_traffic_policy_local_keeps_external_traffic_on_the_nodes_own_endpoints():
    service = lb_service(PORTS, "10.77.0.240")
    service["spec"]["externalTrafficPolicy"] = "Local"
    label = "default/hello/8081"
    on_node2 = proxy.ruleset([service], [hello_endpoints(*THREE)], "node2")
    assert rules(on_node2, f"ext-{label}") == [
        f"ip saddr 10.1.0.0/16 jump svc-{label}",
        "fib saddr type local meta mark set mark or 0x4000",
        f"fib saddr type local jump svc-{label}",
        f"jump svl-{label}",
    ]
    assert rules(on_node2, f"svl-{label}") == [f"jump sep-{label}/10.1.1.5:8080"]  # no SNAT: the client's address
    on_node4 = proxy.ruleset([service], [hello_endpoints(*THREE)], "node4")
    assert rules(on_node4, f"ext-{label}")[-1] == "drop"


class FakeKernel:
    def __init__(self):
        self.loaded: list[str] = []
        self.fail = False

    def replace(self, table):
        if self.fail:
            raise OSError(1, "nf_tables: cannot load table ip kube-proxy: Operation not permitted")
        self.loaded.append(nftables.describe(table))


def test_the_kernel_proxy_loads_the_table_when_it_changes_and_retries_a_refused_load(capsys):
    kernel = FakeKernel()
    rules_proxy = proxy.KernelProxy("node1", kernel)
    services, endpoints = [lb_service(PORTS)], [hello_endpoints(*THREE)]
    rules_proxy.sync(services, endpoints)
    rules_proxy.sync(services, endpoints)
    assert len(kernel.loaded) == 1 and "dnat to 10.1.2.5:8080" in kernel.loaded[0]
    kernel.fail = True
    rules_proxy.sync(services, [hello_endpoints(*THREE[:2])])
    rules_proxy.sync(services, [hello_endpoints(*THREE[:2])])
    assert capsys.readouterr().err.count("Operation not permitted") == 1
    kernel.fail = False
    rules_proxy.sync(services, [hello_endpoints(*THREE[:2])])
    assert len(kernel.loaded) == 2 and "10.1.2.5" not in kernel.loaded[1]


def test_netlink_attributes_are_padded_and_nested():
    assert nftables.attrs([(1, b"ab")]) == b"\x06\x00\x01\x00ab\x00\x00"
    assert nftables.attrs([(4, [(1, b"\x00\x00\x00\x02")])]) == b"\x0c\x00\x04\x80\x08\x00\x01\x00\x00\x00\x00\x02"
