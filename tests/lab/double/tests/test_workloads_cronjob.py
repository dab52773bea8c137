# SPDX-License-Identifier: GPL-3.0-or-later
"""CronJob schedules (robfig/cron's standard parser) and the CronJob controller: a Job per schedule time, named by
the time, only the latest missed time, the starting deadline, concurrency policies, suspend, history limits."""

from __future__ import annotations

import datetime
import types

import pytest
from microk8s_double import cronschedule
from microk8s_double.controllers import cronjob as controller
from workload_objects import NOW, ago, template

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("*/15 * * * *", "2026-01-01T12:07:00", "2026-01-01T12:15:00"),
        ("0 0 * * 0", "2026-01-01T12:00:00", "2026-01-04T00:00:00"),  # 2026-01-01 is a Thursday
        ("@monthly", "2026-01-31T23:59:00", "2026-02-01T00:00:00"),
        ("30 2 13 * FRI", "2026-01-01T12:00:00", "2026-01-02T02:30:00"),  # day 13 or a Friday
        ("0 9-17/4 * FEB *", "2026-01-01T12:00:00", "2026-02-01T09:00:00"),
        ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("@every 1h30m", "2026-01-01T12:00:00", "2026-01-01T13:30:00"),
    ],
)
def test_the_next_activation(text, after, expected):
    moment = datetime.datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert cronschedule.parse(text).next_after(moment) == datetime.datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every minute", "expected exactly 5 fields, found 2: [every minute]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ],
)
def test_bad_schedules_are_named(text, message):
    with pytest.raises(cronschedule.ScheduleError) as refused:
        cronschedule.parse(text)
    assert str(refused.value) == message


def cronjob(schedule: str = "*/5 * * * *", **spec) -> dict:
    job_template = {"metadata": {"labels": {"app": "backup"}},
                    "spec": {"template": template(restartPolicy="OnFailure")}}  # fmt: skip
    return {"metadata": {"name": "backup", "namespace": "default", "uid": "uid-cj", "creationTimestamp": ago(3600)},
            "spec": dict({"schedule": schedule, "timeZone": "Etc/UTC", "jobTemplate": job_template}, **spec),
            "status": {"lastScheduleTime": ago(400)}}  # fmt: skip


def owned_job(owner: dict, name: str, finished: str | None = None, started: float = 100) -> dict:
    made = {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "creationTimestamp": ago(started),
                         "ownerReferences": [{"kind": "CronJob", "uid": owner["metadata"]["uid"], "controller": True}]},
            "spec": {}, "status": {"startTime": ago(started)}}  # fmt: skip
    if finished:
        made["status"]["conditions"] = [{"type": finished, "status": "True", "lastTransitionTime": ago(started - 10)}]
    return made


def test_the_latest_missed_time_starts_one_job_named_by_its_minute():
    actions, wake = controller.reconcile(cronjob(), [], NOW, minor=32)
    (made,) = [a.body for a in actions if a.verb == "create"]
    scheduled = NOW  # 12:00 is on the */5 schedule; 11:55 was missed too but only the latest runs
    assert made["metadata"]["name"] == f"backup-{int(scheduled.timestamp() // 60)}"
    assert made["metadata"]["annotations"][controller.SCHEDULED_ANNOTATION] == "2026-01-01T12:00:00Z"
    assert made["metadata"]["labels"] == {"app": "backup"}
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert made["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    status = next(a.body["status"] for a in actions if a.verb == "status")
    assert status["lastScheduleTime"] == "2026-01-01T12:00:00Z"
    assert wake == NOW + datetime.timedelta(minutes=5)


def test_nothing_runs_before_the_next_time_when_suspended_or_past_the_starting_deadline():
    current = cronjob()
    current["status"] = {"lastScheduleTime": "2026-01-01T12:00:00Z"}
    assert not [a for a in controller.reconcile(current, [], NOW)[0] if a.verb == "create"]
    for spec in ({"suspend": True}, {"startingDeadlineSeconds": 60}):
        late = cronjob()
        late["spec"].update(spec)
        moment = NOW + datetime.timedelta(seconds=90)  # 90 s after the 12:00 time
        assert not [a for a in controller.reconcile(late, [], moment)[0] if a.verb == "create"], spec


def test_forbid_skips_while_a_job_runs_and_replace_deletes_it_first():
    running = owned_job(cronjob(), "backup-1")
    forbid = cronjob(concurrencyPolicy="Forbid")
    actions, _wake = controller.reconcile(forbid, [running], NOW)
    assert not [a for a in actions if a.verb == "create"]
    status = next(a.body["status"] for a in actions if a.verb == "status")
    assert [ref["name"] for ref in status["active"]] == ["backup-1"]
    replace = cronjob(concurrencyPolicy="Replace")
    verbs = [(a.verb, a.resource) for a in controller.reconcile(replace, [running], NOW)[0]]
    assert verbs[:2] == [("delete", "jobs"), ("create", "jobs")]


def test_finished_jobs_beyond_the_history_limits_go_oldest_first():
    owner = cronjob(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0)
    jobs = [owned_job(owner, "old", "Complete", 900), owned_job(owner, "new", "Complete", 300),
            owned_job(owner, "broken", "Failed", 600)]  # fmt: skip
    actions, _wake = controller.reconcile(owner, jobs, NOW)
    assert sorted(a.name for a in actions if a.verb == "delete") == ["broken", "old"]
    status = next(a.body["status"] for a in actions if a.verb == "status")
    assert status["lastSuccessfulTime"] == ago(290)


def test_the_1_20_profile_serves_no_cron_jobs_and_its_controller_asks_for_none():
    class Refusing:
        def list(self, resource):
            raise AssertionError(f"listed {resource}")

    controller.sync(Refusing(), types.SimpleNamespace(profile=types.SimpleNamespace(minor=20)))
