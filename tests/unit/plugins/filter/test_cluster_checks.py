# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.cluster_checks import hostname_problems, metallb_range_problems

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
    assert any("not a valid DNS label" in p for p in problems)
