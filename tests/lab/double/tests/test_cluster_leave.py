# SPDX-License-Identifier: GPL-3.0-or-later
"""`leave` and `remove-node` against live loopback nodes (contract section 7): what the datastore and the
Kubernetes node list look like afterwards, and the refusals with their texts."""

from __future__ import annotations

import pytest
from cluster_fixtures import clusters, wait_for
from microk8s_double import datastore, kubelite


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def names(node) -> set[str]:
    return {row["name"] for row in kubelite.list_nodes(node.node)}


def test_leave_then_remove_node_takes_a_control_plane_out(make_cluster):
    cluster = make_cluster("1.28")
    cluster.new_node()
    cluster.grow(2)
    first, _second, third = cluster.nodes
    wait_for(lambda: list(first.roles().values()).count("voter") == 3, what="3 voters")
    wait_for(lambda: names(first) == {"node-1", "node-2", "node-3"}, what="3 nodes")
    fingerprint = third.fingerprint()

    assert datastore.leave(third.node) == (0, "")
    wait_for(lambda: third.roles() == {"127.0.0.1:19001": "voter"}, what="a fresh lone node")
    assert third.fingerprint() != fingerprint
    assert not third.paths.lock("no-cert-reissue").exists()
    assert f"{third.ip}:19001" not in first.roles()

    code, text = datastore.remove_node(first.node, "node-3", force=False)
    assert (code, text) == (0, "")
    wait_for(lambda: "node-3" not in names(first), what="node-3 gone")  # its kubelet now posts to its own cluster


def test_remove_node_refuses_a_registered_member_unless_forced(make_cluster):
    cluster = make_cluster("1.28")
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    wait_for(lambda: "node-2" in names(first), what="node-2 registered")
    code, text = datastore.remove_node(first.node, "node-2", force=False)
    assert code == 1
    assert text.splitlines() == [  # remove_node.py, 1.20 -> 1.35: the advice to use --force included
        "Removal failed. Node node-2 is registered with dqlite. Please, run first 'microk8s leave' on the "
        "departing node. ",
        "If the node is not available anymore and will never attempt to join the cluster in the future use the "
        "'--force' flag ",
        "to unregister the node while removing it.",
    ]
    second.kill()  # a dead node is removed with --force, by its address on 1.28+
    assert datastore.remove_node(first.node, second.ip, force=True) == (0, "")
    assert first.roles() == {f"{first.ip}:19001": "voter"}
    assert "node-2" not in names(first)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.20", "Node ghost does not exist in Kubernetes."),
        ("1.28", "Node ghost does not exist in Kubernetes.\nAttempting to remove ghost from dqlite."),
    ],
)
def test_remove_node_of_an_unknown_node(make_cluster, version, expected):
    first = make_cluster(version).new_node()
    assert datastore.remove_node(first.node, "ghost", force=True) == (1, expected)


def test_the_only_copy_of_the_database_cannot_leave(make_cluster):
    cluster = make_cluster("1.28")
    first = cluster.new_node()
    cluster.grow(1)  # two nodes: one voter, one spare
    wait_for(lambda: len(first.roles()) == 2, what="2 members")
    code, text = datastore.leave(first.node)
    assert code == 3
    assert text.splitlines() == [
        "This node currently holds the only copy of the Kubernetes database so it cannot leave the cluster.",
        "To remove this node you can either first remove all other nodes with 'microk8s remove-node' or",
        "form a highly available cluster by adding at least three nodes.",
    ]


def test_a_lone_node_that_leaves_is_wiped(make_cluster):
    """leave.py refuses only the one voter of a cluster with other members; a node alone goes ahead and its
    datastore (every Kubernetes object) is replaced by an empty one."""
    first = make_cluster("1.26").new_node()
    key = "/registry/configmaps/default/precious"
    datastore.execute(first.node, [{"op": "put", "key": key, "value": {"data": {"a": "1"}}}])
    assert datastore.leave(first.node) == (0, "")
    wait_for(lambda: _get(first, key) is None, what="the lone node's data gone")


def _get(node, key):
    try:
        return datastore.execute(node.node, [{"op": "get", "key": key}], timeout=2)[0]
    except datastore.DatastoreError:
        return "unreachable"
