# SPDX-License-Identifier: GPL-3.0-or-later
"""The CronJob controller (cronjob_controllerv2.go): at each schedule time (in spec.timeZone, else the controller
manager's local zone) a Job `<cronjob>-<scheduled time in minutes since the epoch>` from the jobTemplate, owned by
the CronJob (1.28+: annotated with `batch.kubernetes.io/cronjob-scheduled-timestamp`). Only the most recent missed
time runs, and not once startingDeadlineSeconds have passed since it; concurrencyPolicy Forbid skips a time while a
Job runs, Replace deletes the running ones first; suspend stops new Jobs. Status: active (the running Jobs),
lastScheduleTime, lastSuccessfulTime; finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit are
deleted, oldest first; the Jobs of a deleted CronJob are deleted (the garbage collector's part). kubelite wakes for
the next schedule time through `due()`. Not modelled: batch/v1beta1 (1.20: no CronJobs), events."""

from __future__ import annotations

import datetime
import threading

import zoneinfo

from ..api import resources
from ..cronschedule import ScheduleError, parse
from ..kubeclient import KubeClient
from .actions import Action, apply, status_update
from .garbage import owner_kind
from .job import finished
from .podutil import controller_uid, now, owner_reference, stamp

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"

_due: dict[str, float] = {}  # cronjob uid -> its next schedule time (epoch seconds)
_due_lock = threading.Lock()


def due() -> float | None:
    with _due_lock:
        return min(_due.values(), default=None)


def sync(client: KubeClient, node) -> None:
    if not resources.find("cronjobs").served(node.profile.minor):
        return
    cronjobs, jobs = client.list("cronjobs"), client.list("jobs")
    live = {c["metadata"]["uid"] for c in cronjobs}
    apply(client, [Action("delete", "jobs", j["metadata"]["namespace"], j["metadata"]["name"])
                   for j in jobs if owner_kind(j) == "CronJob" and controller_uid(j) not in live])  # fmt: skip
    moment, nexts = now(), {}
    for cronjob in cronjobs:
        actions, wake = reconcile(cronjob, jobs, moment, node.profile.minor)
        apply(client, actions)
        if wake is not None:
            nexts[cronjob["metadata"]["uid"]] = wake.timestamp()
    with _due_lock:
        _due.clear()
        _due.update(nexts)


def zone(cronjob: dict) -> datetime.tzinfo:
    name = cronjob["spec"].get("timeZone")
    return zoneinfo.ZoneInfo(name) if name else datetime.datetime.now().astimezone().tzinfo


def reconcile(
    cronjob: dict, jobs: list[dict], moment: datetime.datetime, minor: int = 99
) -> tuple[list[Action], datetime.datetime | None]:
    """(actions, the next schedule time) for one CronJob given every Job."""
    meta, spec = cronjob["metadata"], cronjob["spec"]
    if meta.get("deletionTimestamp"):
        return [], None
    try:
        schedule = parse(spec["schedule"])
        local = moment.astimezone(zone(cronjob))
    except (ScheduleError, zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [], None
    owned = [j for j in jobs if controller_uid(j) == meta["uid"] and j["metadata"]["namespace"] == meta["namespace"]]
    running = [j for j in owned if finished(j) is None and not j["metadata"].get("deletionTimestamp")]
    old = cronjob.get("status") or {}
    known = {ref.get("uid"): ref for ref in old.get("active") or []}  # a reference keeps the version it was made with
    status = dict(old, active=[known.get(j["metadata"]["uid"]) or reference(j) for j in running])
    succeeded = [f["lastTransitionTime"] for j in owned if (f := finished(j)) and f["type"] == "Complete"]
    if succeeded:
        status["lastSuccessfulTime"] = max([*succeeded, old.get("lastSuccessfulTime") or ""])
    actions = history(cronjob, owned)
    since = parse_time(old.get("lastScheduleTime") or meta["creationTimestamp"]).astimezone(local.tzinfo)
    scheduled = most_recent(schedule, since, local)
    if scheduled is not None and not spec.get("suspend"):
        deadline = spec.get("startingDeadlineSeconds")
        late = deadline is not None and (local - scheduled).total_seconds() > deadline
        policy = spec.get("concurrencyPolicy", "Allow")
        if not late and not (policy == "Forbid" and running):
            if policy == "Replace":
                actions += [Action("delete", "jobs", meta["namespace"], j["metadata"]["name"]) for j in running]
            actions.append(Action("create", "jobs", meta["namespace"], "", new_job(cronjob, scheduled, minor)))
            status["lastScheduleTime"] = stamp(scheduled)
    status = {k: v for k, v in status.items() if v}
    return actions + status_update("cronjobs", cronjob, status), schedule.next_after(local)


def most_recent(schedule, since: datetime.datetime, local: datetime.datetime) -> datetime.datetime | None:
    """The latest schedule time after `since` and not after `local` (None if none): missed ones run only once."""
    found, candidate, count = None, schedule.next_after(since), 0
    while candidate is not None and candidate <= local:
        found, candidate, count = candidate, schedule.next_after(candidate), count + 1
        if count == 100 and candidate is not None:  # many missed: look only at the last two periods' worth
            since = max(since, local - 2 * (candidate - found))
            found, candidate = None, schedule.next_after(since)
    return found


def history(cronjob: dict, owned: list[dict]) -> list[Action]:
    """Delete the oldest finished Jobs beyond the history limits (3 successful, 1 failed by default)."""
    spec, actions = cronjob["spec"], []
    for kind, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)),
                        ("Failed", spec.get("failedJobsHistoryLimit", 1))):  # fmt: skip
        done = [j for j in owned if (f := finished(j)) and f["type"] == kind]
        done.sort(key=lambda j: (j.get("status") or {}).get("startTime") or j["metadata"]["creationTimestamp"])
        extra = done[: max(len(done) - limit, 0)]
        actions += [Action("delete", "jobs", j["metadata"]["namespace"], j["metadata"]["name"]) for j in extra]
    return actions


def new_job(cronjob: dict, scheduled: datetime.datetime, minor: int) -> dict:
    meta, template = cronjob["metadata"], cronjob["spec"]["jobTemplate"]
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    if minor >= 28:
        annotations[SCHEDULED_ANNOTATION] = rfc3339(scheduled)
    job_meta = {
        "name": f"{meta['name']}-{int(scheduled.timestamp() // 60)}",
        "namespace": meta["namespace"],
        "ownerReferences": [owner_reference(cronjob, "batch/v1", "CronJob")],
    }
    if template_meta.get("labels"):
        job_meta["labels"] = dict(template_meta["labels"])
    if annotations:
        job_meta["annotations"] = annotations
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta, "spec": dict(template.get("spec") or {})}


def reference(job: dict) -> dict:
    meta = job["metadata"]
    return {"kind": "Job", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
            "apiVersion": "batch/v1", "resourceVersion": meta.get("resourceVersion", "")}  # fmt: skip


def rfc3339(moment: datetime.datetime) -> str:
    """Go's time.RFC3339: `Z` for UTC, else the offset."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
