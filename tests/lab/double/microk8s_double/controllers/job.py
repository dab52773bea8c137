# SPDX-License-Identifier: GPL-3.0-or-later
"""The Job controller (kube-controller-manager's job_controller.go, NonIndexed completion) and the TTL-after-finished
controller. A Job keeps min(parallelism, completions - succeeded) pods running (parallelism alone: a work queue,
complete once a pod succeeded and none runs), named `<job>-<5 chars>` from its template; a pod that failed counts
against backoffLimit, and the next pod waits 10 s doubling per failure (at most 6 min) after the last one; past the
limit, or past activeDeadlineSeconds, the Job fails (its running pods are deleted); `suspend` deletes them and the
Job waits. Conditions as the release writes them: Complete, Failed (BackoffLimitExceeded / DeadlineExceeded),
Suspended; from 1.31 SuccessCriteriaMet / FailureTarget come first and the reasons name the end
(CompletionsReached). Status: active, ready (1.24+), terminating (1.29+), succeeded, failed, startTime,
completionTime, uncountedTerminatedPods. A finished Job with ttlSecondsAfterFinished is deleted that long after
it finished (its pods go with it: garbage.py). Not modelled: Indexed completion, podFailurePolicy, successPolicy,
backoffLimitPerIndex, the job-tracking finalizer on pods."""

from __future__ import annotations

import datetime
import random
import threading

from .actions import Action, status_update
from .podutil import (
    condition,
    controller_uid,
    is_active,
    is_ready,
    is_terminating,
    owner_reference,
    parse,
    random_suffix,
    stamp,
)

BACKOFF_BASE = 10.0  # DefaultJobPodFailureBackOff
BACKOFF_MAX = 360.0  # MaxJobPodFailureBackOff
FINISHED = ("Complete", "Failed")

_due: dict[str, float] = {}  # job uid -> when its next pod or its TTL falls due (epoch seconds)
_due_lock = threading.Lock()


def due() -> float | None:
    """The earliest back-off end or TTL expiry (epoch seconds), for kubelite's wake-up."""
    with _due_lock:
        return min(_due.values(), default=None)


def note_due(uid: str, when: float | None) -> None:
    with _due_lock:
        if when is None:
            _due.pop(uid, None)
        else:
            _due[uid] = when


def keep_only(uids: set[str]) -> None:
    """Forget the wake-ups of Jobs that are gone (deleted, or expired by their TTL)."""
    with _due_lock:
        for uid in [u for u in _due if u not in uids]:
            del _due[uid]


def finished(job: dict) -> dict | None:
    """The Job's Complete or Failed condition when it is True."""
    return next((c for c in (condition(job, k) for k in FINISHED) if c and c.get("status") == "True"), None)


def reconcile(
    job: dict, pods: list[dict], now: datetime.datetime, minor: int = 99, rng: random.Random | None = None
) -> list[Action]:
    """Actions for one Job given the pods of its namespace."""
    meta, spec = job["metadata"], job["spec"]
    if meta.get("deletionTimestamp"):
        return []
    owned = [p for p in pods if controller_uid(p) == meta["uid"]]
    active = [p for p in owned if is_active(p)]
    counts = {
        "succeeded": sum(1 for p in owned if phase(p) == "Succeeded"),
        "failed": sum(1 for p in owned if phase(p) == "Failed"),
    }
    old = job.get("status") or {}
    start = old.get("startTime") or (None if spec.get("suspend") else stamp(now))
    conditions = list(old.get("conditions") or [])
    actions: list[Action] = []
    wake = None
    if finished(job) is None:
        ending = verdict(job, counts, start, active, now)
        if ending is not None:
            conditions = end_conditions(conditions, ending, now, minor)
            actions += [delete(p) for p in active]
            active = []
        elif spec.get("suspend"):
            conditions = with_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)
            actions += [delete(p) for p in active]
            active = []
        else:
            if condition(job, "Suspended"):
                conditions = with_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)
            scaled, wake = scale(job, owned, active, counts, now, rng)
            actions += scaled
    status = job_status(old, active, owned, counts, start, conditions, now, minor)
    deadline = spec.get("activeDeadlineSeconds")
    if finished({**job, "status": status}) is None and deadline is not None and start:
        wake = min(wake or float("inf"), parse(start).timestamp() + deadline)  # fail it on time, not at a resync
    when = wake if wake is not None else ttl_expiry({**job, "status": status})
    note_due(meta["uid"], when if when is not None and when > now.timestamp() else None)  # a past one would spin
    return actions + status_update("jobs", job, status)


def verdict(job: dict, counts: dict, start: str | None, active: list[dict], now: datetime.datetime) -> tuple | None:
    """(condition type, reason, message) when the Job ends now, else None."""
    spec = job["spec"]
    completions = spec.get("completions")
    if completions is not None and counts["succeeded"] >= completions:
        return "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
    if completions is None and counts["succeeded"] > 0 and not active:
        return "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
    if counts["failed"] > spec.get("backoffLimit", 6):
        return "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and start and (now - parse(start)).total_seconds() >= deadline:
        return "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def end_conditions(conditions: list[dict], ending: tuple, now: datetime.datetime, minor: int) -> list[dict]:
    kind, reason, message = ending
    if minor < 31:  # before JobSuccessPolicy/JobManagedBy: Complete without a reason, Failed directly
        return with_condition(conditions, kind, "True", "" if kind == "Complete" else reason,
                              "" if kind == "Complete" else message, now)  # fmt: skip
    interim = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
    conditions = with_condition(conditions, interim, "True", reason, message, now)
    return with_condition(conditions, kind, "True", reason, message, now)


def with_condition(conditions: list[dict], kind: str, status: str, reason: str, message: str, now) -> list[dict]:
    """JobCondition: lastProbeTime and lastTransitionTime move when the status changes."""
    old = next((c for c in conditions if c["type"] == kind), None)
    if old and old.get("status") == status:
        return conditions
    new = {"type": kind, "status": status, "lastProbeTime": stamp(now), "lastTransitionTime": stamp(now)}
    new.update({k: v for k, v in (("reason", reason), ("message", message)) if v})
    return [new if c is old else c for c in conditions] if old else [*conditions, new]


def scale(job, owned, active, counts, now, rng) -> tuple[list[Action], float | None]:
    """Pods to create (after the failure back-off) or delete (newest first); when the back-off ends."""
    spec = job["spec"]
    parallelism, completions = spec.get("parallelism", 1), spec.get("completions")
    wanted = parallelism if completions is None else min(parallelism, completions - counts["succeeded"])
    if len(active) > wanted:
        newest = sorted(active, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
        return [delete(p) for p in newest[: len(active) - wanted]], None
    if len(active) == wanted:
        return [], None
    ready_at = backoff_end(owned, counts["failed"])
    if ready_at is not None and ready_at > now:
        return [], ready_at.timestamp()
    namespace = job["metadata"]["namespace"]
    return [Action("create", "pods", namespace, "", new_pod(job, rng)) for _unused in range(wanted - len(active))], None


def backoff_end(owned: list[dict], failures: int) -> datetime.datetime | None:
    """When the next pod may start: the last failure plus 10 s doubling per failure, at most 6 min."""
    if failures == 0:
        return None
    times = [finished_at(p) for p in owned if phase(p) == "Failed"]
    last = max((t for t in times if t is not None), default=None)
    if last is None:
        return None
    delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)
    return last + datetime.timedelta(seconds=delay)


def finished_at(pod: dict) -> datetime.datetime | None:
    ends = [
        (s.get("state") or {}).get("terminated", {}).get("finishedAt")
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    stamps = [parse(e) for e in ends if e]
    return max(stamps) if stamps else None


def job_status(old, active, owned, counts, start, conditions, now, minor) -> dict:
    status = {
        "active": len(active),
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "startTime": start,
        "conditions": conditions,
    }
    if minor >= 24:
        status["ready"] = sum(1 for p in active if is_ready(p))
    if minor >= 29:
        status["terminating"] = sum(1 for p in owned if is_terminating(p) and phase(p) not in ("Succeeded", "Failed"))
    if minor >= 22:
        status["uncountedTerminatedPods"] = {}
    done = next((c for c in conditions if c["type"] == "Complete" and c.get("status") == "True"), None)
    if done:
        status["completionTime"] = old.get("completionTime") or done["lastTransitionTime"]
    keep = ("ready", "terminating", "uncountedTerminatedPods")  # written as 0 / {} by the controller
    return {k: v for k, v in status.items() if v or k in keep}


def new_pod(job: dict, rng: random.Random | None = None) -> dict:
    meta, template = job["metadata"], job["spec"]["template"]
    base = meta["name"][:58] + "-"
    pod_meta = {
        "name": base + random_suffix(rng=rng),
        "generateName": base,
        "namespace": meta["namespace"],
        "labels": dict((template.get("metadata") or {}).get("labels") or {}),
        "ownerReferences": [owner_reference(job, "batch/v1", "Job")],
    }
    annotations = (template.get("metadata") or {}).get("annotations")
    if annotations:
        pod_meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": dict(template["spec"])}


def ttl_expiry(job: dict) -> float | None:
    """When a finished Job with ttlSecondsAfterFinished is to be deleted (epoch seconds); None otherwise."""
    ttl, end = job["spec"].get("ttlSecondsAfterFinished"), finished(job)
    if ttl is None or end is None:
        return None
    return parse(end["lastTransitionTime"]).timestamp() + ttl


def expired(jobs: list[dict], now: datetime.datetime) -> list[Action]:
    """The TTL-after-finished controller: delete each finished Job whose TTL ran out."""
    return [
        Action("delete", "jobs", j["metadata"]["namespace"], j["metadata"]["name"])
        for j in jobs
        if not j["metadata"].get("deletionTimestamp") and (ttl_expiry(j) or float("inf")) <= now.timestamp()
    ]


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def delete(pod: dict) -> Action:
    return Action("delete", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
