# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pathlib

import pytest
import yaml
from labkit import plan

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_default_is_every_node_a_master_plus_the_client():
    lab = plan.machines(4)
    assert [(m.name, str(m.address), m.group) for m in lab] == [
        ("node1", "10.77.0.11", "masters"),
        ("node2", "10.77.0.12", "masters"),
        ("node3", "10.77.0.13", "masters"),
        ("node4", "10.77.0.14", "masters"),
        ("client1", "10.77.0.200", "clients"),
    ]


@pytest.mark.parametrize(("masters", "workers"), [(3, None), (None, 1), (3, 1)])
def test_split_masters_first_then_workers(masters, workers):
    groups = [m.group for m in plan.machines(4, masters, workers)]
    assert groups == ["masters", "masters", "masters", "workers", "clients"]


@pytest.mark.parametrize(
    ("nodes", "masters", "workers"), [(0, None, None), (17, None, None), (4, 0, None), (4, 5, None), (4, 2, 1)]
)
def test_impossible_plans_are_refused(nodes, masters, workers):
    with pytest.raises(ValueError, match="--"):
        plan.machines(nodes, masters, workers)


def test_addresses_are_unique_on_the_bridge_and_outside_the_metallb_range():
    lab = plan.machines(plan.MAX_NODES)
    addresses = [m.address for m in lab]
    first, last = plan.METALLB_RANGE
    assert len(set(addresses)) == len(addresses) == plan.MAX_NODES + 1
    for address in addresses:
        assert address in plan.NETWORK
        assert address != plan.GATEWAY
        assert not first <= address <= last


def test_metallb_range_matches_the_committed_group_vars():
    group_vars = yaml.safe_load((REPO / "inventories/lab/group_vars/all.yml").read_text())
    first, last = plan.METALLB_RANGE
    assert group_vars["ha_join_metallb_range"] == f"{first}-{last}"
