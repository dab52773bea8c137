# SPDX-License-Identifier: GPL-3.0-or-later
"""`daemon-kubelite`: the node's kubelet heartbeat and, on control-plane nodes, the API server on :16443.

Control planes post their Node object straight to the datastore; workers post it to a control plane's API server
(`args/traefik/provider.yaml`, as apiserver-proxy balances). When a join turns the node into a worker (or `leave`
back) the daemon exits non-zero and its supervisor (systemd through snapd) restarts it in the new role.
"""

from __future__ import annotations

import ssl
import sys
import time

from . import apiserver, certs, datastore, nodes, wire
from . import node as node_module
from .kubeclient import control_planes
from .node import Node


def post_heartbeat(node: Node, worker: bool) -> None:
    posted = nodes.heartbeat(node, worker)
    if not worker:
        apiserver.store_node(node, posted)
        return
    context = ssl.create_default_context(cafile=str(node.paths.cert("ca.crt")))
    context.check_hostname = False
    headers = {"Authorization": f"Bearer {certs.admin_token(node)}", "Content-Type": "application/json"}
    for endpoint in control_planes(node):
        host, port = endpoint.rsplit(":", 1)
        try:
            wire.call(
                host,
                int(port),
                "PUT",
                f"/api/v1/nodes/{node.hostname}",
                posted,
                context=context,
                headers=headers,
                timeout=node.setting("request_timeout", 10),
            )
            return
        except (OSError, wire.RemoteError):
            continue
    raise datastore.DatastoreError("no control plane answered")


def list_nodes(node: Node) -> list[dict]:
    """The rows of `kubectl get nodes -o wide` (name, status, roles, age, version, internal_ip, ...)."""
    found = datastore.execute(node, [{"op": "list", "prefix": datastore.NODE_PREFIX}])[0]
    grace = node.setting("node_grace_period", 40)
    return [nodes.summary(nodes.with_liveness(o, grace)) for _key, o in sorted(found.items())]


def main() -> int:
    node = node_module.current()
    certs.ensure(node)
    worker = datastore.is_worker(node)
    if not worker:
        apiserver.serve(node)
    namespaces_done = worker
    interval = node.setting("heartbeat_interval", 10)
    while datastore.is_worker(node) == worker:
        try:
            if not namespaces_done:
                apiserver.bootstrap_namespaces(node)
                namespaces_done = True
            post_heartbeat(node, worker)
        except datastore.DatastoreError as error:
            print(f"heartbeat failed: {error}", file=sys.stderr, flush=True)
        time.sleep(interval)
    print("node role changed, restarting", file=sys.stderr, flush=True)
    return 1
