# SPDX-License-Identifier: GPL-3.0-or-later
"""The StatefulSet controller: stable names and claims, one pod at a time in ordinal order (OrderedReady) or all at
once (Parallel), the highest ordinal removed first, rolling updates from the top down to the partition."""

from __future__ import annotations

import copy

from microk8s_double.controllers import garbage
from microk8s_double.controllers import statefulset as controller
from workload_objects import NOW, World, node, pod, template


def stateful_set(replicas: int = 3, claims: bool = True, **spec) -> dict:
    claim = {
        "metadata": {"name": "data", "labels": {"tier": "db"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    body = {
        "replicas": replicas,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "hello"}},
        "template": template(volumes=[{"name": "data", "emptyDir": {}}, {"name": "conf", "emptyDir": {}}]),
    }
    if claims:
        body["volumeClaimTemplates"] = [claim]
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web", "generation": 1},
        "spec": dict(body, **spec),
        "status": {"replicas": 0},
    }


def member(sts: dict, ordinal: int, ready: bool = True, revision: str | None = None, **extra) -> dict:
    made = pod(f"web-{ordinal}", dict(sts, kind="StatefulSet"), "n1", ready=ready, **extra)
    made["metadata"]["labels"][controller.REVISION_LABEL] = revision or controller.update_revision(sts)
    return made


def created(actions, resource: str = "pods") -> list[str]:
    return [a.body["metadata"]["name"] for a in actions if a.verb == "create" and a.resource == resource]


def deleted(actions) -> list[str]:
    return [a.name for a in actions if a.verb == "delete"]


def test_the_first_pod_comes_with_its_claim_a_stable_name_and_the_sets_labels():
    sts = stateful_set()
    actions = controller.reconcile(sts, [], [], NOW, minor=32)
    assert created(actions, "persistentvolumeclaims") == ["data-web-0"] and created(actions) == ["web-0"]
    assert [a.resource for a in actions if a.verb == "create"] == ["persistentvolumeclaims", "pods"]  # claim first
    claim = next(a.body for a in actions if a.resource == "persistentvolumeclaims")
    assert claim["metadata"]["labels"] == {"tier": "db", "app": "hello"}
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    made = next(a.body for a in actions if a.resource == "pods")
    labels = made["metadata"]["labels"]
    assert labels[controller.POD_NAME_LABEL] == "web-0" and labels[controller.POD_INDEX_LABEL] == "0"
    assert labels[controller.REVISION_LABEL] == controller.update_revision(sts) and labels["app"] == "hello"
    assert (made["spec"]["hostname"], made["spec"]["subdomain"]) == ("web-0", "web")
    assert made["spec"]["volumes"] == [
        {"name": "conf", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
    ]
    owner = made["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("StatefulSet", "uid-web", True)


def test_the_pod_index_label_comes_with_1_28():
    made = controller.new_pod(stateful_set(), 2, "web-abc", minor=27)
    assert controller.POD_INDEX_LABEL not in made["metadata"]["labels"]


def test_ordered_ready_waits_for_each_pod_before_the_next():
    sts = stateful_set()
    assert created(controller.reconcile(sts, [member(sts, 0, ready=False)], [], NOW)) == []
    assert created(controller.reconcile(sts, [member(sts, 0)], [], NOW)) == ["web-1"]
    assert created(controller.reconcile(sts, [member(sts, 0), member(sts, 1)], [], NOW)) == ["web-2"]


def test_parallel_creates_every_missing_pod_at_once():
    sts = stateful_set(podManagementPolicy="Parallel")
    actions = controller.reconcile(sts, [member(sts, 1, ready=False)], [], NOW)
    assert created(actions) == ["web-0", "web-2"]
    assert created(actions, "persistentvolumeclaims") == ["data-web-0", "data-web-2"]


def test_an_existing_claim_is_used_as_it_is():
    sts = stateful_set()
    kept = {"metadata": {"name": "data-web-0", "namespace": "default"}, "spec": {}}
    assert created(controller.reconcile(sts, [], [kept], NOW), "persistentvolumeclaims") == []


def test_scaling_down_removes_the_highest_ordinal_first_one_at_a_time_and_keeps_claims():
    sts = stateful_set(replicas=1)
    pods = [member(sts, 0), member(sts, 1), member(sts, 2)]
    actions = controller.reconcile(sts, pods, [], NOW)
    assert deleted(actions) == ["web-2"]
    assert all(a.resource == "pods" for a in actions if a.verb == "delete")
    pods[2]["metadata"]["deletionTimestamp"] = "2026-01-01T11:59:59Z"
    assert deleted(controller.reconcile(sts, pods, [], NOW)) == []  # waits for web-2 to go
    parallel = stateful_set(replicas=1, podManagementPolicy="Parallel")
    assert deleted(controller.reconcile(parallel, [member(parallel, i) for i in range(3)], [], NOW)) == [
        "web-2",
        "web-1",
    ]


def test_a_failed_pod_is_deleted_and_recreated_under_the_same_name():
    sts = stateful_set(replicas=1)
    world = World(pods=[member(sts, 0, status={"phase": "Failed"})], statefulsets=[sts])
    world.apply(controller.reconcile(world.find("statefulsets", "web"), world.objects["pods"], [], NOW))
    assert world.objects["pods"] == []
    world.apply(controller.reconcile(world.find("statefulsets", "web"), world.objects["pods"], [], NOW))
    assert [p["metadata"]["name"] for p in world.objects["pods"]] == ["web-0"]


def test_a_rolling_update_replaces_pods_from_the_top_once_all_are_ready_down_to_the_partition():
    old = stateful_set()
    pods = [member(old, i) for i in range(3)]
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "hello:v2"
    assert controller.update_revision(new) != controller.update_revision(old)
    assert deleted(controller.reconcile(new, pods, [], NOW)) == ["web-2"]
    pods[2] = member(new, 2, ready=False)
    assert deleted(controller.reconcile(new, pods, [], NOW)) == []  # the new web-2 is not ready yet
    pods[2] = member(new, 2)
    assert deleted(controller.reconcile(new, pods, [], NOW)) == ["web-1"]
    new["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    assert deleted(controller.reconcile(new, pods, [], NOW)) == []
    new["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert deleted(controller.reconcile(new, [member(old, i) for i in range(3)], [], NOW)) == []


def test_status_counts_pods_and_moves_the_current_revision_once_the_update_is_done():
    old = stateful_set(replicas=2)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "hello:v2"
    first, second = controller.update_revision(old), controller.update_revision(new)
    new["status"] = {"replicas": 2, "currentRevision": first}
    status = controller.status(new, {0: member(old, 0), 1: member(new, 1, ready=False)}, second, NOW)
    assert status == {
        "replicas": 2,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "updatedReplicas": 1,
        "currentReplicas": 1,
        "observedGeneration": 1,
        "currentRevision": first,
        "updateRevision": second,
        "collisionCount": 0,
    }
    status = controller.status(new, {0: member(new, 0), 1: member(new, 1)}, second, NOW)
    assert (status["currentRevision"], status["currentReplicas"], status["readyReplicas"]) == (second, 2, 2)


def test_a_set_reaches_its_replicas_in_order_over_rounds():
    sts = stateful_set(replicas=3, claims=False)
    world = World(pods=[], statefulsets=[sts])
    order = []
    for _round in range(6):
        actions = controller.reconcile(world.find("statefulsets", "web"), world.objects["pods"], [], NOW)
        order += created(actions)
        world.apply(actions)
        for made in world.objects["pods"]:  # every kubelet starts its pod at once
            made.setdefault("status", {}).update(
                phase="Running",
                conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T11:00:00Z"}],
            )
    assert order == ["web-0", "web-1", "web-2"]


def test_pods_of_a_deleted_set_are_collected_and_those_of_a_live_set_kept():
    sts = stateful_set()
    pods = [member(sts, 0)]
    assert deleted(garbage.collect([], [], pods, [node("n1")], stateful_sets=[])) == ["web-0"]
    assert deleted(garbage.collect([], [], pods, [node("n1")], stateful_sets=[sts])) == []
