# SPDX-License-Identifier: GPL-3.0-or-later
"""The StatefulSet controller (kube-controller-manager's stateful_set_control.go): pods `<set>-<ordinal>` with a
stable name, host name and subdomain, one claim per volumeClaimTemplate and ordinal (`<template>-<set>-<ordinal>`,
created before the pod and kept when the pod or the set goes: the default Retain policy), labels
`statefulset.kubernetes.io/pod-name`, `controller-revision-hash` and (1.28+, PodIndexLabel) `apps.kubernetes.io/
pod-index`. OrderedReady (the default) creates one pod at a time, in ordinal order, each once the ones before it
are Running and Ready, and removes the highest ordinal first, one at a time, only while the others are healthy;
Parallel creates and removes them all at once. A RollingUpdate deletes the highest-ordinal pod not on the update
revision (down to `partition`) once every pod is Running and Ready, and the next round recreates it from the new
template; OnDelete leaves that to the user. The revision is the template's hash (the double keeps no
ControllerRevision objects)."""

from __future__ import annotations

import copy
import datetime
import re

from .actions import Action, status_update
from .deployment import template_hash
from .podutil import controller_uid, is_available, is_ready, is_terminating, owner_reference

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
REVISION_LABEL = "controller-revision-hash"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def reconcile(
    stateful_set: dict, pods: list[dict], claims: list[dict], now: datetime.datetime, minor: int = 99
) -> list[Action]:
    """Actions for one StatefulSet given the pods and claims of its namespace."""
    meta, spec = stateful_set["metadata"], stateful_set["spec"]
    if meta.get("deletionTimestamp"):
        return []
    revision = update_revision(stateful_set)
    owned = {ordinal_of(stateful_set, p): p for p in pods if controller_uid(p) == meta["uid"]}
    owned.pop(None, None)
    replicas = spec.get("replicas", 1)
    parallel = spec.get("podManagementPolicy") == "Parallel"
    actions = scale(stateful_set, owned, claims, revision, replicas, parallel, minor)
    if not actions and (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
        actions = roll(stateful_set, owned, revision, replicas)
    return actions + status_update("statefulsets", stateful_set, status(stateful_set, owned, revision, now))


def scale(
    stateful_set: dict,
    owned: dict[int, dict],
    claims: list[dict],
    revision: str,
    replicas: int,
    parallel: bool,
    minor: int,
) -> list[Action]:
    actions: list[Action] = []
    namespace = stateful_set["metadata"]["namespace"]
    for ordinal in range(replicas):
        pod = owned.get(ordinal)
        if pod is not None and (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            actions.append(Action("delete", "pods", namespace, pod["metadata"]["name"]))  # recreated next round
            if not parallel:
                return actions
            continue
        if pod is None:
            actions += missing_claims(stateful_set, ordinal, claims)
            actions.append(Action("create", "pods", namespace, "", new_pod(stateful_set, ordinal, revision, minor)))
            if not parallel:
                return actions
            continue
        if not parallel and (is_terminating(pod) or not running_and_ready(pod)):
            return actions  # the next ordinal waits for this one
    condemned = sorted((o for o in owned if o >= replicas), reverse=True)
    if not condemned:
        return actions
    if parallel:
        return [*actions, *(delete(owned[o]) for o in condemned if not is_terminating(owned[o]))]
    if any(is_terminating(p) or not running_and_ready(p) for p in owned.values()):
        return actions  # one at a time, and only while the others are healthy
    return [*actions, delete(owned[condemned[0]])]


def roll(stateful_set: dict, owned: dict[int, dict], revision: str, replicas: int) -> list[Action]:
    """Delete the highest-ordinal pod at or above the partition that runs another revision, once all are healthy."""
    rolling = (stateful_set["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
    partition = int(rolling.get("partition") or 0)
    if any(is_terminating(p) or not running_and_ready(p) for p in owned.values()):
        return []
    for ordinal in range(replicas - 1, partition - 1, -1):
        pod = owned.get(ordinal)
        if pod is not None and pod["metadata"].get("labels", {}).get(REVISION_LABEL) != revision:
            return [delete(pod)]
    return []


def delete(pod: dict) -> Action:
    return Action("delete", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])


def running_and_ready(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def update_revision(stateful_set: dict) -> str:
    """The ControllerRevision name the set's current template would have: `<set>-<hash>`."""
    count = (stateful_set.get("status") or {}).get("collisionCount", 0)
    return f"{stateful_set['metadata']['name']}-{template_hash(stateful_set['spec']['template'], count)}"


def ordinal_of(stateful_set: dict, pod: dict) -> int | None:
    """The ordinal of a pod named `<set>-<n>`; None for any other name."""
    match = re.fullmatch(re.escape(stateful_set["metadata"]["name"]) + r"-(0|[1-9][0-9]*)", pod["metadata"]["name"])
    return int(match.group(1)) if match else None


def claim_name(template: dict, stateful_set: dict, ordinal: int) -> str:
    return f"{template['metadata']['name']}-{stateful_set['metadata']['name']}-{ordinal}"


def missing_claims(stateful_set: dict, ordinal: int, claims: list[dict]) -> list[Action]:
    """A claim per volumeClaimTemplate that does not exist yet, labelled with the template's and the selector's
    labels (an existing claim, e.g. kept from an earlier pod or set, is used as it is)."""
    meta = stateful_set["metadata"]
    existing = {c["metadata"]["name"] for c in claims if c["metadata"].get("namespace") == meta["namespace"]}
    selector_labels = (stateful_set["spec"].get("selector") or {}).get("matchLabels") or {}
    actions = []
    for template in stateful_set["spec"].get("volumeClaimTemplates") or []:
        name = claim_name(template, stateful_set, ordinal)
        if name in existing:
            continue
        labels = dict((template["metadata"].get("labels") or {}), **selector_labels)
        claim_meta = {"name": name, "namespace": meta["namespace"], **({"labels": labels} if labels else {})}
        if template["metadata"].get("annotations"):
            claim_meta["annotations"] = template["metadata"]["annotations"]
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": claim_meta,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        actions.append(Action("create", "persistentvolumeclaims", meta["namespace"], name, body))
    return actions


def new_pod(stateful_set: dict, ordinal: int, revision: str, minor: int = 99) -> dict:
    meta, spec = stateful_set["metadata"], stateful_set["spec"]
    template = copy.deepcopy(spec["template"])
    name = f"{meta['name']}-{ordinal}"
    labels = dict(
        (template.get("metadata") or {}).get("labels") or {}, **{POD_NAME_LABEL: name, REVISION_LABEL: revision}
    )
    if minor >= 28:
        labels[POD_INDEX_LABEL] = str(ordinal)
    pod_meta = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(stateful_set, "apps/v1", "StatefulSet")],
    }
    annotations = (template.get("metadata") or {}).get("annotations")
    if annotations:
        pod_meta["annotations"] = annotations
    pod_spec = template["spec"]
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    claimed = {
        t["metadata"]["name"]: claim_name(t, stateful_set, ordinal) for t in spec.get("volumeClaimTemplates") or []
    }
    volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claimed]
    volumes += [{"name": volume, "persistentVolumeClaim": {"claimName": claim}} for volume, claim in claimed.items()]
    if volumes:
        pod_spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


def status(stateful_set: dict, owned: dict[int, dict], revision: str, now: datetime.datetime) -> dict:
    """StatefulSetStatus as computeReplicaStatus counts it; the current revision becomes the update revision once
    every wanted pod runs it and is ready."""
    spec, old = stateful_set["spec"], stateful_set.get("status") or {}
    current = old.get("currentRevision") or revision
    min_ready = spec.get("minReadySeconds", 0)
    live = [p for p in owned.values() if not is_terminating(p)]
    counts = {
        "replicas": len(owned),
        "readyReplicas": sum(1 for p in owned.values() if running_and_ready(p)),
        "availableReplicas": sum(1 for p in owned.values() if running_and_ready(p) and is_available(p, min_ready, now)),
        "updatedReplicas": sum(1 for p in live if p["metadata"].get("labels", {}).get(REVISION_LABEL) == revision),
    }
    wanted = spec.get("replicas", 1)
    if counts["updatedReplicas"] == counts["readyReplicas"] == counts["replicas"] == wanted:
        current = revision
    counts["currentReplicas"] = sum(1 for p in live if p["metadata"].get("labels", {}).get(REVISION_LABEL) == current)
    result = {k: v for k, v in counts.items() if v or k in ("replicas", "availableReplicas")}
    return dict(
        result,
        observedGeneration=stateful_set["metadata"].get("generation", 1),
        currentRevision=current,
        updateRevision=revision,
        collisionCount=old.get("collisionCount", 0),
    )
