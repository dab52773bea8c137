# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
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


def _pushes(monkeypatch, failures):
    """Calls of lxc file push, the first `failures` answered as LXD answers just after a start."""
    calls = []

    def run(argv, **_kwargs):
        calls.append(argv)
        if len(calls) <= len(failures):
            raise nodes.LabError(f"rc=1: {' '.join(argv)}\n{failures[len(calls) - 1]}")
        return ""

    monkeypatch.setattr(nodes, "run", run)
    monkeypatch.setattr(nodes.time, "sleep", lambda _seconds: None)
    return calls


FORKFILE = "Error: dial unix /proc/self/fd/58/forkfile.sock: connect: no such file or directory"


def test_a_push_is_repeated_while_lxd_file_api_is_not_ready(monkeypatch, tmp_path):
    calls = _pushes(monkeypatch, [FORKFILE, FORKFILE])
    nodes.push_file("node3", tmp_path / "keys", "/home/labadmin/.ssh/authorized_keys", "0600", 1000)
    assert len(calls) == 3 and calls[0] == calls[2]


def test_a_push_gives_up_after_three_tries_and_other_errors_at_once(monkeypatch, tmp_path):
    _pushes(monkeypatch, [FORKFILE] * 3)
    with pytest.raises(nodes.LabError, match="forkfile"):
        nodes.push_file("node3", tmp_path / "keys", "/root/keys")
    calls = _pushes(monkeypatch, ["Error: Not Found"])
    with pytest.raises(nodes.LabError, match="Not Found"):
        nodes.push_file("node3", tmp_path / "keys", "/root/keys")
    assert len(calls) == 1
