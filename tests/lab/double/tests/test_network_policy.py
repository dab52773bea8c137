# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkPolicy's rules as Felix would write them (network/policy.py's pure `ruleset`, nft text), the table loaded
only when it changes, and what the node's loop reads: nothing on flannel, pods and namespaces only while policies
exist. The traffic itself: test_network_policy_netns.py."""

from __future__ import annotations

import pytest
from microk8s_double import paths, profiles
from microk8s_double.network import NodeNetwork, policy
from microk8s_double.network import nftables as nft
from microk8s_double.node import Node
from network_fakes import FakeRunner

NAME_LABEL = "kubernetes.io/metadata.name"
NAMESPACES = [{"metadata": {"name": n, "labels": {NAME_LABEL: n, "team": t}}} for n, t in (("app", "a"), ("ops", "b"))]


def pod(name: str, ip: str, namespace: str = "app", node: str = "n1", ports=(), **labels) -> dict:
    container = {"name": "c", "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    status = {"phase": "Running", "podIP": ip}
    return {"metadata": meta, "spec": {"nodeName": node, "containers": [container]}, "status": status}


def netpol(ingress=None, egress=None, types=None, namespace="app", **selector) -> dict:
    spec = {"podSelector": {"matchLabels": selector} if selector else {}}
    spec.update({"ingress": ingress} if ingress is not None else {})
    spec.update({"egress": egress} if egress is not None else {})
    spec.update({"policyTypes": types} if types else {})
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


WEB = pod("web", "10.1.0.5", ports=[("http", 8080)], app="web")
PODS = [
    WEB,
    pod("db", "10.1.0.6", app="db"),
    pod("api", "10.1.1.5", node="n2", ports=[("http", 9090)], app="api"),
    pod("mon", "10.1.1.6", namespace="ops", node="n2", app="mon"),
]


def chain(policies, pods=None, name="tw-10.1.0.5") -> list[str] | None:
    """The rules of one pod's chain, None when the pod has none (not selected)."""
    text = nft.describe(policy.ruleset(policies, PODS if pods is None else pods, NAMESPACES, "n1"))
    if f"chain {name} {{" not in text:
        return None
    body = text.split(f"chain {name} {{\n", 1)[1].split("\t}", 1)[0]
    return [line.strip() for line in body.splitlines()]


def test_unselected_pods_have_no_chain_and_no_rules_means_deny_all():
    assert chain([netpol([{}], app="other")]) is None
    assert chain([netpol([], app="web")]) == ["drop"]
    assert chain([netpol(app="web")]) == ["drop"]  # policyTypes defaults to Ingress
    assert chain([netpol([{}], app="web")]) == ["return", "drop"]  # one empty rule: everything
    assert chain([netpol(egress=[{}], types=["Egress"], app="web")]) is None  # egress only: ingress open
    assert chain([netpol(egress=[], types=["Egress"], app="web")], name="fw-10.1.0.5") == ["drop"]


def test_pod_and_namespace_selectors_alone_and_together():
    same = chain([netpol([{"from": [{"podSelector": {}}]}])])
    assert same == ["ip saddr 10.1.0.5 return", "ip saddr 10.1.0.6 return", "ip saddr 10.1.1.5 return", "drop"]
    team_b = {"namespaceSelector": {"matchLabels": {"team": "b"}}}
    assert chain([netpol([{"from": [team_b]}])]) == ["ip saddr 10.1.1.6 return", "drop"]
    everywhere = chain([netpol([{"from": [{"namespaceSelector": {}}]}])])
    assert len(everywhere) == 5
    both = dict(team_b, podSelector={"matchLabels": {"app": "web"}})
    assert chain([netpol([{"from": [both]}])]) == ["drop"]  # AND: no pod named web in team b
    both["podSelector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["mon", "web"]}]}
    assert chain([netpol([{"from": [both]}])]) == ["ip saddr 10.1.1.6 return", "drop"]


def test_ip_blocks_ports_ranges_named_ports_and_protocols():
    block = {"ipBlock": {"cidr": "172.16.0.0/16", "except": ["172.16.1.0/24", "172.16.2.0/24"]}}
    ports = [
        {"port": "http", "protocol": "TCP"},
        {"port": 8000, "endPort": 8100, "protocol": "TCP"},
        {"port": 53, "protocol": "UDP"},
        {"protocol": "SCTP"},
        {"port": "metrics", "protocol": "TCP"},
    ]
    rules = chain([netpol([{"from": [block], "ports": ports}])])
    peer = "ip saddr 172.16.0.0/16 ip saddr != 172.16.1.0/24 ip saddr != 172.16.2.0/24"
    assert rules == [
        f"{peer} meta l4proto tcp th dport 8080 return",  # named: the pod's own port called http
        f"{peer} meta l4proto tcp th dport 8000-8100 return",
        f"{peer} meta l4proto udp th dport 53 return",
        f"{peer} meta l4proto sctp return",
        "drop",  # `metrics` is no port of this pod: matches nothing
    ]
    assert chain([netpol([{"ports": [{"port": 80, "protocol": "TCP"}]}])]) == [
        "meta l4proto tcp th dport 80 return",
        "drop",
    ]
    assert chain([netpol([{"ports": [{"port": "http", "protocol": "UDP"}]}])]) == ["drop"]  # a TCP port's name
    sloppy = {"ipBlock": {"cidr": "172.16.7.7/16", "except": ["172.16.1.9/24"]}}  # host bits, as the API allows
    six = {"ipBlock": {"cidr": "fd00::/8"}}  # the pod network is IPv4: matches nothing
    assert chain([netpol([{"from": [sloppy, six]}])]) == [
        "ip saddr 172.16.0.0/16 ip saddr != 172.16.1.0/24 return",
        "drop",
    ]


def test_rules_of_all_policies_selecting_a_pod_add_up_and_only_its_own_node_polices_it():
    policies = [
        netpol([{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]),
        netpol([{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}]}], app="web"),
    ]
    assert chain(policies) == ["ip saddr 10.1.0.6 return", "ip saddr 10.1.1.5 return", "drop"]
    assert chain(policies, name="tw-10.1.1.5") is None  # api's node is n2: n1 writes no chain for it
    text = nft.describe(policy.ruleset(policies, PODS, NAMESPACES, "n1"))
    assert "ip daddr 10.1.0.5 jump tw-10.1.0.5" in text and "ct state established,related accept" in text


def test_egress_named_ports_are_the_destinations_and_finished_or_host_network_pods_are_no_peers():
    out = netpol(
        egress=[{"to": [{"podSelector": {}}], "ports": [{"port": "http", "protocol": "TCP"}]}],
        types=["Egress"],
        app="web",
    )
    assert chain([out], name="fw-10.1.0.5") == [
        "ip daddr 10.1.0.5 meta l4proto tcp th dport 8080 return",
        "ip daddr 10.1.1.5 meta l4proto tcp th dport 9090 return",
        "drop",
    ]
    done = dict(pod("old", "10.1.0.9"), status={"phase": "Succeeded", "podIP": "10.1.0.9"})
    host = pod("host", "10.0.0.1")
    host["spec"]["hostNetwork"] = True
    rules = chain([netpol([{"from": [{"podSelector": {}}]}])], pods=[WEB, done, host])
    assert rules == ["ip saddr 10.1.0.5 return", "drop"]


def test_the_ingress_controllers_stand_ins_are_pods_of_the_ingress_namespace():
    nodes = [{"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.1.0.0/24"}}, {"metadata": {"name": "w"}}]
    (stand_in,) = policy.ingress_pods(nodes)
    assert stand_in["status"]["podIP"] == "10.1.0.254" and stand_in["metadata"]["namespace"] == "ingress"
    namespaces = [*NAMESPACES, {"metadata": {"name": "ingress", "labels": {NAME_LABEL: "ingress"}}}]
    rule = [{"from": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: "ingress"}}}]}]
    text = nft.describe(policy.ruleset([netpol(rule)], [*PODS, stand_in], namespaces, "n1"))
    assert "ip saddr 10.1.0.254 return" in text
    # it connects from the node's own namespace: its traffic to local pods is policed on output, unlike the node's
    assert 'ip saddr 10.1.0.254 oifname "cali*" jump to-wl' in text.split("chain output {", 1)[1]
    assert "chain output" not in nft.describe(policy.ruleset([netpol(rule)], PODS, namespaces, "n1"))


class FakeKernel:
    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def replace(self, table):
        self.calls.append(("replace", table.name))

    def delete(self, name):
        self.calls.append(("delete", name))


def test_the_table_is_loaded_when_it_changes_and_removed_without_policies():
    kernel = FakeKernel()
    keeper = policy.KernelPolicy("n1", kernel)
    keeper.sync(None, PODS, NAMESPACES)  # flannel, or nothing yet: make sure no table is left
    keeper.sync([], PODS, NAMESPACES)
    deny = [netpol([], app="web")]
    keeper.sync(deny, PODS, NAMESPACES)
    keeper.sync(deny, PODS, NAMESPACES)
    keeper.sync(deny, [*PODS, pod("new", "10.1.0.7")], NAMESPACES)  # a new pod: a peer of nothing, same table
    keeper.sync([netpol([{}], app="web")], PODS, NAMESPACES)
    keeper.sync(None, PODS, NAMESPACES)
    assert kernel.calls == [
        ("delete", "calico-filter"),
        ("replace", "calico-filter"),
        ("replace", "calico-filter"),
        ("delete", "calico-filter"),
    ]


class CountingClient:
    def __init__(self, policies):
        self.policies, self.listed = policies, []

    def list(self, resource, namespace=None):
        self.listed.append(resource)
        return self.policies if resource == "networkpolicies" else []

    def get(self, resource, name, namespace=None):
        return None


@pytest.mark.parametrize(
    ("calico", "policies", "reads"),
    [
        (False, [netpol()], []),
        (True, [], ["networkpolicies"]),
        (True, [netpol()], ["networkpolicies", "pods", "namespaces"]),
    ],
)
def test_the_loop_reads_policies_only_on_calico_and_pods_only_while_there_are_policies(
    tmp_path, calico, policies, reads
):
    settings = {"snap_root": str(tmp_path)}
    node = Node(settings, paths.resolve(settings), profiles.for_track("1.32"), "10.0.0.1", "n1")
    if calico:
        node.paths.lock("ha-cluster").parent.mkdir(parents=True)
        node.paths.lock("ha-cluster").touch()
    client = CountingClient(policies)
    NodeNetwork(node, lambda: client).read()
    assert client.listed == ["nodes", "services", "endpoints", *reads]


def test_the_ingress_controllers_source_address_follows_the_pod_cidr_and_the_addon(tmp_path):
    settings = {"snap_root": str(tmp_path)}
    node = Node(settings, paths.resolve(settings), profiles.for_track("1.32"), "10.0.0.1", "n1")
    lo = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "1: lo    inet 10.1.0.254/32 scope host lo\\       valid_lft forever preferred_lft forever\n"
    )
    runner = FakeRunner({("ip", "-4", "-o", "addr", "show", "dev", "lo"): (0, lo)})
    network = NodeNetwork(node, lambda: None, runner)
    nodes = [{"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.1.2.0/24"}}]
    network.apply_ingress_source({"nodes": nodes, "ingress": {"metadata": {}}})
    network.apply_ingress_source({"nodes": nodes, "ingress": {"metadata": {}}})  # unchanged: no command
    assert runner.commands == [
        ("ip", "-4", "-o", "addr", "show", "dev", "lo"),
        ("ip", "addr", "del", "10.1.0.254/32", "dev", "lo"),  # left by an earlier pod CIDR
        ("ip", "addr", "replace", "10.1.2.254/32", "dev", "lo", "scope", "host"),
    ]
    runner.answers = {("ip", "-4", "-o", "addr", "show", "dev", "lo"): (0, lo.replace("10.1.0.254", "10.1.2.254"))}
    network.apply_ingress_source({"nodes": nodes, "ingress": None})  # the addon disabled
    assert runner.commands[-1] == ("ip", "addr", "del", "10.1.2.254/32", "dev", "lo")
    assert network.ingress_source is None
