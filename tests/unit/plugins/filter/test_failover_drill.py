# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from ansible_collections.onprem.microk8s.plugins.filter.failover_drill import failover_drill_victim

CANDIDATES = ["node%d" % i for i in range(1, 5)]
ADDRESSES = {"node%d" % i: "10.77.0.1%d" % i for i in range(1, 5)}
NODES = [{"name": "node%d" % i, "ip": "10.77.0.1%d" % i} for i in range(1, 5)]
# After a first drill: node1 came back as a standby, node4 was promoted.
VOTERS = ["10.77.0.12:19001", "10.77.0.13:19001", "10.77.0.14:19001"]


def test_the_voter_holding_the_leases_and_app_pods_is_chosen_not_the_first_master():
    leases = {"kube-controller-manager": "node3_5f0c", "kube-scheduler": "node3_77aa"}
    chosen = failover_drill_victim(CANDIDATES, ADDRESSES, NODES, VOTERS, leases, ["node1", "node2", "node3"])
    assert chosen["host"] == "node3"
    assert chosen["reasons"] == ["datastore voter", "holds the kube-controller-manager and kube-scheduler leases",
                                 "1 app pod"]  # fmt: skip
    assert chosen["score"] == 4


def test_a_standby_with_more_app_pods_loses_to_a_voter_with_a_lease():
    leases = {"kube-controller-manager": "node2"}  # the lab's double names the holder without a suffix
    chosen = failover_drill_victim(CANDIDATES, ADDRESSES, NODES, VOTERS, leases, ["node1", "node1", "node2"])
    assert chosen["host"] == "node2" and chosen["score"] == 3


def test_ties_go_to_the_first_candidate_and_names_match_by_address():
    nodes = [{"name": "pc-%d" % i, "ip": "10.77.0.1%d" % i} for i in range(1, 5)]
    chosen = failover_drill_victim(CANDIDATES, ADDRESSES, nodes, VOTERS, {}, [])
    assert chosen["host"] == "node2" and chosen["node"] == "pc-2" and chosen["reasons"] == ["datastore voter"]


def test_nothing_matches():
    chosen = failover_drill_victim(CANDIDATES, ADDRESSES, [], VOTERS, {}, [])
    assert chosen == {"host": "", "node": "", "score": 0, "reasons": []}
