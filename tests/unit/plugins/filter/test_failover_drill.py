# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.failover_drill import NO_APP_POD, failover_drill_victim

CANDIDATES = ["node%d" % i for i in range(1, 5)]
ADDRESSES = {"node%d" % i: "10.77.0.1%d" % i for i in range(1, 5)}
NODES = [{"name": "node%d" % i, "ip": "10.77.0.1%d" % i} for i in range(1, 5)]
# After a first drill: node1 came back as a standby, node4 was promoted.
VOTERS = ("10.77.0.12:19001", "10.77.0.13:19001", "10.77.0.14:19001")


def _choose(leases, app_nodes, voters=VOTERS, nodes=None):
    nodes = NODES if nodes is None else nodes
    return failover_drill_victim(CANDIDATES, ADDRESSES, nodes, list(voters), leases, app_nodes)


def test_the_voter_holding_the_leases_and_app_pods_is_chosen_not_the_first_master():
    leases = {"kube-controller-manager": "node3_5f0c", "kube-scheduler": "node3_77aa"}
    chosen = _choose(leases, ["node1", "node2", "node3"])
    assert chosen["host"] == "node3"
    assert chosen["reasons"] == ["datastore voter", "holds the kube-controller-manager and kube-scheduler leases",
                                 "1 app pod"]  # fmt: skip
    assert chosen["score"] == [1, 2, 1, 1]
    assert chosen["app_pods"] == 1


def test_the_integrated_tuned_run_a_lease_holder_without_an_app_pod_loses_to_a_voter_with_one():
    """2026-12-01: node2 held a voter and both leases but no hello pod; the old sum (3 against 2) cut node2 and the
    replacement-pods target was not measured."""
    leases = {"kube-controller-manager": "node2_5f0c", "kube-scheduler": "node2_77aa"}
    chosen = _choose(leases, ["node1", "node3", "node4"])
    assert chosen["host"] == "node3"  # voter + 1 app pod, first of node3/node4 in the inventory
    assert chosen["reasons"] == ["datastore voter", "1 app pod"]


@pytest.mark.parametrize(
    ("leases", "voters", "app_nodes"),
    [
        # a standby with one pod against a voter holding both leases with none
        ({"kube-controller-manager": "node2", "kube-scheduler": "node2"}, VOTERS, ["node1"]),
        # the first candidate holds everything but a pod; the last one only a pod, and is no voter
        (
            {"kube-controller-manager": "node1", "kube-scheduler": "node1"},
            ["10.77.0.11:19001", "10.77.0.12:19001", "10.77.0.13:19001"],
            ["node4"],
        ),
    ],
)
def test_a_node_with_an_app_pod_always_wins_over_one_without(leases, voters, app_nodes):
    chosen = _choose(leases, app_nodes, voters=voters)
    assert chosen["host"] == app_nodes[0]
    assert chosen["app_pods"] == 1
    assert NO_APP_POD not in chosen["reasons"]


def test_among_nodes_with_app_pods_the_lease_holder_wins_then_the_voter():
    # node1: standby, 2 pods; node2: voter + controller lease + 1 pod; node3: voter + 1 pod
    leases = {"kube-controller-manager": "node2"}  # the lab's double names the holder without a suffix
    chosen = _choose(leases, ["node1", "node1", "node2", "node3"])
    assert chosen["host"] == "node2" and chosen["score"] == [1, 1, 1, 1]
    # no lease anywhere: the voter with a pod beats the standby with two
    chosen = _choose({}, ["node1", "node1", "node3"])
    assert chosen["host"] == "node3" and chosen["score"] == [1, 0, 1, 1]


def test_more_app_pods_break_the_last_tie():
    chosen = _choose({}, ["node2", "node3", "node3"])
    assert chosen["host"] == "node3" and chosen["reasons"] == ["datastore voter", "2 app pods"]


def test_no_app_pod_anywhere_falls_back_to_leases_and_voters_and_says_so():
    chosen = _choose({"kube-scheduler": "node4_1"}, [])
    assert chosen["host"] == "node4"
    assert chosen["reasons"] == ["datastore voter", "holds the kube-scheduler lease", NO_APP_POD]
    assert chosen["app_pods"] == 0


def test_ties_go_to_the_first_candidate_and_names_match_by_address():
    nodes = [{"name": "pc-%d" % i, "ip": "10.77.0.1%d" % i} for i in range(1, 5)]
    chosen = _choose({}, [], nodes=nodes)
    assert chosen["host"] == "node2" and chosen["node"] == "pc-2"
    assert chosen["reasons"] == ["datastore voter", NO_APP_POD]


def test_nothing_matches():
    chosen = _choose({}, [], nodes=[])
    assert chosen == {"host": "", "node": "", "score": [0, 0, 0, 0], "app_pods": 0, "reasons": []}
