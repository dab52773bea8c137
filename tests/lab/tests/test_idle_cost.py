# SPDX-License-Identifier: GPL-3.0-or-later
"""idle_cost.py's whole-container figure (make bench's idle cost): a lab container's CPU from its cgroup, on cgroup
v2 and on v1's cpuacct, and nothing (not a zero) where LXD has no such group."""

from __future__ import annotations

import idle_cost


def test_a_containers_cpu_comes_from_its_unified_cgroup(tmp_path):
    group = tmp_path / "lxc.payload.node2"
    group.mkdir()
    (group / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert idle_cost.container_cpu_seconds("node2", tmp_path) == 2.5


def test_a_containers_cpu_comes_from_cpuacct_on_cgroup_v1(tmp_path):
    group = tmp_path / "cpuacct" / "lxc.payload.node3"
    group.mkdir(parents=True)
    (group / "cpuacct.usage").write_text("1750000000\n")
    assert idle_cost.container_cpu_seconds("node3", tmp_path) == 1.75


def test_no_cgroup_gives_no_figure(tmp_path, capsys):
    assert idle_cost.container_cpu_seconds("node9", tmp_path) is None
    idle_cost.report({"node9": {"datastore": 0.3, "kubelite": 0.3}}, 30.0, {})
    out = capsys.readouterr().out
    assert "node9: 2.00 % of a core" in out
    assert "whole node" not in out


def test_the_report_puts_each_whole_node_beside_its_daemons(capsys):
    idle_cost.report({"node1": {"datastore": 0.3}, "node2": {"datastore": 0.6}}, 30.0, {"node1": 0.9, "node2": 1.5})
    out = capsys.readouterr().out
    assert "node1: 1.00 % of a core  (datastore 1.00); whole node 3.00 %" in out
    assert "node2: 2.00 % of a core  (datastore 2.00); whole node 5.00 %" in out
    assert "all 2 node(s): 3.00 % of a core, 1.50 a node (aim < 2)" in out
    assert "8.00 % of a core in all" in out
