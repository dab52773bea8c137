# SPDX-License-Identifier: GPL-3.0-or-later
"""The CLI's one door to the cluster code (D2's modules, interface in DESIGN.md).

Readiness is what real `status` checks through kubectl: the API server answers and a node is Ready.
"""

from __future__ import annotations

import time

from microk8s_double import datastore, kubelite
from microk8s_double.commands.common import Context

UNREACHABLE = (OSError, ValueError, datastore.DatastoreError)


def nodes(ctx: Context) -> list[dict]:
    """`kubectl get nodes`; empty when the API server does not answer."""
    try:
        return kubelite.list_nodes(ctx)
    except UNREACHABLE:
        return []


def ready(ctx: Context) -> bool:
    return not ctx.stopped and any(node["status"] == "Ready" for node in nodes(ctx))


def wait_ready(ctx: Context, timeout: int) -> bool:
    """`wait_for_ready`: poll every 2 s; timeout 0 waits forever."""
    deadline = time.monotonic() + timeout
    while not ready(ctx):
        if timeout and time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def datastore_nodes(ctx: Context) -> list[dict]:
    """dqlite's members with their roles; empty when dqlite cannot be queried (status then prints `none`)."""
    return datastore.local_view(ctx)["nodes"]


def ha_formed(members: list[dict]) -> bool:
    return datastore.ha_formed({"nodes": members})
