# SPDX-License-Identifier: GPL-3.0-or-later
"""Node lifecycle for pods: not ready at once when a node goes silent, evicted after the timeout, garbage."""

from __future__ import annotations

from microk8s_double.controllers import garbage, nodelifecycle
from workload_objects import NOW, node, pod

RS = {"metadata": {"name": "hello-abc", "uid": "uid-rs"}}
GRACE, TIMEOUT = 40, 300


def verbs(actions) -> list[tuple[str, str]]:
    return [(a.verb, a.name) for a in actions]


def test_pods_on_a_live_node_are_left_alone():
    assert nodelifecycle.reconcile([node("n1", beat_age=10)], [pod("p", RS, "n1")], NOW, GRACE, TIMEOUT) == []


def test_pods_on_a_silent_node_turn_not_ready_then_are_evicted():
    silent = node("n1", beat_age=GRACE + 10)
    actions = nodelifecycle.reconcile([silent], [pod("p", RS, "n1")], NOW, GRACE, TIMEOUT)
    assert verbs(actions) == [("status", "p")]
    ready = next(c for c in actions[0].body["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    gone = node("n1", beat_age=GRACE + TIMEOUT + 1)
    actions = nodelifecycle.reconcile([gone], [pod("p", RS, "n1")], NOW, GRACE, TIMEOUT)
    assert verbs(actions) == [("status", "p"), ("delete", "p")]
    assert actions[0].body["status"] == {
        "reason": "NodeLost",
        "message": "Node n1 which was running pod p is unresponsive",
    }


def test_pods_already_terminating_are_not_evicted_again():
    gone = node("n1", beat_age=GRACE + TIMEOUT + 1)
    leaving = pod("p", RS, "n1", metadata={"deletionTimestamp": "2026-01-01T11:00:00Z"})
    assert nodelifecycle.reconcile([gone], [leaving], NOW, GRACE, TIMEOUT) == []


def test_a_pod_toleration_sets_its_own_eviction_time():
    gone = node("n1", beat_age=GRACE + 30)
    quick = pod("quick", RS, "n1", ready=False)
    quick["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 20}]  # fmt: skip
    forever = pod("forever", RS, "n1", ready=False)
    forever["spec"]["tolerations"] = [{"operator": "Exists"}]
    actions = nodelifecycle.reconcile([gone], [quick, forever], NOW, GRACE, TIMEOUT)
    assert verbs(actions) == [("status", "quick"), ("delete", "quick")]


def replica_set(name: str, owner_uid: str) -> dict:
    owner = [{"kind": "Deployment", "uid": owner_uid, "controller": True}]
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "ownerReferences": owner}}


def test_garbage_owned_by_deleted_owners_and_pods_on_deleted_nodes():
    deployment = {"metadata": {"name": "d", "uid": "uid-d"}}
    live_rs = replica_set("live", "uid-d")
    orphan_rs = replica_set("orphan", "uid-x")
    pods = [pod("kept", live_rs, "n1"), pod("orphaned", orphan_rs, "n1"), pod("lost", live_rs, "gone-node"),
            pod("bare", None, "n1")]  # fmt: skip
    actions = garbage.collect([deployment], [live_rs, orphan_rs], pods, [node("n1")])
    assert verbs(actions) == [("delete", "orphan"), ("delete", "orphaned"), ("delete", "lost")]
    assert actions[-1].body["gracePeriodSeconds"] == 0
