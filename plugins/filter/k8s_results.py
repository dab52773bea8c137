# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure filters over kubernetes.core results, so that one k8s run applies a list of objects and one k8s_info run
waits for those that are not Ready yet (instead of one module run per object, each a new Python process); and the
drift of desired objects from one `microk8s kubectl get` on a node (node_info's `kubectl`), without a kubeconfig on
the controller."""

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.microk8s.plugins.module_utils._k8s_drift import drift_entry, identity


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


def rolled_out(deployment, replicas):
    """Whether a Deployment has rolled out: its controller saw its latest spec (status.observedGeneration >=
    metadata.generation; a status without metadata, as after_apply gives for an unchanged object, counts from 0) and
    exactly `replicas` replicas exist, all of the current template and available."""
    obj = deployment or {}
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation") or 0
    wanted = int(replicas)
    return status.get("observedGeneration", -1) >= generation and all(
        status.get(count, 0) == wanted for count in ("replicas", "updatedReplicas", "availableReplicas")
    )


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


def _group(who):
    """The API group of an identity ("" for the core group's v1)."""
    return who["api_version"].rpartition("/")[0]


def _key(obj):
    """Which object a definition or a live object is: (group, kind, namespace, name)."""
    who = identity(obj)
    return (_group(who), who["kind"], who["namespace"] or "", who["name"])


def _resource(who):
    """kubectl's KIND[.GROUP]/NAME of an object (the group keeps kinds of the same name apart)."""
    group = _group(who)
    return "%s%s/%s" % (who["kind"].lower(), "." + group if group else "", who["name"])


def get_args(definitions):
    """node_info `kubectl` argument lists that read the desired objects: one `get` per namespace (`-n`), and one for
    the objects without a namespace (cluster-scoped), in the order the namespaces first appear."""
    by_namespace = {}
    for definition in definitions or []:
        who = identity(definition)
        by_namespace.setdefault(who["namespace"] or "", []).append(_resource(who))
    return [names + (["-n", namespace] if namespace else []) for namespace, names in by_namespace.items()]


def _live_objects(reads):
    """{(group, kind, namespace, name): object} of every object the `kubectl get` reads printed, and whether every
    read answered (rc 0, or 1 with only NotFound errors: kubectl prints what it found and fails for the rest)."""
    found, answered = {}, True
    for read in reads or []:
        errors = [line for line in (read.get("stderr") or "").splitlines() if line.strip()]
        if read.get("rc") != 0 and (
            read.get("rc") is None or not errors or not all("(NotFound)" in line for line in errors)
        ):
            answered = False
        try:
            printed = json.loads(read.get("stdout") or "{}")
        except ValueError:
            answered = False
            continue
        for obj in _items(printed):
            found[_key(obj)] = obj
    return found, answered


def drift_from(definitions, reads):
    """k8s_drift's entries (see the lookup) from node_info's `kubectl` results of get_args(definitions): an object
    the reads did not print is missing when every read answered, else unreadable; either way it is applied."""
    found, answered = _live_objects(reads)
    return _drift(definitions, lambda definition: found.get(_key(definition)), "missing" if answered else "unreadable")


def drift_against(definitions, objects):
    """k8s_drift's entries from live objects already read (e.g. kubernetes.core.k8s's lookup of one kind in a
    namespace, whose list items carry no kind or apiVersion: such an item is taken as the definition's kind, matched
    by namespace and name); a definition none of them is counts as missing."""
    found = {}
    for obj in objects or []:
        metadata = obj.get("metadata") or {}
        found[(obj.get("kind"), metadata.get("namespace") or "", metadata.get("name"))] = obj

    def live_of(definition):
        who = identity(definition)
        where = (who["namespace"] or "", who["name"])
        listed_item = found.get((None, *where))
        if listed_item is not None:
            listed_item = {"apiVersion": definition.get("apiVersion"), "kind": who["kind"], **listed_item}
        return found.get((who["kind"], *where)) or listed_item

    return _drift(definitions, live_of, "missing")


def _drift(definitions, live_of, reason_when_absent):
    """A drift entry per definition, compared with live_of(definition) (None: absent, applied for that reason)."""
    entries = []
    for definition in definitions or []:
        live = live_of(definition)
        if live is None:
            entries.append(drift_entry(definition, reason=reason_when_absent))
        else:
            entries.append(drift_entry(definition, live))
    return entries


def listed(read):
    """The objects one node_info `kubectl get` read printed (a List's items, or the one object). A read that did not
    answer fails here with kubectl's message: a plan made from nothing would delete or create what it should not."""
    read = read or {}
    if read.get("rc") != 0:
        raise AnsibleFilterError(
            "microk8s kubectl get %s failed (rc %s): %s"
            % (" ".join(map(str, read.get("args") or [])), read.get("rc"), (read.get("stderr") or "").strip())
        )
    try:
        printed = json.loads(read.get("stdout") or "{}")
    except ValueError as exc:
        raise AnsibleFilterError("microk8s kubectl get printed no JSON: %s" % exc) from exc
    return _items(printed)


def _items(printed):
    """The objects of what `kubectl get -o json` printed: a List's items, or the one object."""
    return printed.get("items", [printed] if printed.get("kind") not in (None, "List") else [])


class FilterModule:
    def filters(self):
        return {
            "k8s_applied": applied,
            "k8s_to_wait_for": to_wait_for,
            "k8s_all_ready": all_ready,
            "k8s_rolled_out": rolled_out,
            "k8s_drifted": drifted,
            "k8s_after_apply": after_apply,
            "k8s_get_args": get_args,
            "k8s_drift_from": drift_from,
            "k8s_drift_against": drift_against,
            "k8s_listed": listed,
        }
