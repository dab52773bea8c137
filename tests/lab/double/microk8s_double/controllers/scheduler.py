# SPDX-License-Identifier: GPL-3.0-or-later
"""The scheduler: binds each pending pod to the best feasible node (Ready, schedulable or tolerated, taints,
nodeSelector, required node affinity, volumes, pod (anti-)affinity, hard topology spread, host ports), preferring
nodes with fewer pods of the same owner, soft spread and preferred node and pod (anti-)affinity, then fewer pods;
unschedulable pods get `PodScheduled=False` with kube-scheduler's `0/N nodes are available: ...` message. Resource
requests are ignored."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from .actions import Action
from .podutil import condition, controller_uid, selector_matches, set_condition
from .volumes import SELECTED_NODE, binding_mode, node_affinity_matches

NOT_SELECTED = "node(s) didn't match node selector"
UNSCHEDULABLE = "node(s) were unschedulable"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
AFFINITY = "node(s) didn't match pod affinity rules"
SPREAD = "node(s) didn't match pod topology spread constraints"
PORTS = "node(s) didn't have free ports for the requested pod ports"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
VOLUME_AFFINITY = "node(s) had volume node affinity conflict"


@dataclass
class Storage:
    """Claims, volumes and classes, for the VolumeBinding filter."""

    claims: list[dict] = field(default_factory=list)
    volumes: list[dict] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)

    def claim(self, namespace: str, name: str) -> dict | None:
        wanted = (namespace, name)
        return next((c for c in self.claims if (c["metadata"]["namespace"], c["metadata"]["name"]) == wanted), None)

    def volume(self, name: str) -> dict | None:
        return next((v for v in self.volumes if v["metadata"]["name"] == name), None)

    def storage_class(self, name: str) -> dict | None:
        return next((c for c in self.classes if c["metadata"]["name"] == name), None)


@dataclass
class PodVolumes:
    error: str | None = None  # the pod cannot be scheduled anywhere (kube-scheduler's PreFilter message)
    bound: list[dict] = field(default_factory=list)  # volumes of bound claims
    waiting: list[dict] = field(default_factory=list)  # unbound claims of WaitForFirstConsumer classes


def pod_volumes(pod: dict, storage: Storage) -> PodVolumes:
    found = PodVolumes()
    namespace = pod["metadata"]["namespace"]
    for volume in pod["spec"].get("volumes") or []:
        name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not name:
            continue
        claim = storage.claim(namespace, name)
        if claim is None:
            found.error = f'persistentvolumeclaim "{name}" not found'
            return found
        if claim["metadata"].get("deletionTimestamp"):
            found.error = f'persistentvolumeclaim "{name}" is being deleted'
            return found
        bound = storage.volume((claim.get("spec") or {}).get("volumeName") or "")
        if bound is not None and (claim.get("status") or {}).get("phase") == "Bound":
            found.bound.append(bound)
        elif binding_mode(storage.storage_class((claim.get("spec") or {}).get("storageClassName") or "")) == (
                "WaitForFirstConsumer"):  # fmt: skip
            found.waiting.append(claim)
        else:
            found.error = UNBOUND_IMMEDIATE
            return found
    return found


def volume_conflict(volumes: PodVolumes, node: dict) -> bool:
    name = node["metadata"]["name"]
    if any(not node_affinity_matches(v, node) for v in volumes.bound):
        return True
    return any((c["metadata"].get("annotations") or {}).get(SELECTED_NODE, name) != name for c in volumes.waiting)


def node_ready(node: dict) -> str:
    ready = condition(node, "Ready")
    return ready.get("status", "Unknown") if ready else "Unknown"


def taints(node: dict) -> list[dict]:
    """The node's taints plus those the node lifecycle controller sets from its conditions."""
    found = list(node["spec"].get("taints") or [])
    derived = {"False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"}
    if node_ready(node) in derived:
        found.append({"key": derived[node_ready(node)], "effect": "NoSchedule"})
    return found


def tolerates(pod: dict, taint: dict) -> bool:
    for toleration in pod["spec"].get("tolerations") or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator", "Equal") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint["key"]:
                return True
        elif toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def term_matches(term: dict, labels: dict) -> bool:
    """A NodeSelectorTerm (matchExpressions over labels, operators In/NotIn/Exists/DoesNotExist/Gt/Lt)."""
    for expression in term.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator in ("Gt", "Lt"):
            if key not in labels or not labels[key].lstrip("-").isdigit():
                return False
            if (int(labels[key]) > int(values[0])) != (operator == "Gt") or int(labels[key]) == int(values[0]):
                return False
        elif not selector_matches({"matchExpressions": [expression]}, labels):
            return False
    return True


def node_selected(pod: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
        return False
    affinity = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    return not affinity or any(term_matches(t, labels) for t in affinity.get("nodeSelectorTerms") or [])


class Placement:
    """Where pods run now (bound plus those this round bound), by node name."""

    def __init__(self, nodes: list[dict], pods: list[dict]):
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.pods = [p for p in pods if p["spec"].get("nodeName") and p.get("status", {}).get("phase") not in (
            "Succeeded", "Failed")]  # fmt: skip

    def domain(self, node_name: str, key: str) -> str | None:
        node = self.nodes.get(node_name)
        return (node["metadata"].get("labels") or {}).get(key) if node else None

    def matching(self, term: dict, owner: dict) -> list[dict]:
        """Pods an affinity term selects (its namespaces, else the owner pod's namespace)."""
        namespaces = term.get("namespaces") or [owner["metadata"]["namespace"]]
        return [
            p
            for p in self.pods
            if p["metadata"]["namespace"] in namespaces
            and selector_matches(term.get("labelSelector"), p["metadata"].get("labels"))
        ]

    def in_domain(self, pods: list[dict], node: dict, key: str) -> list[dict]:
        value = (node["metadata"].get("labels") or {}).get(key)
        return [p for p in pods if value is not None and self.domain(p["spec"]["nodeName"], key) == value]

    def bind(self, pod: dict, node_name: str) -> None:
        self.pods.append(dict(pod, spec=dict(pod["spec"], nodeName=node_name)))


def affinity_terms(pod: dict, kind: str, mode: str) -> list[dict]:
    return ((pod["spec"].get("affinity") or {}).get(kind) or {}).get(
        f"{mode}DuringSchedulingIgnoredDuringExecution"
    ) or []


def host_ports(pod: dict) -> set[tuple]:
    return {
        (port.get("hostIP", "0.0.0.0"), port.get("protocol", "TCP"), port["hostPort"])
        for container in pod["spec"].get("containers", [])
        for port in container.get("ports") or []
        if port.get("hostPort")
    }


def spread_constraints(pod: dict, hard: bool) -> list[dict]:
    wanted = "DoNotSchedule" if hard else "ScheduleAnyway"
    return [c for c in pod["spec"].get("topologySpreadConstraints") or [] if c.get("whenUnsatisfiable") == wanted]


def spread_skew(pod: dict, node: dict, constraint: dict, candidates: list[dict], placement: Placement) -> int:
    """Pods matching the constraint in the node's domain, minus the least loaded domain, after placing the pod."""
    key = constraint["topologyKey"]
    matching = [
        p
        for p in placement.pods
        if p["metadata"]["namespace"] == pod["metadata"]["namespace"]
        and selector_matches(constraint.get("labelSelector"), p["metadata"].get("labels"))
    ]
    counts = Counter({(n["metadata"].get("labels") or {}).get(key): 0 for n in candidates})
    counts.update(placement.domain(p["spec"]["nodeName"], key) for p in matching)
    counts.pop(None, None)
    value = (node["metadata"].get("labels") or {}).get(key)
    return counts.get(value, 0) + 1 - min(counts.values(), default=0)


def why_not(
    pod: dict, node: dict, placement: Placement, candidates: list[dict], volumes: PodVolumes | None = None
) -> str | None:
    """The first filter the node fails, in kube-scheduler's plugin order (its reason text); None when feasible."""
    if node["spec"].get("unschedulable") and not tolerates(
        pod, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    ):
        return UNSCHEDULABLE
    for taint in taints(node):
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
            value = taint.get("value", "")
            return f"node(s) had taint {{{taint['key']}: {value}}}, that the pod didn't tolerate"
    if not node_selected(pod, node):
        return NOT_SELECTED
    if volumes and volume_conflict(volumes, node):
        return VOLUME_AFFINITY
    used = {port for p in placement.pods if p["spec"]["nodeName"] == node["metadata"]["name"] for port in host_ports(p)}
    if host_ports(pod) & used:
        return PORTS
    for constraint in spread_constraints(pod, hard=True):
        if spread_skew(pod, node, constraint, candidates, placement) > constraint["maxSkew"]:
            return SPREAD
    for term in affinity_terms(pod, "podAffinity", "required"):
        if not placement.in_domain(placement.matching(term, pod), node, term["topologyKey"]):
            return AFFINITY
    for term in affinity_terms(pod, "podAntiAffinity", "required"):
        if placement.in_domain(placement.matching(term, pod), node, term["topologyKey"]):
            return ANTI_AFFINITY
    for other in placement.pods:
        for term in affinity_terms(other, "podAntiAffinity", "required"):
            namespaces = term.get("namespaces") or [other["metadata"]["namespace"]]
            if (
                pod["metadata"]["namespace"] in namespaces
                and selector_matches(term.get("labelSelector"), pod["metadata"].get("labels"))
                and placement.in_domain([other], node, term["topologyKey"])
            ):
                return EXISTING_ANTI_AFFINITY
    return None


def score(pod: dict, node: dict, placement: Placement, candidates: list[dict]) -> tuple:
    name = node["metadata"]["name"]
    on_node = [p for p in placement.pods if p["spec"]["nodeName"] == name]
    owner = controller_uid(pod)
    siblings = sum(1 for p in on_node if owner and controller_uid(p) == owner)
    soft_skew = sum(spread_skew(pod, node, c, candidates, placement) for c in spread_constraints(pod, hard=False))
    labels = node["metadata"].get("labels") or {}
    node_terms = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    ) or []
    # kube-scheduler's NodeAffinity score: the weights of the preferred terms the node matches
    preference = sum(t.get("weight", 1) for t in node_terms if term_matches(t.get("preference") or {}, labels))
    for kind, sign in (("podAffinity", 1), ("podAntiAffinity", -1)):
        for weighted in affinity_terms(pod, kind, "preferred"):
            term = weighted["podAffinityTerm"]
            hits = placement.in_domain(placement.matching(term, pod), node, term["topologyKey"])
            preference += sign * weighted.get("weight", 1) * len(hits)
    return (soft_skew, siblings, -preference, len(on_node), name)


def unschedulable_message(total: int, reasons: list[str]) -> str:
    if not total:
        return "no nodes available to schedule pods"
    counted = sorted(f"{count} {reason}" for reason, count in Counter(reasons).items())
    return f"0/{total} nodes are available: {', '.join(counted)}."


def schedule(
    pods: list[dict], nodes: list[dict], now: datetime.datetime, storage: Storage | None = None
) -> list[Action]:
    """Bind the pending pods of the default scheduler, oldest first; report the ones no node can take. A pod whose
    WaitForFirstConsumer claims are unbound is not bound yet: its node is written on those claims
    (`volume.kubernetes.io/selected-node`) for the provisioner, and it is bound once they are (VolumeBinding's
    PreBind)."""
    storage = storage or Storage()
    placement = Placement(nodes, pods)
    pending = [
        p
        for p in pods
        if not p["spec"].get("nodeName")
        and not p["metadata"].get("deletionTimestamp")
        and p["spec"].get("schedulerName", "default-scheduler") == "default-scheduler"
        and (p.get("status") or {}).get("phase", "Pending") == "Pending"
    ]
    pending.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    actions = []
    for pod in pending:
        meta = pod["metadata"]
        candidates = [n for n in nodes if node_selected(pod, n)]
        volumes = pod_volumes(pod, storage)
        reasons = {n["metadata"]["name"]: why_not(pod, n, placement, candidates, volumes) for n in nodes}
        feasible = [n for n in nodes if reasons[n["metadata"]["name"]] is None] if not volumes.error else []
        if feasible and volumes.waiting:
            best = min(feasible, key=lambda n: score(pod, n, placement, candidates))
            for claim in volumes.waiting:
                if SELECTED_NODE not in (claim["metadata"].get("annotations") or {}):
                    note = {"metadata": {"annotations": {SELECTED_NODE: best["metadata"]["name"]}}}
                    actions.append(Action("patch", "persistentvolumeclaims", meta["namespace"],
                                          claim["metadata"]["name"], note))  # fmt: skip
            placement.bind(pod, best["metadata"]["name"])
            continue
        if feasible:
            best = min(feasible, key=lambda n: score(pod, n, placement, candidates))
            target = {"apiVersion": "v1", "kind": "Node", "name": best["metadata"]["name"]}
            body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]}, "target": target}
            actions.append(Action("bind", "pods", meta["namespace"], meta["name"], body))
            placement.bind(pod, best["metadata"]["name"])
            continue
        message = (
            f"0/{len(nodes)} nodes are available: {volumes.error}."
            if volumes.error and nodes
            else unschedulable_message(len(nodes), [r for r in reasons.values() if r])
        )
        scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        old = condition(pod, "PodScheduled") or {}
        if (old.get("status"), old.get("reason"), old.get("message")) != ("False", "Unschedulable", message):
            status = pod.get("status") or {}
            conditions = set_condition(list(status.get("conditions") or []), dict(scheduled, lastProbeTime=None), now)
            actions.append(
                Action(
                    "status",
                    "pods",
                    meta["namespace"],
                    meta["name"],
                    {"status": {"phase": "Pending", "conditions": conditions}},
                )
            )
    return actions
