# SPDX-License-Identifier: GPL-3.0-or-later
"""The ReplicaSet controller: creates and deletes pods to match replicas, in kube-controller-manager's order."""

from __future__ import annotations

import random

from microk8s_double.controllers import replicaset as controller
from workload_objects import NOW, pod, template


def replica_set(replicas: int = 3) -> dict:
    return {
        "metadata": {"name": "hello-abc", "namespace": "default", "uid": "uid-rs", "generation": 2},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "hello"}}, "template": template()},
        "status": {"replicas": 0},
    }


def test_missing_pods_are_created_from_the_template_with_an_owner():
    rs = replica_set(3)
    actions = controller.reconcile(rs, [pod("hello-abc-1", rs, "n1")], NOW, random.Random(1))
    created = [a.body for a in actions if a.verb == "create"]
    assert len(created) == 2
    for body in created:
        assert (
            body["metadata"]["name"].startswith("hello-abc-") and len(body["metadata"]["name"]) == len("hello-abc-") + 5
        )
        assert body["metadata"]["generateName"] == "hello-abc-"
        assert body["metadata"]["labels"] == {"app": "hello"}
        assert (
            body["metadata"]["ownerReferences"][0] | {"uid": "uid-rs", "kind": "ReplicaSet", "controller": True}
            == (body["metadata"]["ownerReferences"][0])
        )
        assert body["spec"]["containers"][0]["image"] == "hello:local"
    assert len({b["metadata"]["name"] for b in created}) == 2


def test_excess_pods_go_unscheduled_first_then_not_ready_then_newest():
    rs = replica_set(1)
    pods = [
        pod("ready-old", rs, "n1"),
        pod("not-ready", rs, "n2", ready=False),
        pod("unscheduled", rs),
        pod("ready-new", rs, "n3", metadata={"creationTimestamp": "2026-01-01T11:59:59Z"}),
    ]
    pods[3]["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-01T11:59:59Z"
    deleted = [a.name for a in controller.reconcile(rs, pods, NOW) if a.verb == "delete"]
    assert deleted == ["unscheduled", "not-ready", "ready-new"]


def test_terminating_and_finished_pods_are_replaced():
    rs = replica_set(2)
    pods = [
        pod("gone", rs, "n1", metadata={"deletionTimestamp": "2026-01-01T11:59:00Z"}),
        pod("failed", rs, "n1", status={"phase": "Failed"}),
        pod("fine", rs, "n2"),
    ]
    actions = controller.reconcile(rs, pods, NOW)
    assert len([a for a in actions if a.verb == "create"]) == 1
    assert not [a for a in actions if a.verb == "delete"]


def test_status_counts_ready_and_available_and_drops_zero_counts():
    rs = replica_set(2)
    rs["status"] = {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 1}
    pods = [pod("a", rs, "n1", ready=False), pod("b", rs, "n2", ready=False)]
    status = next(a for a in controller.reconcile(rs, pods, NOW) if a.verb == "status").body["status"]
    assert status == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "observedGeneration": 2,
        "readyReplicas": None,
        "availableReplicas": None,
    }


def test_min_ready_seconds_delays_availability():
    rs = replica_set(1)
    rs["spec"]["minReadySeconds"] = 120  # the pod has been ready for 60 s
    status = next(a for a in controller.reconcile(rs, [pod("a", rs, "n1")], NOW) if a.verb == "status").body["status"]
    assert status["readyReplicas"] == 1 and "availableReplicas" not in status


def test_a_matching_orphan_is_adopted_instead_of_creating_a_pod():
    rs = replica_set(1)
    actions = controller.reconcile(rs, [pod("orphan", None, "n1")], NOW)
    assert [(a.verb, a.name) for a in actions if a.verb != "status"] == [("patch", "orphan")]
    assert actions[0].body["metadata"]["ownerReferences"][0]["uid"] == "uid-rs"


def test_pods_of_another_owner_are_left_alone():
    rs = replica_set(0)
    other = {"metadata": {"name": "other", "uid": "uid-other"}}
    actions = controller.reconcile(rs, [pod("theirs", other, "n1")], NOW)
    assert not [a for a in actions if a.verb in ("delete", "patch")]
