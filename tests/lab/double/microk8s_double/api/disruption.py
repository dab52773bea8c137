# SPDX-License-Identifier: GPL-3.0-or-later
"""PodDisruptionBudgets (policy/v1) and what an eviction (`POST pods/NAME/eviction`) may do under them.

The status the disruption controller would write is computed when a budget is read, from the pods of its
namespace, as pkg/controller/disruption does: healthy = Ready and not being deleted; expected = the pods' count for
an integer minAvailable, else the replicas of their controllers (a pod without one counts once); desiredHealthy =
minAvailable (a percentage of expected, rounded up) or expected - maxUnavailable (percentage rounded up);
disruptionsAllowed = healthy - desiredHealthy (at least 0).
"""

from __future__ import annotations

import math

from . import selectors

NOT_ALLOWED = "Cannot evict pod as it would violate the pod's disruption budget."
SEVERAL = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."


def scaled(value: object, total: int) -> int:
    """An IntOrString of the budget: an integer, or a percentage of `total` rounded up."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def healthy(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready and not pod["metadata"].get("deletionTimestamp")


def covers(budget: dict, pod: dict) -> bool:
    """policy/v1: an empty selector selects every pod of the namespace."""
    same_namespace = budget["metadata"].get("namespace") == pod["metadata"].get("namespace")
    selector = budget.get("spec", {}).get("selector") or {}
    return same_namespace and selectors.matches(selector, pod["metadata"].get("labels"))


def expected_pods(spec: dict, pods: list[dict], replicas_of: dict[str, int]) -> int:
    """`replicas_of` maps a controller's uid to its spec.replicas."""
    if "minAvailable" in spec and not str(spec["minAvailable"]).endswith("%"):
        return len(pods)
    owners, alone = {}, 0
    for pod in pods:
        ref = next((r for r in pod["metadata"].get("ownerReferences", []) if r.get("controller")), None)
        if ref is None or ref.get("uid") not in replicas_of:
            alone += 1
        else:
            owners[ref["uid"]] = replicas_of[ref["uid"]]
    return sum(owners.values()) + alone


def status(budget: dict, pods: list[dict], replicas_of: dict[str, int]) -> dict:
    """The budget's status over the pods of its namespace."""
    spec = budget.get("spec", {})
    covered = [p for p in pods if covers(budget, p) and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    expected = expected_pods(spec, covered, replicas_of)
    if "maxUnavailable" in spec:
        desired = max(0, expected - scaled(spec["maxUnavailable"], expected))
    else:
        desired = scaled(spec.get("minAvailable", 0), expected)
    current = sum(1 for p in covered if healthy(p))
    return {
        "observedGeneration": budget["metadata"].get("generation", 1),
        "disruptionsAllowed": max(0, current - desired),
        "currentHealthy": current,
        "desiredHealthy": desired,
        "expectedPods": expected,
    }


def refusal(pod: dict, budgets: list[dict]) -> tuple[int, str, str] | None:
    """None when the pod may be evicted, else (HTTP code, message, the budget's cause) as the eviction REST does:
    pods not running (pending, finished, already being deleted) ignore budgets; a not-ready pod may go while the
    budget is met (IfHealthyBudget); a ready one needs disruptionsAllowed > 0."""
    if pod.get("status", {}).get("phase") in ("Pending", "Succeeded", "Failed") or pod["metadata"].get(
        "deletionTimestamp"
    ):
        return None
    if len(budgets) > 1:
        return 500, SEVERAL, ""
    if not budgets:
        return None
    budget = budgets[0]
    current = budget["status"]
    if (not healthy(pod) and current["currentHealthy"] >= current["desiredHealthy"]) or current[
        "disruptionsAllowed"
    ] > 0:
        return None
    cause = (f"The disruption budget {budget['metadata']['name']} needs {current['desiredHealthy']} healthy pods "
             f"and has {current['currentHealthy']} currently")  # fmt: skip
    return 429, NOT_ALLOWED, cause
