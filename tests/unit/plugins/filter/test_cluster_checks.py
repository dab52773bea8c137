# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.cluster_checks import (
    api_vip_problems,
    firewall_rules,
    hostname_problems,
    metallb_range_problems,
)

NODES = ["10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14"]


@pytest.mark.parametrize(
    "pools",
    [
        "10.77.0.240-10.77.0.250",
        "10.77.0.240/29",
        "10.77.0.240-10.77.0.243,10.77.0.248/30",
        " 10.77.0.240 - 10.77.0.241",
    ],
)
def test_usable_ranges_have_no_problems(pools):
    assert metallb_range_problems(pools, "10.77.0.0/24", NODES, "10.77.0.1") == []


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        ("10.78.0.1-10.78.0.9", "not inside the nodes' subnet"),
        ("10.77.0.250-10.77.1.5", "not inside the nodes' subnet"),
        ("10.77.0.10-10.77.0.20", "contains the node address 10.77.0.11"),
        ("10.77.0.1/30", "contains the gateway 10.77.0.1"),
        ("10.77.0.20-10.77.0.10", "first address must come before the last"),
        ("", "is not FIRST-LAST or a CIDR"),
        ("10.77.0.x-10.77.0.9", "is not FIRST-LAST or a CIDR"),
    ],
)
def test_bad_ranges_are_named(pools, expected):
    problems = metallb_range_problems(pools, "10.77.0.0/24", NODES, "10.77.0.1")
    assert any(expected in problem for problem in problems), problems


def test_each_overlapping_node_is_reported():
    problems = metallb_range_problems("10.77.0.11-10.77.0.13", "10.77.0.0/24", NODES)
    assert len(problems) == 3


def test_bad_subnet_is_reported():
    assert "is not a network" in metallb_range_problems("10.0.0.1-10.0.0.2", "nonsense")[0]


def test_hostnames():
    assert hostname_problems(["node1", "node2", "pc-100"]) == []
    problems = hostname_problems(["node1", "Node2", "node1", "bad_name"])
    assert any("upper-case" in p for p in problems)
    assert any("more than one node" in p for p in problems)
    assert any("not a valid DNS name" in p for p in problems)


@pytest.mark.parametrize("name", ["a.-b", "a-.b", "a..b", "node1.", "-node", "node1.lan_x", "x" * 64])
def test_every_label_of_a_host_name_is_checked(name):
    assert any("not a valid DNS name" in p for p in hostname_problems([name])), name


def test_fully_qualified_names_are_fine():
    assert hostname_problems(["node1.home.lan", "pc-2.example.org"]) == []


def test_an_ipv6_range_with_ipv4_nodes_is_refused_not_a_crash():
    problems = metallb_range_problems("fd00::10-fd00::20", "10.77.0.0/24", NODES, "10.77.0.1")
    assert any("is IPv6 but the nodes' subnet 10.77.0.0/24 is IPv4" in p for p in problems), problems


def test_a_mixed_range_is_refused():
    problems = metallb_range_problems("10.77.0.240-fd00::20", "10.77.0.0/24", NODES)
    assert any("mixes IPv4 and IPv6" in p for p in problems), problems


@pytest.mark.parametrize("gateway", [None, "", "__omit_place_holder__8a3d1c", "not-an-address"])
def test_a_missing_gateway_is_no_crash(gateway):
    assert metallb_range_problems("10.77.0.240-10.77.0.250", "10.77.0.0/24", NODES, gateway) == []


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        ("10.77.0.0-10.77.0.5", "contains the network address 10.77.0.0"),
        ("10.77.0.250-10.77.0.255", "contains the broadcast address 10.77.0.255"),
        ("10.77.0.240/28", "contains the broadcast address 10.77.0.255"),
    ],
)
def test_network_and_broadcast_addresses_are_refused(pools, expected):
    assert any(expected in p for p in metallb_range_problems(pools, "10.77.0.0/24", NODES)), pools


def test_overlapping_pools_are_refused():
    problems = metallb_range_problems("10.77.0.240-10.77.0.245,10.77.0.244/30", "10.77.0.0/24", NODES)
    assert problems == ["MetalLB ranges 10.77.0.240-10.77.0.245 and 10.77.0.244/30 overlap"]


def test_adjacent_pools_do_not_overlap():
    assert metallb_range_problems("10.77.0.240-10.77.0.243,10.77.0.244/30", "10.77.0.0/24", NODES) == []


def test_a_good_api_vip_and_no_vip_have_no_problems():
    assert api_vip_problems("10.77.0.100", "10.77.0.0/24", NODES, "10.77.0.240-10.77.0.250", "10.77.0.1") == []
    assert api_vip_problems("", "10.77.0.0/24", NODES) == []


@pytest.mark.parametrize(
    ("vip", "expected"),
    [
        ("fd00::5", "is not an IPv4 address"),
        ("10.77.0.100/24", "is not an IPv4 address"),
        ("vip.lan", "is not an IPv4 address"),
        ("10.78.0.5", "is not on the nodes' subnet 10.77.0.0/24"),
        ("10.77.0.0", "is the subnet's network address"),
        ("10.77.0.255", "is the subnet's broadcast address"),
        ("10.77.0.12", "is the subnet's node address"),
        ("10.77.0.1", "is the subnet's gateway"),
        ("10.77.0.245", "is inside the MetalLB range 10.77.0.240-10.77.0.250"),
    ],
)
def test_bad_api_vips_are_named(vip, expected):
    problems = api_vip_problems(vip, "10.77.0.0/24", NODES, "10.77.0.240-10.77.0.250", "10.77.0.1")
    assert any(expected in p for p in problems), problems


def test_firewall_opens_the_cluster_ports_to_the_nodes_only():
    rules = firewall_rules(["10.77.0.11", "10.77.0.12"], ["10.77.0.0/24"], ["80/tcp", "443/tcp", "8081"])
    cluster = [r for r in rules if r["from_ip"] in ("10.77.0.11", "10.77.0.12")]
    assert {(r["from_ip"], r["proto"]) for r in cluster} == {
        ("10.77.0.11", "tcp"),
        ("10.77.0.11", "udp"),
        ("10.77.0.12", "tcp"),
        ("10.77.0.12", "udp"),
    }
    for port in ("19001", "25000", "10250", "10255", "12379", "16443"):
        assert all(port in r["port"].split(",") for r in cluster if r["proto"] == "tcp"), port
        assert not any(port in r["port"].split(",") for r in rules if r["from_ip"] == "any"), port
    assert [r for r in rules if r["from_ip"] == "10.77.0.0/24"] == [
        {"rule": "allow", "proto": "tcp", "port": "16443", "from_ip": "10.77.0.0/24", "comment": "onprem.microk8s api"}
    ]
    assert {(r["port"], r["proto"]) for r in rules if r["from_ip"] == "any"} == {
        ("80", "tcp"),
        ("443", "tcp"),
        ("8081", "tcp"),
    }


@pytest.mark.parametrize("port", ["80/icmp", "http", "19001/tcp;rm"])
def test_firewall_refuses_bad_ports(port):
    with pytest.raises(ValueError):
        firewall_rules(["10.77.0.11"], [], [port])
