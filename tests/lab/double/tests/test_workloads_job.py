# SPDX-License-Identifier: GPL-3.0-or-later
"""The Job controller (NonIndexed) and the TTL-after-finished controller: pods up to parallelism and the remaining
completions, back-off after failures, the limit and the deadline, suspend, the conditions per release."""

from __future__ import annotations

import datetime
import random

import pytest
from microk8s_double.controllers import garbage
from microk8s_double.controllers import job as controller
from workload_objects import NOW, World, ago, node, pod, template


@pytest.fixture(autouse=True)
def no_earlier_dues():
    """due() is the earliest over every Job the process saw: start each test from none."""
    controller._due.clear()


def job(completions: int | None = 1, parallelism: int = 1, **spec) -> dict:
    body = {"parallelism": parallelism, "backoffLimit": 6, "template": template(restartPolicy="Never")}
    if completions is not None:
        body["completions"] = completions
    return {"metadata": {"name": "pi", "namespace": "default", "uid": "uid-pi", "generation": 1},
            "spec": dict(body, **spec), "status": {}}  # fmt: skip


def worker(owner: dict, name: str, phase: str = "Running", finished: float | None = None) -> dict:
    made = pod(name, dict(owner, kind="Job"), "n1", ready=phase == "Running", status={"phase": phase})
    if finished is not None:
        made["status"]["containerStatuses"] = [{"state": {"terminated": {"finishedAt": ago(finished)}}}]
    return made


def created(actions) -> list[dict]:
    return [a.body for a in actions if a.verb == "create"]


def status_of(actions) -> dict:
    return next(a.body["status"] for a in actions if a.verb == "status")


def test_a_job_starts_its_pods_from_the_template_with_an_owner():
    made = created(controller.reconcile(job(completions=5, parallelism=2), [], NOW, rng=random.Random(1)))
    assert len(made) == 2
    assert all(p["metadata"]["generateName"] == "pi-" and len(p["metadata"]["name"]) == len("pi-") + 5 for p in made)
    owner = made[0]["metadata"]["ownerReferences"][0]
    assert (owner["apiVersion"], owner["kind"], owner["uid"]) == ("batch/v1", "Job", "uid-pi")
    assert made[0]["spec"]["restartPolicy"] == "Never"


def test_running_pods_are_kept_to_the_remaining_completions():
    owner = job(completions=3, parallelism=3)
    pods = [worker(owner, "a", "Succeeded", 30), worker(owner, "b", "Succeeded", 20), worker(owner, "c")]
    assert created(controller.reconcile(owner, pods, NOW)) == []  # 1 left, 1 running
    status = status_of(controller.reconcile(owner, pods, NOW, minor=32))
    assert (status["active"], status["succeeded"], status["ready"], status["terminating"]) == (1, 2, 1, 0)


def test_a_job_completes_with_the_conditions_of_its_release():
    owner = job()
    done = [worker(owner, "a", "Succeeded", 5)]
    new = status_of(controller.reconcile(owner, done, NOW, minor=32))
    assert [(c["type"], c.get("reason")) for c in new["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]  # fmt: skip
    assert new["completionTime"] == new["conditions"][-1]["lastTransitionTime"]
    assert "active" not in new  # zero counts are omitted
    old = status_of(controller.reconcile(owner, done, NOW, minor=28))
    assert [(c["type"], c.get("reason")) for c in old["conditions"]] == [("Complete", None)]
    assert "terminating" not in status_of(controller.reconcile(owner, done, NOW, minor=28))


def test_a_work_queue_completes_once_a_pod_succeeded_and_none_runs():
    owner = job(completions=None, parallelism=2)
    pods = [worker(owner, "a", "Succeeded", 5), worker(owner, "b")]
    assert not status_of(controller.reconcile(owner, pods, NOW)).get("conditions")
    pods[1] = worker(owner, "b", "Succeeded", 1)
    assert status_of(controller.reconcile(owner, pods, NOW))["conditions"][-1]["type"] == "Complete"


def test_the_next_pod_waits_out_the_failure_back_off():
    owner = job()
    failed = [worker(owner, "a", "Failed", 5)]  # first failure: 10 s
    assert created(controller.reconcile(owner, failed, NOW)) == []
    assert controller.due() == (NOW + datetime.timedelta(seconds=5)).timestamp()
    failed = [worker(owner, "a", "Failed", 11)]
    assert len(created(controller.reconcile(owner, failed, NOW))) == 1
    twice = [worker(owner, "a", "Failed", 40), worker(owner, "b", "Failed", 15)]  # second failure: 20 s
    assert created(controller.reconcile(owner, twice, NOW)) == []


def test_past_the_backoff_limit_or_the_deadline_the_job_fails_and_its_pods_go():
    owner = job(backoffLimit=1, parallelism=2, completions=4)
    pods = [worker(owner, "a", "Failed", 60), worker(owner, "b", "Failed", 50), worker(owner, "c")]
    actions = controller.reconcile(owner, pods, NOW, minor=32)
    assert [a.name for a in actions if a.verb == "delete"] == ["c"] and created(actions) == []
    status = status_of(actions)
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]  # fmt: skip
    late = job(activeDeadlineSeconds=30)
    late["status"] = {"startTime": ago(31)}
    status = status_of(controller.reconcile(late, [worker(late, "a")], NOW, minor=30))
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [("Failed", "DeadlineExceeded")]


def test_a_suspended_job_deletes_its_pods_and_resumes():
    owner = job(suspend=True)
    actions = controller.reconcile(owner, [worker(owner, "a")], NOW)
    assert [a.name for a in actions if a.verb == "delete"] == ["a"]
    owner["status"] = status_of(actions)
    assert owner["status"]["conditions"][0]["type"] == "Suspended" and "active" not in owner["status"]
    owner["spec"]["suspend"] = False
    actions = controller.reconcile(owner, [], NOW)
    assert len(created(actions)) == 1
    assert status_of(actions)["conditions"][0]["status"] == "False"


def test_a_finished_job_past_its_ttl_is_deleted_and_its_pods_collected():
    owner = job(ttlSecondsAfterFinished=60)
    world = World(jobs=[owner], pods=[worker(owner, "a", "Succeeded", 5)])
    world.apply(controller.reconcile(owner, world.objects["pods"], NOW))
    finished = world.find("jobs", "pi")
    assert controller.expired([finished], NOW) == []
    assert controller.due() == NOW.timestamp() + 60
    later = NOW + datetime.timedelta(seconds=61)
    assert [a.name for a in controller.expired([finished], later)] == ["pi"]
    leftovers = garbage.collect([], [], world.objects["pods"], [node("n1")], jobs=[])
    assert [a.name for a in leftovers] == ["a"]


def test_no_wake_up_is_kept_in_the_past_or_for_a_job_that_is_gone():
    owner = job(ttlSecondsAfterFinished=60)
    done = [worker(owner, "a", "Succeeded", 5)]
    owner["status"] = status_of(controller.reconcile(owner, done, NOW))
    assert controller.due() == NOW.timestamp() + 60
    controller.reconcile(owner, done, NOW + datetime.timedelta(seconds=61))  # expired: its deletion wakes kubelite
    assert controller.due() is None  # kubelite would otherwise loop without waiting
    controller.reconcile(owner, done, NOW)
    controller.keep_only(set())  # the Job was deleted
    assert controller.due() is None


def test_kubelite_wakes_for_a_running_jobs_deadline():
    owner = job(activeDeadlineSeconds=30)
    owner["status"] = {"startTime": ago(10)}
    controller.reconcile(owner, [worker(owner, "a")], NOW)
    assert controller.due() == NOW.timestamp() + 20
