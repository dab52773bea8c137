# SPDX-License-Identifier: GPL-3.0-or-later
"""Service address allocation, MetalLB's pool assignment, node pod CIDRs and the endpoints controller (pure)."""

from __future__ import annotations

import ipaddress
import random

from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import endpoints, nodeipam, services


def service(name, kind="ClusterIP", ports=None, uid=None, **spec):
    ports = ports if ports is not None else [{"port": 8081, "targetPort": 8080, "protocol": "TCP"}]
    return {
        "metadata": {"name": name, "namespace": "default", "uid": uid or name, "creationTimestamp": name},
        "spec": dict(spec, type=kind, ports=ports),
    }


def pod(name, ip, ready=True, labels=None, node="node-1", ports=None, **meta):
    return {
        "metadata": dict(meta, name=name, namespace="default", uid=f"uid-{name}", labels=labels or {"app": "hello"}),
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports or []}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_cluster_ips_are_unique_in_the_service_cidr_and_never_the_kubernetes_one():
    rng = random.Random(7)
    made = []
    for n in range(60):
        made.append(services.allocate(service(f"s{n}"), made, rng))
    ips = [s["spec"]["clusterIP"] for s in made]
    assert len(set(ips)) == 60 and services.KUBERNETES_IP not in ips
    assert all(ipaddress.ip_address(ip) in services.SERVICE_CIDR for ip in ips)
    assert all(s["spec"]["clusterIPs"] == [s["spec"]["clusterIP"]] for s in made)


def test_given_addresses_and_node_ports_are_kept_and_headless_stays_headless():
    fixed = services.allocate(service("dns", clusterIP="10.152.183.10"), [])
    assert fixed["spec"]["clusterIP"] == "10.152.183.10"
    headless = services.allocate(service("h", clusterIP="None"), [])
    assert headless["spec"]["clusterIP"] == "None" and "clusterIPs" not in headless["spec"]
    ports = [{"port": 80, "nodePort": 30080}, {"port": 443}]
    node_port = services.allocate(service("np", "NodePort", ports=ports), [])
    assigned = [p["nodePort"] for p in node_port["spec"]["ports"]]
    assert assigned[0] == 30080 and assigned[1] in services.NODE_PORTS and assigned[1] != 30080
    assert all("nodePort" not in p for p in services.allocate(service("c"), [])["spec"]["ports"])


def test_node_ports_do_not_collide_with_other_services():
    rng = random.Random(1)
    taken = [
        service(f"t{n}", "NodePort", ports=[{"port": 1, "nodePort": n}], clusterIP="10.152.183.2")
        for n in range(30000, 32767)
    ]
    new = services.allocate(service("b", "LoadBalancer"), taken, rng)
    assert new["spec"]["ports"][0]["nodePort"] == 32767
    assert services.unallocated(service("x", "NodePort")) and not services.unallocated(new)
    assert not services.unallocated(service("ext", "ExternalName", externalName="example.lab"))


def test_metallb_config_written_by_the_addon_gives_its_pools():
    config = addon_workloads.metallb_config("10.77.0.240-10.77.0.242, 10.77.1.0/31")
    ranges = services.pool_ranges(config)
    assert list(services.pool_addresses(ranges)) == [
        "10.77.0.240",
        "10.77.0.241",
        "10.77.0.242",
        "10.77.1.0",
        "10.77.1.1",
    ]
    assert services.in_pool("10.77.1.1", ranges) and not services.in_pool("10.77.0.243", ranges)
    assert services.pool_ranges(None) == []


def test_load_balancers_get_the_first_free_pool_address_in_creation_order():
    ranges = services.pool_ranges(addon_workloads.metallb_config("10.77.0.240-10.77.0.242"))
    holder = dict(service("a", "LoadBalancer"), status={"loadBalancer": {"ingress": [{"ip": "10.77.0.240"}]}})
    waiting = [service("c", "LoadBalancer"), service("b", "LoadBalancer"), service("d", "ClusterIP")]
    assigned = {
        s["metadata"]["name"]: services.external_ip(s)
        for s in services.assign_load_balancers([holder, *waiting], ranges)
    }
    assert assigned == {"b": "10.77.0.241", "c": "10.77.0.242"}


def test_requested_load_balancer_ip_and_exhausted_or_missing_pool():
    ranges = services.pool_ranges(addon_workloads.metallb_config("10.77.0.240-10.77.0.241"))
    wanted = service("w", "LoadBalancer", loadBalancerIP="10.77.0.241")
    outside = service("o", "LoadBalancer", loadBalancerIP="10.77.0.9")
    got = services.assign_load_balancers([wanted, outside], ranges)
    assert [(s["metadata"]["name"], services.external_ip(s)) for s in got] == [("w", "10.77.0.241")]
    assert services.assign_load_balancers([service("p", "LoadBalancer")], []) == []  # no metallb: <pending>
    full = [
        dict(service(n, "LoadBalancer"), status={"loadBalancer": {"ingress": [{"ip": ip}]}})
        for n, ip in (("a", "10.77.0.240"), ("b", "10.77.0.241"))
    ]
    assert services.assign_load_balancers([*full, service("z", "LoadBalancer")], ranges) == []


def test_nodes_get_the_lowest_free_pod_cidr_oldest_first():
    nodes = [
        {"metadata": {"name": "n3", "creationTimestamp": "3"}, "spec": {}},
        {"metadata": {"name": "n1", "creationTimestamp": "1"}, "spec": {"podCIDR": "10.1.0.0/24"}},
        {"metadata": {"name": "n2", "creationTimestamp": "2"}},
    ]
    assert nodeipam.assignments(nodes) == {"n2": "10.1.1.0/24", "n3": "10.1.2.0/24"}


def test_endpoints_list_ready_and_not_ready_pods_with_resolved_ports():
    svc = dict(
        service("hello", ports=[{"name": "web", "port": 80, "targetPort": "http"}]),
        spec={"selector": {"app": "hello"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]},
    )
    named = [{"name": "http", "containerPort": 8080}]
    pods = [
        pod("a", "10.1.0.5", ports=named),
        pod("b", "10.1.1.5", ready=False, ports=named, node="node-2"),
        pod("c", "10.1.0.6", ports=[{"name": "http", "containerPort": 9090}]),
        pod("d", "10.1.0.7", labels={"app": "other"}, ports=named),
        pod("e", "10.1.0.8", ports=named, deletionTimestamp="2026-01-01T00:00:00Z"),
        pod("f", None, ports=named),
        pod("g", "10.1.0.9", ports=[]),
    ]
    subsets = endpoints.subsets(svc, pods)
    assert [[a["ip"] for a in s.get("addresses", [])] for s in subsets] == [["10.1.0.5"], ["10.1.0.6"]]
    assert subsets[0]["notReadyAddresses"][0]["ip"] == "10.1.1.5"
    assert subsets[0]["notReadyAddresses"][0]["nodeName"] == "node-2"
    assert [s["ports"] for s in subsets] == [
        [{"port": 8080, "protocol": "TCP", "name": "web"}],
        [{"port": 9090, "protocol": "TCP", "name": "web"}],
    ]
    assert subsets[0]["addresses"][0]["targetRef"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "a",
        "uid": "uid-a",
    }


def test_endpoints_plan_creates_updates_deletes_and_leaves_unchanged_alone():
    svc = service("hello", selector={"app": "hello"})
    without_selector = service("kubernetes")
    first = endpoints.plan([svc, without_selector], [pod("a", "10.1.0.5")], [])
    assert [(verb, obj["metadata"]["name"]) for verb, obj in first] == [("create", "hello")]
    stored = dict(first[0][1], metadata=dict(first[0][1]["metadata"], resourceVersion="5"))
    assert endpoints.plan([svc], [pod("a", "10.1.0.5")], [stored]) == []
    moved = endpoints.plan([svc], [pod("a", "10.1.0.6")], [stored])
    assert moved[0][0] == "update" and moved[0][1]["metadata"]["resourceVersion"] == "5"
    assert moved[0][1]["subsets"][0]["addresses"][0]["ip"] == "10.1.0.6"
    assert endpoints.plan([], [], [stored]) == [("delete", stored)]
    assert endpoints.plan([svc], [], [stored])[0][1]["subsets"] == []


def test_a_service_selecting_the_ingress_addons_pods_gets_one_endpoint_per_node_while_the_addon_is_on():
    def node(name, ip, ready="True"):
        return {
            "metadata": {"name": name},
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "conditions": [{"type": "Ready", "status": ready}],
            },
        }

    nodes = [node("node1", "10.77.0.11"), node("node2", "10.77.0.12", ready="Unknown")]
    addon_on = [{"metadata": {"namespace": "ingress", "name": "nginx-load-balancer-microk8s-conf"}}]
    svc = {
        "metadata": {"name": "front", "namespace": "ingress"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"name": "nginx-ingress-microk8s"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "https", "port": 443, "targetPort": 443},
            ],
        },
    }
    assert endpoints.ingress_pods(nodes, []) == []
    pods = endpoints.ingress_pods(nodes, addon_on)
    [subset] = endpoints.subsets(svc, pods)
    assert [a["ip"] for a in subset["addresses"]] == ["10.77.0.11"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.77.0.12"]
    assert subset["addresses"][0]["targetRef"]["name"] == "nginx-ingress-microk8s-controller-node1"
    assert subset["ports"] == [
        {"port": 80, "protocol": "TCP", "name": "http"},
        {"port": 443, "protocol": "TCP", "name": "https"},
    ]
    elsewhere = dict(svc, metadata={"name": "front", "namespace": "default"})
    assert endpoints.plan([elsewhere], pods, [])[0][1].get("subsets") is None
