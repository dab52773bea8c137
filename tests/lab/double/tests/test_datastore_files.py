# SPDX-License-Identifier: GPL-3.0-or-later
"""The backend files a datastore write leaves: the state as encoded once (what the leader pushes is what every member
stores), and dqlite's member files rewritten only when the members change."""

from __future__ import annotations

import json

from microk8s_double import replica


def state(index, role=replica.VOTER):
    return {
        "index": index,
        "cluster": "c0ffee",
        "members": [replica.member(7, "10.77.0.11:19001", role), replica.member(8, "10.77.0.12:19001", replica.SPARE)],
        "data": {"/registry/leases/kube-node-lease/node1": {"spec": {"renewTime": f"t{index}"}}},
    }


def test_a_pushed_encoding_is_stored_as_received_and_identifies_the_member(tmp_path):
    pushed = replica.encode(state(5))
    assert replica.save_if_current(tmp_path, state(5), 7, pushed)
    assert (tmp_path / replica.STATE_FILE).read_bytes() == pushed
    assert replica.identity(tmp_path) == (7, "c0ffee")  # the cluster id leads the sorted encoding
    assert replica.load(tmp_path) == (7, json.loads(pushed))


def test_member_files_are_rewritten_only_when_the_members_change(tmp_path):
    replica.save(tmp_path, state(5), 7)
    files = {name: (tmp_path / name).stat().st_ino for name in ("cluster.yaml", "info.yaml")}
    replica.save(tmp_path, state(6), 7)  # a lease renewal: same members
    assert {name: (tmp_path / name).stat().st_ino for name in files} == files
    assert json.loads((tmp_path / replica.STATE_FILE).read_text())["index"] == 6
    replica.save(tmp_path, state(7, role=replica.STANDBY), 7)  # a role change reaches dqlite's files
    assert "Role: 1" in (tmp_path / "info.yaml").read_text()
    assert "Role: 1" in (tmp_path / "cluster.yaml").read_text().split("- Address")[1]
