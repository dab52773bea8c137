# SPDX-License-Identifier: GPL-3.0-or-later
"""The leader runs each request's operations on a working copy of its adopted state: the copy shares the stored
objects (no deep copy of the whole store per request), so nothing an operation does may reach the adopted state."""

from __future__ import annotations

import copy

from microk8s_double import dqlite_server, replica
from microk8s_double.api import store

POD = "/registry/pods/default/hello-1"


def adopted():
    return {
        "index": 7,
        "cluster": "c0ffee",
        "members": [replica.member(1, "127.0.0.1:19001", replica.VOTER)],
        "data": {
            POD: {"metadata": {"name": "hello-1", "resourceVersion": "6"}, "spec": {"nodeName": "node1"}},
            "/registry/services/default/hello": {"metadata": {"name": "hello", "resourceVersion": "5"}},
            "/double/plain": "value",
        },
    }


def test_writes_and_member_changes_on_the_working_copy_leave_the_adopted_state_as_it_was():
    base = adopted()
    before = copy.deepcopy(base)
    state = dqlite_server.working_copy(base)
    changed = {"metadata": {"name": "hello-1", "resourceVersion": "6"}, "spec": {"nodeName": "node2"}}
    assert store.apply(state, {"op": "write", "key": POD, "value": changed, "expect": "6"})["ok"]
    store.apply(state, {"op": "delete", "key": "/registry/services/default/hello"})
    store.apply(state, {"op": "put", "key": "/double/plain", "value": "other"})
    store.apply(state, {"op": "put", "key": "/double/new", "value": {"a": 1}})
    state["members"][0]["Address"] = "10.77.0.11:19001"  # the first join rebinds the bootstrap member in place
    state["index"] += 1
    assert base == before
    assert (
        state["data"][POD]["spec"]["nodeName"] == "node2" and state["data"][POD]["metadata"]["resourceVersion"] == "8"
    )
    assert "/registry/services/default/hello" not in state["data"]


def test_a_read_only_request_leaves_a_working_copy_equal_to_the_adopted_state():
    base = adopted()
    state = dqlite_server.working_copy(base)
    assert store.apply(state, {"op": "get", "key": POD}) == base["data"][POD]
    assert set(store.apply(state, {"op": "list", "prefix": "/registry/"})) == {POD, "/registry/services/default/hello"}
    assert state == base  # so the leader answers without a new log entry
