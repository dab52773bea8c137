# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from labkit import nodes, plan


def test_node_knows_only_itself():
    node2 = plan.machines(4)[1]
    hosts = nodes.hosts_file(node2)
    assert "10.77.0.12\tnode2\n" in hosts
    assert not any(f"node{k}" in hosts for k in (1, 3, 4))
    assert "client1" not in hosts


def test_static_address_with_the_host_as_gateway():
    config = nodes.networkd_config(plan.machines(3)[2])
    assert "Name=eth0\n" in config
    assert "Address=10.77.0.13/24\n" in config
    assert f"Gateway={plan.GATEWAY}\n" in config


def test_identity_files_name_the_machine():
    client = plan.machines(1)[-1]
    files = nodes.identity_files(client)
    assert files["/etc/hostname"] == "client1\n"
    assert "10.77.0.200/24" in files["/etc/systemd/network/10-eth0.network"]
