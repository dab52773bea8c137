# SPDX-License-Identifier: GPL-3.0-or-later
"""`daemon-kubelite`: the node's kubelet and, on control-plane nodes, the API server on :16443 and the controllers.

Every node posts its Node object (heartbeat) to the API server through kubeclient: control planes to their own,
workers to a control plane of `args/traefik/provider.yaml` (as apiserver-proxy balances). Loops in threads:
- the heartbeat, every `heartbeat_interval`;
- on control planes, the controllers: every `controller_interval` (default 1 s) the node tries to acquire or renew
  the Lease `kube-system/kube-controller-manager` (controllers/lease.py, `lease_duration`, default 15 s) and, while
  it holds it, runs `sync(client[, node])` of every module of the `controllers` package that has one;
- on every node, `kubelet.sync(node)` and `network.sync(node)` when those packages provide them.
A failing round is logged and retried by the next one. When a join turns the node into a worker (or `leave` back)
the daemon exits non-zero and its supervisor (systemd through snapd) restarts it in the new role.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import threading
import time
from collections.abc import Callable

from . import apiserver, certs, datastore, nodes
from . import node as node_module
from .kubeclient import ApiError, KubeClient
from .node import Node

PACKAGE = __name__.rsplit(".", 1)[0]


def post_heartbeat(client: KubeClient, node: Node, worker: bool) -> None:
    """Register the Node object, or refresh its labels and status (spec, e.g. cordon or podCIDR, is left alone)."""
    posted = nodes.heartbeat(node, worker)
    if client.get("nodes", node.hostname) is None:
        client.create("nodes", posted)
        return
    client.patch("nodes", node.hostname, {"metadata": {"labels": posted["metadata"]["labels"]}})
    client.patch("nodes", node.hostname, {"status": posted["status"]}, subresource="status")


def list_nodes(node: Node) -> list[dict]:
    """The rows of `kubectl get nodes -o wide` (name, status, roles, age, version, internal_ip, ...)."""
    found = datastore.execute(node, [{"op": "list", "prefix": datastore.NODE_PREFIX}])[0]
    grace = node.setting("node_grace_period", 40)
    return [nodes.summary(nodes.with_liveness(o, grace)) for _key, o in sorted(found.items())]


def optional(module: str):
    """A part of the double that may not exist (yet): the module, or None."""
    try:
        return importlib.import_module(f"{PACKAGE}.{module}")
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith(f"{PACKAGE}.{module.split('.')[0]}"):
            return None
        raise


def controller_syncs() -> list[Callable]:
    package = optional("controllers")
    if package is None:
        return []
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.name != "lease")
    modules = [importlib.import_module(f"{package.__name__}.{name}") for name in names]
    return [module.sync for module in modules if callable(getattr(module, "sync", None))]


def call(sync: Callable, *args) -> None:
    """`sync` with as many of `args` as it takes; a failure is logged, the next round retries."""
    try:
        sync(*args[: len(inspect.signature(sync).parameters)])
    except Exception as error:  # one broken part or round must not stop the others
        print(f"{sync.__module__}.sync failed: {error!r}", file=sys.stderr, flush=True)


def run_controllers(node: Node) -> None:
    lease = importlib.import_module(f"{PACKAGE}.controllers.lease")
    election = lease.Election(KubeClient.for_node(node), node.hostname, node.setting("lease_duration", 15))
    syncs = controller_syncs()
    interval = node.setting("controller_interval", 1)
    while True:
        try:
            client = election.client = KubeClient.for_node(node)  # a join replaces the CA and token
        except OSError as error:  # credentials being replaced by a join or leave
            print(f"controllers: {error}", file=sys.stderr, flush=True)
        else:
            if election.step():
                for sync in syncs:
                    call(sync, client, node)
        time.sleep(interval)


def run_node_parts(node: Node) -> None:
    parts = [getattr(module, "sync", None) for module in (optional("kubelet"), optional("network")) if module]
    interval = node.setting("controller_interval", 1)
    while True:
        for sync in [p for p in parts if callable(p)]:
            call(sync, node)
        time.sleep(interval)


def loop(target: Callable, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def main() -> int:
    node = node_module.current()
    certs.ensure(node)
    worker = datastore.is_worker(node)
    if not worker:
        apiserver.serve(node)
        loop(run_controllers, node)
    loop(run_node_parts, node)
    namespaces_done = worker
    interval = node.setting("heartbeat_interval", 10)
    while datastore.is_worker(node) == worker:
        try:
            if not namespaces_done:
                apiserver.bootstrap_namespaces(node)
                namespaces_done = True
            post_heartbeat(KubeClient.for_node(node), node, worker)  # a join replaces the CA and token
        except (datastore.DatastoreError, ApiError, OSError) as error:
            print(f"heartbeat failed: {error}", file=sys.stderr, flush=True)
        time.sleep(interval)
    print("node role changed, restarting", file=sys.stderr, flush=True)
    return 1
