# SPDX-License-Identifier: GPL-3.0-or-later
"""The Deployment controller: ReplicaSet per template, RollingUpdate and Recreate, scaling, status, history."""

from __future__ import annotations

import datetime

from microk8s_double.controllers import deployment as controller
from microk8s_double.controllers.podutil import NAME_ALPHABET
from microk8s_double.controllers.podutil import condition as object_condition
from workload_objects import NOW, World, deployment


def condition(status: dict, kind: str) -> dict:
    return object_condition({"status": status}, kind)


def settle_replica_sets(world: World) -> None:
    """What the ReplicaSet controller and kubelets do, instantly: every RS has its pods, all available."""
    for rs in world.objects.get("replicasets", []):
        count = rs["spec"]["replicas"]
        rs["status"] = {"replicas": count, "readyReplicas": count, "availableReplicas": count, "observedGeneration": 1}


def test_a_new_deployment_gets_one_replicaset_with_the_template_hash():
    world = World(deployments=[deployment(replicas=3)])
    actions = controller.reconcile(world.find("deployments", "hello"), [], [], NOW)
    created = [a for a in actions if a.verb == "create"]
    assert len(created) == 1
    rs = created[0].body
    pod_hash = rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"hello-{pod_hash}"
    assert set(pod_hash) <= set(NAME_ALPHABET)
    assert rs["spec"]["replicas"] == 3
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "hello", "pod-template-hash": pod_hash}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "uid-hello"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = next(a for a in actions if a.verb == "status").body["status"]
    assert condition(status, "Progressing")["reason"] == "NewReplicaSetCreated"
    assert condition(status, "Available")["status"] == "False"


def test_the_template_hash_follows_the_template():
    first = controller.template_hash(deployment(image="a:1")["spec"]["template"])
    assert first == controller.template_hash(deployment(image="a:1")["spec"]["template"])
    assert first != controller.template_hash(deployment(image="a:2")["spec"]["template"])


def run_rounds(world: World, rounds: int = 20, check=None) -> None:
    for _round in range(rounds):
        dep = world.find("deployments", "hello")
        world.apply(controller.reconcile(dep, world.objects.get("replicasets", []), [], NOW))
        settle_replica_sets(world)
        if check:
            check(world)


def test_rolling_update_keeps_availability_and_surge_within_bounds():
    world = World(deployments=[deployment(replicas=4)])
    run_rounds(world)
    old = world.objects["replicasets"][0]["metadata"]["name"]
    world.find("deployments", "hello")["spec"]["template"] = deployment(image="hello:v2")["spec"]["template"]
    world.find("deployments", "hello")["metadata"]["generation"] = 2
    seen = []

    def bounds(state: World) -> None:
        sets = state.objects["replicasets"]
        total = sum(rs["spec"]["replicas"] for rs in sets)
        available = sum(rs["status"]["availableReplicas"] for rs in sets)
        seen.append(total)
        assert total <= 4 + 1  # maxSurge 25% of 4
        assert available >= 4 - 1  # maxUnavailable 25% of 4

    run_rounds(world, check=bounds)
    sets = {rs["metadata"]["name"]: rs for rs in world.objects["replicasets"]}
    new = next(name for name in sets if name != old)
    assert sets[new]["spec"]["replicas"] == 4
    assert sets[old]["spec"]["replicas"] == 0
    assert sets[new]["spec"]["template"]["spec"]["containers"][0]["image"] == "hello:v2"
    assert sets[new]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert 5 in seen  # it did surge
    status = world.find("deployments", "hello")["status"]
    assert status["updatedReplicas"] == 4 and status["availableReplicas"] == 4
    assert condition(status, "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_recreate_scales_old_down_and_waits_for_its_pods_before_creating_new():
    world = World(deployments=[deployment(replicas=2, strategy={"type": "Recreate"})])
    run_rounds(world, rounds=3)
    old = world.objects["replicasets"][0]
    world.find("deployments", "hello")["spec"]["template"] = deployment(image="hello:v2")["spec"]["template"]
    dep = world.find("deployments", "hello")
    actions = controller.reconcile(dep, world.objects["replicasets"], [], NOW)
    assert [(a.verb, a.name, a.body["spec"]["replicas"]) for a in actions if a.verb == "patch"] == [
        ("patch", old["metadata"]["name"], 0)
    ]
    world.apply(actions)
    old_pod = {"metadata": {"name": "p", "ownerReferences": [{"uid": old["metadata"]["uid"], "controller": True}]},
               "status": {"phase": "Running"}}  # fmt: skip
    waiting = controller.reconcile(dep, world.objects["replicasets"], [old_pod], NOW)
    assert not [a for a in waiting if a.verb == "create"]
    created = controller.reconcile(dep, world.objects["replicasets"], [], NOW)
    assert [a.body["spec"]["replicas"] for a in created if a.verb == "create"] == [2]


def test_scaling_changes_the_current_replicaset():
    world = World(deployments=[deployment(replicas=3)])
    run_rounds(world, rounds=3)
    world.find("deployments", "hello")["spec"]["replicas"] = 5
    run_rounds(world, rounds=3)
    assert [rs["spec"]["replicas"] for rs in world.objects["replicasets"]] == [5]
    world.find("deployments", "hello")["spec"]["replicas"] = 1
    run_rounds(world, rounds=3)
    assert [rs["spec"]["replicas"] for rs in world.objects["replicasets"]] == [1]
    assert world.find("deployments", "hello")["status"]["replicas"] == 1


def test_a_settled_deployment_needs_no_more_writes():
    world = World(deployments=[deployment(replicas=2)])
    run_rounds(world, rounds=5)
    dep = world.find("deployments", "hello")
    assert controller.reconcile(dep, world.objects["replicasets"], [], NOW) == []
    assert condition(dep["status"], "Available")["reason"] == "MinimumReplicasAvailable"


def test_no_progress_past_the_deadline_is_reported():
    world = World(deployments=[deployment(replicas=1, progressDeadlineSeconds=60)])
    dep = world.find("deployments", "hello")
    world.apply(controller.reconcile(dep, [], [], NOW))  # created, its pod never becomes available
    later = NOW + datetime.timedelta(seconds=5)
    world.apply(controller.reconcile(dep, world.objects["replicasets"], [], later))
    assert condition(dep["status"], "Progressing")["reason"] == "ReplicaSetUpdated"
    stuck = NOW + datetime.timedelta(seconds=120)
    world.apply(controller.reconcile(dep, world.objects["replicasets"], [], stuck))
    progressing = condition(dep["status"], "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_old_replicasets_beyond_the_history_limit_are_deleted():
    world = World(deployments=[deployment(replicas=1, revisionHistoryLimit=1)])
    for version in ("v1", "v2", "v3"):
        world.find("deployments", "hello")["spec"]["template"] = deployment(image=f"hello:{version}")["spec"][
            "template"
        ]
        run_rounds(world, rounds=8)
    images = sorted(rs["spec"]["template"]["spec"]["containers"][0]["image"] for rs in world.objects["replicasets"])
    assert images == ["hello:v2", "hello:v3"]


def test_a_paused_deployment_is_not_rolled_out():
    dep = deployment(replicas=2, paused=True)
    assert not [a for a in controller.reconcile(dep, [], [], NOW) if a.resource == "replicasets"]
