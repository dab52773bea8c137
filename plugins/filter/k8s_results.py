# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure filters over kubernetes.core results, so that one k8s run applies a list of objects and one k8s_info run
waits for those that are not Ready yet (instead of one module run per object, each a new Python process)."""


def applied(registered):
    """The per-object results of a kubernetes.core.k8s run: it returns one object at the top level (`result` is the
    object) and several under `result.results`. A skipped task applied nothing. A list (after_apply's) is already
    one result per object."""
    if isinstance(registered, list):
        return registered
    if not isinstance(registered, dict) or registered.get("skipped"):
        return []
    result = registered.get("result") or {}
    if isinstance(result.get("results"), list) and "kind" not in result:
        return result["results"]
    return [registered]


def is_ready(obj):
    """Whether an object's status carries the condition Ready=True (cert-manager's Certificates and Issuers)."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def to_wait_for(registered, kind, check_mode=False):
    """Names of the applied objects of `kind` worth waiting for: each one the run changed (not in check mode, where it
    was not written) and each unchanged one that is not Ready. Unchanged and Ready: nothing to wait for."""
    names = []
    for one in applied(registered):
        obj = one.get("result") or {}
        if obj.get("kind") != kind:
            continue
        if (one.get("changed") and not check_mode) or (not one.get("changed") and not is_ready(obj)):
            names.append(obj["metadata"]["name"])
    return names


def all_ready(resources, names):
    """Whether every named object is among `resources` (a k8s_info list) and Ready."""
    ready = {r["metadata"]["name"] for r in resources or [] if is_ready(r)}
    return all(name in ready for name in names)


def drifted(drift):
    """The definitions among a k8s_drift lookup's entries that differ from the cluster (what to apply)."""
    return [entry["definition"] for entry in drift or [] if entry.get("drifted")]


def after_apply(drift, registered):
    """Per desired object, in the drift read's order, a result as kubernetes.core.k8s gives one: the apply's own for
    the objects it wrote (the drifted ones, in the same order), and for the others `changed` false with the status
    the drift read found."""
    written = iter(applied(registered))
    return [
        next(written, {"changed": False, "result": {}})
        if entry.get("drifted")
        else {"changed": False, "result": {**entry["definition"], "status": entry.get("status") or {}}}
        for entry in drift or []
    ]


class FilterModule:
    def filters(self):
        return {
            "k8s_applied": applied,
            "k8s_to_wait_for": to_wait_for,
            "k8s_all_ready": all_ready,
            "k8s_drifted": drifted,
            "k8s_after_apply": after_apply,
        }
