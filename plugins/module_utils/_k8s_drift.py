# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: whether a live Kubernetes object already holds everything a desired definition says,
# so that a role applies only the objects that differ (each kubernetes.core.k8s run is a Python process of its own).
from __future__ import annotations


def contains(live, desired) -> bool:
    """Whether `live` holds every field `desired` sets, with the same value.

    Maps: every key of `desired` is in `live` and holds what it says (keys the API server added are ignored).
    Lists: the same length, item by item (a list a merge would reorder, shorten or extend counts as different).
    Scalars: equal and of the same kind (True is not 1, "80" is not 80). A key `desired` sets to None must be
    absent or None in `live`. Anything in doubt counts as different: applying an object that did not differ
    changes nothing, skipping one that did would leave it wrong."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(
            (live.get(key) is None) if value is None else (key in live and contains(live[key], value))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(one_live, one_desired) for one_live, one_desired in zip(live, desired))
        )
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and desired == live
    return desired == live


def identity(definition) -> dict:
    """The apiVersion, kind, name and namespace that say which object a definition is."""
    metadata = (definition or {}).get("metadata") or {}
    return {
        "api_version": (definition or {}).get("apiVersion") or "v1",
        "kind": (definition or {}).get("kind"),
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
    }


def drift_entry(definition, live=None, reason=None) -> dict:
    """One object's drift: the desired definition, whether it must be applied, why, and the live object's status.
    With `live` (the object as the API holds it) and no `reason`: drifted when it does not hold the definition."""
    if reason is None:
        drifted = not contains(live, definition)
        reason = "differs" if drifted else "in sync"
    else:
        drifted = True
    return {"definition": definition, "drifted": drifted, "reason": reason, "status": (live or {}).get("status") or {}}
