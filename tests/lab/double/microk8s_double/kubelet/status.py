# SPDX-License-Identifier: GPL-3.0-or-later
"""Pod status as the kubelet reports it: per-container state (waiting/running/terminated with the kubelet's
reasons), phase, the Initialized/Ready/ContainersReady/PodScheduled conditions, IPs, start time and QoS class."""

from __future__ import annotations

import datetime

from ..controllers.podutil import now, set_condition, stamp


def terminated(ended: dict, record: dict) -> dict:
    """A finished container process as containerd reports it (StartError, Unknown after a lost shim, Completed,
    Error)."""
    code = ended["exitCode"]
    if ended.get("startError"):
        reason = "StartError"
    elif ended.get("lost"):
        reason = "Unknown"
    else:
        reason = "Completed" if code == 0 else "Error"
    state = {
        "exitCode": code,
        "reason": reason,
        "startedAt": record["startedAt"],
        "finishedAt": ended["finishedAt"],
        "containerID": f"containerd://{record['containerID']}",
    }
    if ended.get("startError"):
        state["message"] = ended["startError"]
    return state


def container_status(container: dict, record: dict, state: dict, ready: bool, started: bool) -> dict:
    """`state` is {"waiting": {...}} | {"running": {...}} | {"terminated": {...}}; record holds the runtime's facts."""
    status = {
        "name": container["name"],
        "state": state,
        "lastState": {"terminated": record["last"]} if record.get("last") else {},
        "ready": ready,
        "restartCount": record.get("restartCount", 0),
        "image": record.get("image") or container["image"],
        "imageID": record.get("imageID", ""),
        "started": started,
    }
    if record.get("containerID"):
        status["containerID"] = f"containerd://{record['containerID']}"
    return status


def waiting(reason: str, message: str = "") -> dict:
    return {"waiting": dict({"reason": reason}, **({"message": message} if message else {}))}


def phase(pod: dict, statuses: list[dict]) -> str:
    """kubelet getPhase: containers never run keep the pod Pending; then Running, or Succeeded/Failed once all
    stopped for good."""
    policy = pod["spec"].get("restartPolicy", "Always")
    never_ran = sum(1 for s in statuses if "waiting" in s["state"] and not s["lastState"])
    running = sum(1 for s in statuses if "running" in s["state"])
    stopped = [s for s in statuses if "terminated" in s["state"] or ("waiting" in s["state"] and s["lastState"])]
    if never_ran:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"
    codes = [(s["state"].get("terminated") or s["lastState"]["terminated"])["exitCode"] for s in stopped]
    if all(code == 0 for code in codes):
        return "Succeeded"
    return "Running" if policy == "OnFailure" else "Failed"


def qos_class(pod: dict) -> str:
    containers = pod["spec"].get("containers", [])
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        all((r.get("limits") or {}).get(k) for k in ("cpu", "memory"))
        and all((r.get("requests") or {}).get(k, r["limits"][k]) == r["limits"][k] for k in ("cpu", "memory"))
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


def pod_status(
    pod: dict, statuses: list[dict], pod_ip: str | None, host_ip: str, start_time: str, now: datetime.datetime
) -> dict:
    current = pod.get("status") or {}
    unready = [s["name"] for s in statuses if not s["ready"]]
    conditions = list(current.get("conditions") or [])
    ready_message = f"containers with unready status: [{' '.join(unready)}]"
    wanted = [
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": "False" if unready else "True"},
        {"type": "ContainersReady", "status": "False" if unready else "True"},
        {"type": "PodScheduled", "status": "True"},
    ]
    for item in wanted:
        if item["type"] in ("Ready", "ContainersReady") and unready:
            item.update(reason="ContainersNotReady", message=ready_message)
        conditions = set_condition(conditions, dict(item, lastProbeTime=None), now)
    order = [c["type"] for c in wanted]
    conditions.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))
    status = {
        "phase": phase(pod, statuses),
        "conditions": conditions,
        "hostIP": host_ip,
        "startTime": start_time,
        "containerStatuses": statuses,
        "qosClass": qos_class(pod),
    }
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    return status


def now_stamp() -> str:
    return stamp(now())
