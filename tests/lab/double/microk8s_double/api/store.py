# SPDX-License-Identifier: GPL-3.0-or-later
"""The key/value operations of the datastore and where the API server sends them.

`apply(state, op)` runs one data operation on a datastore state (`index`, `data`): get, list (by prefix), put,
delete, `index` (the current log index) and `write`, the compare-and-swap the API server needs: it stores or
deletes one object only if the stored one still has the expected resourceVersion, and stamps the object with the
log index the write gets (a cluster-wide increasing resourceVersion, as etcd's revision). `DatastoreStore` sends
operations to the node's datastore daemon (dqlite_server runs `apply` on the leader); `MemoryStore` runs them
in-process for unit tests of the API server.
"""

from __future__ import annotations

import copy
import threading

from .. import datastore
from ..node import Node

DATA_OPS = ("get", "list", "put", "delete", "index", "write")


def apply(state: dict, op: dict):
    """One data operation on `state`; a write batch's changes all get resourceVersion `index + 1`."""
    data, kind = state["data"], op["op"]
    if kind == "get":
        return data.get(op["key"])
    if kind == "list":
        return {k: v for k, v in data.items() if k.startswith(op["prefix"])}
    if kind == "index":
        return state["index"]
    if kind == "put":
        data[op["key"]] = op["value"]
        return None
    if kind == "delete":
        return data.pop(op["key"], None) is not None
    return write(data, state["index"] + 1, op)


def write(data: dict, version: int, op: dict) -> dict:
    """{"op": "write", "key", "value" (None deletes), "expect": resourceVersion | "absent" | None (any)}
    -> {"ok": bool, "current": the stored object before, "value": the stored object after}."""
    current = data.get(op["key"])
    expect = op.get("expect")
    stored_version = (
        current["metadata"].get("resourceVersion")
        if isinstance(current, dict) and isinstance(current.get("metadata"), dict)
        else None
    )
    if (expect == "absent" and current is not None) or (expect not in (None, "absent") and expect != stored_version):
        return {"ok": False, "current": current, "value": None}
    if op["value"] is None:
        data.pop(op["key"], None)
        return {"ok": current is not None, "current": current, "value": None}
    value = copy.deepcopy(op["value"])
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):  # an API object (not a double's own key)
        value["metadata"]["resourceVersion"] = str(version)
    data[op["key"]] = value
    return {"ok": True, "current": current, "value": value}


class DatastoreStore:
    """The cluster's datastore through this node's daemon (raises datastore.DatastoreError without quorum)."""

    def __init__(self, node: Node):
        self.node = node

    def execute(self, ops: list[dict]) -> list:
        return datastore.execute(self.node, ops)


class MemoryStore:
    """The same operations on a state held in memory, for tests of the API server without a datastore daemon."""

    def __init__(self):
        self.state = {"index": 1, "data": {}}
        self.lock = threading.Lock()

    def execute(self, ops: list[dict]) -> list:
        with self.lock:
            state = copy.deepcopy(self.state)
            results = [apply(state, op) for op in ops]
            if state["data"] != self.state["data"]:
                state["index"] += 1
            self.state = state
            return copy.deepcopy(results)
