# SPDX-License-Identifier: GPL-3.0-or-later
"""The Deployment controller: one ReplicaSet per pod template (`<name>-<pod-template-hash>`), rolled out with the
RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy as kube-controller-manager does, old ReplicaSets kept
up to revisionHistoryLimit, and the status (counts, Available/Progressing conditions) `kubectl rollout status` reads."""

from __future__ import annotations

import copy
import datetime
import json
import math

from .actions import Action, status_update
from .podutil import (
    NAME_ALPHABET,
    condition,
    controller_uid,
    is_active,
    owner_reference,
    parse,
    set_condition,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def template_hash(template: dict, collision_count: int = 0) -> str:
    """FNV-32a of the template, printed as rand.SafeEncodeString does (one alphabet letter per decimal digit)."""
    value = 0x811C9DC5
    data = json.dumps(template, sort_keys=True).encode() + (str(collision_count).encode() if collision_count else b"")
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(NAME_ALPHABET[ord(digit) % len(NAME_ALPHABET)] for digit in str(value))


def resolve(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    """An IntOrString like `25%` against the replica count."""
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def fenceposts(deployment: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate; both zero would stall, so unavailable becomes 1."""
    replicas = deployment["spec"].get("replicas", 1)
    rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve(rolling.get("maxSurge"), replicas, "25%", round_up=True)
    unavailable = resolve(rolling.get("maxUnavailable"), replicas, "25%", round_up=False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def without_hash(template: dict) -> dict:
    template = copy.deepcopy(template)
    ((template.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return template


def revision(replica_set: dict) -> int:
    return int((replica_set["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


class Rollout:
    """One sync of one Deployment: the planned spec.replicas per ReplicaSet and the actions that get there."""

    def __init__(self, deployment: dict, replica_sets: list[dict], pods: list[dict], now: datetime.datetime):
        self.deployment, self.pods, self.now = deployment, pods, now
        self.meta, self.spec = deployment["metadata"], deployment["spec"]
        self.namespace = self.meta["namespace"]
        self.replicas = self.spec.get("replicas", 1)
        owned = [rs for rs in replica_sets if controller_uid(rs) == self.meta["uid"]]
        template = self.spec["template"]
        self.new = next((rs for rs in owned if without_hash(rs["spec"]["template"]) == without_hash(template)), None)
        self.old = sorted((rs for rs in owned if rs is not self.new), key=lambda rs: rs["metadata"]["name"])
        self.old.sort(key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        self.planned = {rs["metadata"]["name"]: rs["spec"].get("replicas", 1) for rs in owned}
        self.actions: list[Action] = []
        self.created: dict | None = None

    # -- ReplicaSets ----------------------------------------------------------------------------------------------
    def new_revision(self) -> int:
        old_max = max((revision(rs) for rs in self.old), default=0)
        return revision(self.new) if self.new and revision(self.new) > old_max else old_max + 1

    def create_new(self, replicas: int) -> None:
        template = copy.deepcopy(self.spec["template"])
        pod_hash = template_hash(template, (self.deployment.get("status") or {}).get("collisionCount", 0))
        labels = dict((template.setdefault("metadata", {}).get("labels") or {}), **{HASH_LABEL: pod_hash})
        template["metadata"]["labels"] = labels
        selector = copy.deepcopy(self.spec.get("selector") or {})
        selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{HASH_LABEL: pod_hash})
        spec = {"replicas": replicas, "selector": selector, "template": template}
        if self.spec.get("minReadySeconds"):
            spec["minReadySeconds"] = self.spec["minReadySeconds"]
        self.created = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{self.meta['name']}-{pod_hash}",
                "namespace": self.namespace,
                "labels": labels,
                "annotations": self.annotations(self.new_revision()),
                "ownerReferences": [owner_reference(self.deployment, "apps/v1", "Deployment")],
            },
            "spec": spec,
        }
        self.actions.append(Action("create", "replicasets", self.namespace, "", self.created))

    def annotations(self, rev: int) -> dict:
        surge = fenceposts(self.deployment)[0] if self.rolling else 0
        return {DESIRED: str(self.replicas), MAX_REPLICAS: str(self.replicas + surge), REVISION: str(rev)}

    def scale(self, replica_set: dict, replicas: int) -> None:
        self.planned[replica_set["metadata"]["name"]] = replicas

    def emit_scaling(self, owned: list[dict]) -> None:
        for rs in owned:
            name = rs["metadata"]["name"]
            rev = self.new_revision() if rs is self.new else revision(rs)
            wanted = self.annotations(rev) if rs is self.new else {}
            current = rs["metadata"].get("annotations") or {}
            changed_notes = {k: v for k, v in wanted.items() if current.get(k) != v}
            if self.planned[name] != rs["spec"].get("replicas", 1) or changed_notes:
                body: dict = {"spec": {"replicas": self.planned[name]}}
                if changed_notes:
                    body["metadata"] = {"annotations": changed_notes}
                self.actions.append(Action("patch", "replicasets", self.namespace, name, body))

    # -- strategies -----------------------------------------------------------------------------------------------
    @property
    def rolling(self) -> bool:
        return (self.spec.get("strategy") or {}).get("type", "RollingUpdate") != "Recreate"

    def total_planned(self) -> int:
        return sum(self.planned.values())

    def roll(self) -> None:
        surge, unavailable = fenceposts(self.deployment)
        if self.new is None:
            self.create_new(min(max(self.replicas + surge - self.total_planned(), 0), self.replicas))
            return
        name = self.new["metadata"]["name"]
        current = self.planned[name]
        if current > self.replicas:
            self.scale(self.new, self.replicas)
            return
        if current < self.replicas:
            room = self.replicas + surge - self.total_planned()
            if room > 0:
                self.scale(self.new, current + min(room, self.replicas - current))
                return
        self.scale_down_old(unavailable)

    def scale_down_old(self, max_unavailable: int) -> None:
        """reconcileOldReplicaSets: first the old pods that are not available, then as many as availability allows."""
        if not any(self.planned[rs["metadata"]["name"]] for rs in self.old):
            return
        min_available = self.replicas - max_unavailable
        new_status = self.new.get("status") or {}
        new_unavailable = self.planned[self.new["metadata"]["name"]] - new_status.get("availableReplicas", 0)
        budget = self.total_planned() - min_available - new_unavailable
        for rs in self.old:
            if budget <= 0:
                return
            planned = self.planned[rs["metadata"]["name"]]
            unhealthy = planned - (rs.get("status") or {}).get("availableReplicas", 0)
            if planned and unhealthy > 0:
                cut = min(budget, unhealthy)
                self.scale(rs, planned - cut)
                budget -= cut
        available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in [*self.old, self.new])
        allowed = available - min_available
        for rs in self.old:
            planned = self.planned[rs["metadata"]["name"]]
            if allowed <= 0:
                return
            cut = min(planned, allowed)
            self.scale(rs, planned - cut)
            allowed -= cut

    def recreate(self) -> None:
        if any(self.planned[rs["metadata"]["name"]] for rs in self.old):
            for rs in self.old:
                self.scale(rs, 0)
            return
        old_uids = {rs["metadata"]["uid"] for rs in self.old}
        if any(controller_uid(p) in old_uids and is_active(p) for p in self.pods):
            return
        if self.new is None:
            self.create_new(self.replicas)
        else:
            self.scale(self.new, self.replicas)

    def cleanup(self) -> None:
        """Old ReplicaSets with no pods beyond revisionHistoryLimit go, oldest revision first."""
        limit = self.spec.get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in self.old
            if not self.planned[rs["metadata"]["name"]] and not (rs.get("status") or {}).get("replicas")
        ]
        for rs in sorted(idle, key=revision)[: max(len(idle) - limit, 0)]:
            self.actions.append(Action("delete", "replicasets", self.namespace, rs["metadata"]["name"]))

    # -- status ---------------------------------------------------------------------------------------------------
    def status(self) -> dict:
        owned = self.old + ([self.new] if self.new else [])
        counts = {key: 0 for key in ("replicas", "readyReplicas", "availableReplicas")}
        for rs in owned:
            for key in counts:
                counts[key] += (rs.get("status") or {}).get(key, 0)
        updated = ((self.new or {}).get("status") or {}).get("replicas", 0)
        unavailable = max(self.total_planned() + (self.created["spec"]["replicas"] if self.created else 0)
                          - counts["availableReplicas"], 0)  # fmt: skip
        current = self.deployment.get("status") or {}
        wanted = {
            "observedGeneration": self.meta.get("generation", 1),
            "replicas": counts["replicas"],
            "updatedReplicas": updated,
            "readyReplicas": counts["readyReplicas"],
            "availableReplicas": counts["availableReplicas"],
            "unavailableReplicas": unavailable,
        }
        wanted = {k: v for k, v in wanted.items() if v}
        if current.get("collisionCount"):
            wanted["collisionCount"] = current["collisionCount"]
        conditions = list(current.get("conditions") or [])
        conditions = set_condition(conditions, self.available_condition(counts["availableReplicas"]), self.now)
        progressing = self.progressing_condition(wanted, current)
        if progressing:
            conditions = set_condition(conditions, progressing, self.now)
        wanted["conditions"] = conditions
        return wanted

    def available_condition(self, available: int) -> dict:
        max_unavailable = fenceposts(self.deployment)[1] if self.rolling else 0
        if available >= self.replicas - max_unavailable:
            reason, text, state = "MinimumReplicasAvailable", "Deployment has minimum availability.", "True"
        else:
            reason, state = "MinimumReplicasUnavailable", "False"
            text = "Deployment does not have minimum availability."
        return {"type": "Available", "status": state, "lastUpdateTime": "", "reason": reason, "message": text}

    def progressing_condition(self, wanted: dict, current: dict) -> dict | None:
        """NewReplicaSetCreated / ReplicaSetUpdated (refreshed on progress) / NewReplicaSetAvailable, or
        ProgressDeadlineExceeded after progressDeadlineSeconds without progress; DeploymentPaused while paused;
        None (left as is) while no ReplicaSet of the current template exists yet."""
        if self.spec.get("paused"):
            return self.progress("Unknown", "DeploymentPaused", "Deployment is paused")
        if not (self.created or self.new):
            return None
        name = (self.created or self.new)["metadata"]["name"]
        old = condition(self.deployment, "Progressing") or {}
        complete = (
            wanted.get("updatedReplicas", 0) == self.replicas
            and wanted.get("replicas", 0) == self.replicas
            and wanted.get("availableReplicas", 0) == self.replicas
            and not self.created
        )
        if complete:
            return self.progress("True", "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.')
        if self.created:
            return self.progress("True", "NewReplicaSetCreated", f'Created new replica set "{name}"', fresh=True)
        counts = ("updatedReplicas", "readyReplicas", "availableReplicas")
        progressed = any(wanted.get(key, 0) > current.get(key, 0) for key in counts) or self.actions
        deadline = self.spec.get("progressDeadlineSeconds", 600)
        since = old.get("lastUpdateTime")
        if not progressed and since and (self.now - parse(since)).total_seconds() > deadline:
            return self.progress("False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.')
        if not progressed and old.get("reason") in ("ReplicaSetUpdated", "ProgressDeadlineExceeded"):
            return {k: old[k] for k in ("type", "status", "lastUpdateTime", "reason", "message")}
        return self.progress("True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', fresh=True)

    def progress(self, state: str, reason: str, text: str, fresh: bool = False) -> dict:
        moment = self.now.strftime("%Y-%m-%dT%H:%M:%SZ") if fresh else ""
        return {"type": "Progressing", "status": state, "lastUpdateTime": moment, "reason": reason, "message": text}


def reconcile(deployment: dict, replica_sets: list[dict], pods: list[dict], now: datetime.datetime) -> list[Action]:
    """Actions for one Deployment given the ReplicaSets and pods of its namespace."""
    if deployment["metadata"].get("deletionTimestamp"):
        return []
    rollout = Rollout(deployment, replica_sets, pods, now)
    if not deployment["spec"].get("paused"):
        rollout.roll() if rollout.rolling else rollout.recreate()
        owned = rollout.old + ([rollout.new] if rollout.new else [])
        rollout.emit_scaling(owned)
        if not rollout.actions:
            rollout.cleanup()
    actions = list(rollout.actions)
    rev = str(rollout.new_revision())
    current = (deployment["metadata"].get("annotations") or {}).get(REVISION)
    if (rollout.new or rollout.created) and current != rev:
        actions.append(Action("patch", "deployments", rollout.namespace, deployment["metadata"]["name"], {
            "metadata": {"annotations": {REVISION: rev}}
        }))  # fmt: skip
    return actions + status_update("deployments", deployment, rollout.status())
