# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkPolicy enforced for real, as Calico does on MicroK8s, in network namespaces (test_network_netns.py's Lab:
three nodes running their real network loops over a view file, pods in their own netns over VXLAN). Needs root and
iproute2; skipped otherwise, or with MICROK8S_DOUBLE_NETNS=0.

Pods: `web` (namespace app, named port http = 8080) and `peer` (app) on n1, `peer2` (app) and `other` (namespace
other) on n2, `controller` (namespace ingress, `name: nginx-ingress-microk8s`) on n3. The ingress addon is on, so
the double's own ingress controller also runs on every node and reaches `web` from its stand-in pod address."""

from __future__ import annotations

import copy
import time

import pytest
from cluster_fixtures import wait_for
from microk8s_double import paths
from microk8s_double.network import INGRESS_CONFIG, INGRESS_NAMESPACE
from test_network_netns import APP_PORT, NODES, api_pod, lab, sh
from test_network_netns import pytestmark as netns_only

pytestmark = netns_only
WEB = "10.1.0.1"
NAME_LABEL = "kubernetes.io/metadata.name"
POD_SPECS = [  # name, node, ip, namespace, labels
    ("web", "n1", WEB, "app", {"app": "web"}),
    ("peer", "n1", "10.1.0.2", "app", {"app": "peer"}),
    ("peer2", "n2", "10.1.1.1", "app", {"app": "peer"}),
    ("other", "n2", "10.1.1.2", "other", {"app": "other"}),
    ("controller", "n3", "10.1.2.1", INGRESS_NAMESPACE, {"name": "nginx-ingress-microk8s"}),
]


def uid(lab_, name: str) -> str:
    index = [spec[0] for spec in POD_SPECS].index(name)
    return f"{lab_.tag}{index:02d}00-0000-0000-0000-000000000000"


def policy(name: str, ingress=None, pod_selector=None, types=("Ingress",), egress=None) -> dict:
    spec = {"podSelector": pod_selector or {}, "policyTypes": list(types)}
    spec.update({"ingress": ingress} if ingress is not None else {})
    spec.update({"egress": egress} if egress is not None else {})
    return {"metadata": {"name": name, "namespace": "app"}, "spec": spec}


DENY = policy("default-deny")
SAME_NAMESPACE = policy("allow-same-namespace", [{"from": [{"podSelector": {}}]}])
FROM_INGRESS = policy(
    "allow-from-ingress", [{"from": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: "ingress"}}}]}]
)


def base_view(lab_) -> dict:
    """Nodes with pod CIDRs, the five pods, their namespaces, a service + Ingress for `web`, no policy."""
    pods = [
        api_pod(uid(lab_, name), name, node, ip, namespace, labels, ports=[("http", APP_PORT)])
        for name, node, ip, namespace, labels in POD_SPECS
    ]
    nodes = [
        {
            "metadata": {"name": name},
            "spec": {"podCIDR": f"10.1.{k}.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }
        for k, (name, ip) in enumerate(NODES.items())
    ]
    namespaces = [{"metadata": {"name": n, "labels": {NAME_LABEL: n}}} for n in ("app", "other", INGRESS_NAMESPACE)]
    port = {"port": 80, "targetPort": APP_PORT, "protocol": "TCP"}
    service = {"metadata": {"name": "web", "namespace": "app"},
               "spec": {"type": "ClusterIP", "clusterIP": "10.152.183.190", "ports": [port]}}  # fmt: skip
    subset = {"addresses": [{"ip": WEB, "nodeName": "n1"}], "ports": [{"port": APP_PORT}]}
    endpoints = {"metadata": {"name": "web", "namespace": "app"}, "subsets": [subset]}
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    rule = {"host": "web.lab", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
    ingress = {"metadata": {"name": "web", "namespace": "app"}, "spec": {"rules": [rule]}}
    # proxy-connect-timeout 2 s (ingress-nginx's default: 5 s): a denied backend answers 504 sooner
    config = {"metadata": {"name": INGRESS_CONFIG, "namespace": INGRESS_NAMESPACE},
              "data": {"proxy-connect-timeout": "2"}}  # fmt: skip
    return {"nodes": nodes, "pods": pods, "namespaces": namespaces, "services": [service], "endpoints": [endpoints],
            "ingresses": [ingress], "secrets": [], "ingress_config": config, "networkpolicies": []}  # fmt: skip


class PolicyLab:
    def __init__(self, lab_):
        self.lab = lab_
        self.view = base_view(lab_)

    def policies(self, *items: dict) -> float:
        """Write the view with these policies; the time it was written."""
        content = copy.deepcopy(self.view)
        content["networkpolicies"] = list(items)
        self.lab.write(content)
        return time.monotonic()

    def reaches(self, source: str, target: str = "web", timeout: float = 1.5) -> bool:
        """Whether a new connection from pod `source` (or a node / the client) gets pod `target`'s answer."""
        ips = {name: ip for name, _node, ip, _namespace, _labels in POD_SPECS}
        where = f"uid:{uid(self.lab, source)}" if source in ips else source
        outcome = self.lab.probe(where, ips[target], APP_PORT, 1, timeout)[0][0]
        assert outcome in (target, "timeout"), outcome  # denied traffic is dropped: no refusal, no reset
        return outcome == target

    def through_ingress(self, node: str = "n3") -> str:
        """GET http://web.lab/ from the client through `node`'s ingress controller (port 80)."""
        argv = ["curl", "-s", "-m", "4", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: web.lab"]
        done = sh("ip", "netns", "exec", self.lab.namespaces["client"], *argv, f"http://{NODES[node]}/")
        return done.strip()

    def settles(self, check, since: float, what: str) -> float:
        """Seconds from `since` until `check()` holds (at most 10 s)."""
        wait_for(check, timeout=10, what=what)
        return time.monotonic() - since


@pytest.fixture(scope="module")
def policy_lab(tmp_path_factory):
    with lab(tmp_path_factory.mktemp("netpol"), base_view) as running:
        checks = PolicyLab(running)  # the client routes the pod network through n1, as a LAN router could
        sh("ip", "netns", "exec", running.namespaces["client"], "ip", "route", "add", "10.1.0.0/16", "via", NODES["n1"])
        for name, *_rest in POD_SPECS:
            wait_for(lambda n=name: n == "web" or checks.reaches(n), timeout=20, what=f"{name} reaching web")
        for node in NODES:  # the controllers' first start makes a key (seconds on a loaded machine)
            wait_for(lambda n=node: checks.through_ingress(n) == "200", timeout=60, what=f"ingress on {node}")
        yield checks


def test_without_policies_every_pod_and_node_reaches_the_pod(policy_lab):
    assert all(policy_lab.reaches(name) for name, *_rest in POD_SPECS if name != "web")
    assert policy_lab.reaches("n2") and policy_lab.reaches("client")


def test_default_deny_with_same_namespace_and_ingress_rules_as_an_app_namespace_gets_them(policy_lab):
    since = policy_lab.policies(DENY)
    took = policy_lab.settles(lambda: not policy_lab.reaches("peer", timeout=0.5), since, "default deny")
    print(f"default deny effective after {took:.1f} s")
    assert took < 5
    assert not any(policy_lab.reaches(name) for name in ("peer", "peer2", "other", "controller"))
    assert not policy_lab.reaches("n2") and not policy_lab.reaches("client")  # other nodes and outside: policed
    assert policy_lab.reaches("n1")  # the pod's own node is never policed (Felix), so probes keep working
    # the ingress controller's stand-in is denied too (its SYN dropped: nginx's 504 after proxy-connect-timeout),
    assert policy_lab.through_ingress("n3") == "504"
    assert policy_lab.through_ingress("n1") == "504"  # also on the backend's own node

    since = policy_lab.policies(DENY, SAME_NAMESPACE)
    policy_lab.settles(lambda: policy_lab.reaches("peer", timeout=0.5), since, "same namespace allowed")
    assert policy_lab.reaches("peer2")  # from another node, over VXLAN
    assert not policy_lab.reaches("other")  # cross-namespace: still dropped
    assert not policy_lab.reaches("controller")

    since = policy_lab.policies(DENY, SAME_NAMESPACE, FROM_INGRESS)
    policy_lab.settles(lambda: policy_lab.reaches("controller", timeout=0.5), since, "ingress namespace allowed")
    assert policy_lab.through_ingress("n3") == "200" and policy_lab.through_ingress("n1") == "200"
    assert not policy_lab.reaches("other") and not policy_lab.reaches("client")

    since = policy_lab.policies()
    took = policy_lab.settles(lambda: policy_lab.reaches("other", timeout=0.5), since, "policies removed")
    print(f"policies removed: traffic flows again after {took:.1f} s")
    assert took < 5


def test_peers_ports_and_blocks(policy_lab):
    """Selector AND, ipBlock with except, port numbers, ranges and names; `ingress: []` denies all."""
    both = {"namespaceSelector": {"matchLabels": {NAME_LABEL: "app"}}, "podSelector": {"matchLabels": {"app": "x"}}}
    since = policy_lab.policies(policy("and", [{"from": [both]}]))
    policy_lab.settles(lambda: not policy_lab.reaches("peer", timeout=0.5), since, "AND of selectors")
    assert not policy_lab.reaches("other")

    block = {"ipBlock": {"cidr": "10.1.0.0/16", "except": ["10.1.1.0/24"]}}
    since = policy_lab.policies(policy("block", [{"from": [block], "ports": [{"port": "http"}]}]))
    policy_lab.settles(lambda: policy_lab.reaches("peer", timeout=0.5), since, "ipBlock")
    assert policy_lab.reaches("controller")  # 10.1.2.1: in the block
    assert not policy_lab.reaches("peer2") and not policy_lab.reaches("other")  # 10.1.1.0/24: excepted

    since = policy_lab.policies(policy("wrong-port", [{"ports": [{"port": 9090}, {"protocol": "UDP"}]}]))
    policy_lab.settles(lambda: not policy_lab.reaches("peer", timeout=0.5), since, "other ports only")
    since = policy_lab.policies(policy("range", [{"ports": [{"port": 8000, "endPort": 8100}]}]))
    policy_lab.settles(lambda: policy_lab.reaches("other", timeout=0.5), since, "port range")

    since = policy_lab.policies(policy("none", []), policy("unrelated", [{}], pod_selector={"matchLabels": {"a": "b"}}))
    policy_lab.settles(lambda: not policy_lab.reaches("peer", timeout=0.5), since, "ingress: [] denies")
    policy_lab.policies()


def test_egress_policies_hold_back_new_connections_from_the_pod(policy_lab):
    to_web = {"podSelector": {"matchLabels": {"app": "web"}}}
    egress = policy("egress", pod_selector={"matchLabels": {"app": "peer"}}, types=("Egress",),
                    egress=[{"to": [to_web], "ports": [{"port": "http"}]}])  # fmt: skip
    since = policy_lab.policies(egress)
    policy_lab.settles(lambda: not policy_lab.reaches("peer", "other", timeout=0.5), since, "egress to others denied")
    assert policy_lab.reaches("peer") and policy_lab.reaches("peer2")  # web's named port, resolved on web
    assert not policy_lab.reaches("peer2", "controller")
    no_web = copy.deepcopy(egress)
    no_web["spec"]["egress"][0]["to"] = [{"podSelector": {"matchLabels": {"app": "other"}}}]
    since = policy_lab.policies(no_web)
    policy_lab.settles(lambda: not policy_lab.reaches("peer2", timeout=0.5), since, "egress denied")
    assert policy_lab.reaches("other") and policy_lab.reaches("other", "peer")  # `other` is not selected
    policy_lab.policies()


def test_a_flannel_node_does_not_enforce(policy_lab):
    """ha-cluster disabled: MicroK8s runs flannel, which accepts policies in the API and ignores them."""
    since = policy_lab.policies(DENY)
    policy_lab.settles(lambda: not policy_lab.reaches("other", timeout=0.5), since, "deny on Calico")
    state = policy_lab.lab.tmp / "n1"
    lock = paths.resolve({"snap_root": str(state)}).lock("ha-cluster")
    lock.unlink()
    try:
        since = time.monotonic()
        took = policy_lab.settles(lambda: policy_lab.reaches("other", timeout=0.5), since, "no enforcement")
        print(f"n1 on flannel: policy ignored after {took:.1f} s")
        assert policy_lab.reaches("peer") and policy_lab.reaches("client")
        ruleset = sh("ip", "netns", "exec", policy_lab.lab.namespaces["n1"], "nft", "list", "ruleset")
        assert "calico-filter" not in ruleset
    finally:
        lock.touch()
        policy_lab.policies()
