# SPDX-License-Identifier: GPL-3.0-or-later
"""Events in both API versions: stored as core v1 Events (what `kubectl describe` lists with an
`involvedObject.*` field selector), converted to and from events.k8s.io/v1 as the real API server does.
Simplified: events never expire (real: after an hour, `--event-ttl`)."""

from __future__ import annotations

CORE_TO_NEW = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
NEW_TO_CORE = {new: core for core, new in CORE_TO_NEW.items()}


def renamed(obj: dict, names: dict[str, str], kind_version: str) -> dict:
    result = {names.get(key, key): value for key, value in obj.items()}
    result["apiVersion"] = kind_version
    return result


def to_new(event: dict) -> dict:
    """A stored (core v1) Event as events.k8s.io/v1 shows it."""
    return renamed(event, CORE_TO_NEW, "events.k8s.io/v1")


def to_core(event: dict) -> dict:
    """An events.k8s.io/v1 Event as stored."""
    return renamed(event, NEW_TO_CORE, "v1")
