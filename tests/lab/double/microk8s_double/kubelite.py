# SPDX-License-Identifier: GPL-3.0-or-later
"""`daemon-kubelite`: the node's kubelet and, on control-plane nodes, the API server on :16443 and the controllers.

Timings come from the args files real kubelite reads (`$SNAP_DATA/args/kube-controller-manager`, `kubelet`,
`kube-apiserver`; kubeargs.py), read once at start: an edit applies after `snap restart microk8s.daemon-kubelite`.
Every node posts its Node object (heartbeat) to the API server through kubeclient: control planes to their own,
workers to a control plane of `args/traefik/provider.yaml` (as apiserver-proxy balances). Loops in threads, each
asleep until it has something to do (the datastore's change feed, `datastore.wait_change`, wakes them):
- the heartbeat, every `--node-status-update-frequency` (kubelet, default 10s; it stands for the status update and
  the node Lease renewal of a real kubelet);
- on control planes, the controllers: every `--leader-elect-retry-period` the node acquires or renews the Lease
  `kube-system/kube-controller-manager` (controllers/lease.py) and, while it leads, runs `sync(client[, node[,
  timings]])` of every module of the `controllers` package that has one: when their objects changed, and at least
  every `--node-monitor-period`;
- on every node, `kubelet.sync(node)` (when its pods or node changed; every second while it runs pods, as the
  kubelet's PLEG relists) and `network.sync(node)` (starts the network's own loops).
A failing round is logged and retried by the next one. When a join turns the node into a worker (or `leave` back)
the daemon exits non-zero and its supervisor (systemd through snapd) restarts it in the new role; an args file
kubelite cannot parse stops it with the flag's error, as the real one.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import threading
import time
from collections.abc import Callable

from . import apiserver, certs, datastore, kubeargs, nodes
from . import node as node_module
from .kubeclient import ApiError, KubeClient
from .node import Node

PACKAGE = __name__.rsplit(".", 1)[0]
CONTROLLED = ["deployments", "replicasets", "pods", "minions", "services", "endpoints"]  # what wakes the controllers
KUBELET_WATCH = ["pods", "minions", "services"]
PLEG_PERIOD = 1.0  # the kubelet's relist period while it runs pods
KUBELET_RESYNC = 60.0  # --sync-frequency: a kubelet without pods looks again at least this often


def prefixes(resources: list[str]) -> list[str]:
    return [f"/registry/{name}/" for name in resources]


class Waker:
    """Sleep until the datastore reports a change of some collections, or a timeout; True when something changed.
    Without a datastore to ask (a worker, or no quorum) it just sleeps."""

    def __init__(self, node: Node, resources: list[str], local: bool):
        self.node, self.prefixes, self.local, self.since = node, prefixes(resources), local, -1

    def wait(self, timeout: float) -> bool:
        timeout = max(timeout, 0.0)
        if not self.local:
            time.sleep(timeout)
            return True
        started = time.monotonic()
        try:
            latest = datastore.wait_change(self.node, self.prefixes, self.since, timeout)
        except datastore.DatastoreError:
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
            return True
        changed, self.since = latest != self.since, latest
        return changed


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
    return [nodes.summary(o) for _key, o in sorted(found.items())]


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


def run_controllers(node: Node, timings: kubeargs.Timings) -> None:
    lease = importlib.import_module(f"{PACKAGE}.controllers.lease")
    workloads = optional("controllers.workloads")
    election = lease.Election(
        KubeClient.for_node(node), node.hostname, timings.lease_duration, timings.renew_deadline, timings.retry_period
    )
    syncs = controller_syncs()
    waker = Waker(node, CONTROLLED, local=True)
    leading, changed, client = False, True, None
    next_election = last_round = 0.0
    while True:
        now = time.monotonic()
        if now >= next_election:
            next_election = now + timings.retry_period
            try:
                client = election.client = KubeClient.for_node(node)  # a join replaces the CA and token
            except OSError as error:  # credentials being replaced by a join or leave
                print(f"controllers: {error}", file=sys.stderr, flush=True)
            else:
                was, leading = leading, election.step()
                if was and not leading and workloads:
                    workloads.forget(node.hostname)  # a new term starts the node monitor's clocks afresh
        if leading and client and (changed or now - last_round >= timings.node_monitor_period):
            last_round = time.monotonic()
            for sync in syncs:
                call(sync, client, node, timings)
        wake = min(next_election, last_round + timings.node_monitor_period if leading else next_election)
        changed = waker.wait(wake - time.monotonic()) and leading


def run_node_parts(node: Node, worker: bool) -> None:
    kubelet, network = optional("kubelet"), optional("network")
    parts = [getattr(module, "sync", None) for module in (kubelet, network) if module]
    waker = Waker(node, KUBELET_WATCH, local=not worker)
    while True:
        for sync in [p for p in parts if callable(p)]:
            call(sync, node)
        running = kubelet is not None and getattr(kubelet, "busy", lambda _node: True)(node)
        waker.wait(PLEG_PERIOD if running or worker else KUBELET_RESYNC)


def loop(target: Callable, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def main() -> int:
    node = node_module.current()
    try:
        timings = kubeargs.load(node)
    except kubeargs.ArgsError as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        return 1
    certs.ensure(node)
    worker = datastore.is_worker(node)
    if not worker:
        apiserver.serve(node, timings=timings)
        loop(run_controllers, node, timings)
    loop(run_node_parts, node, worker)
    namespaces_done = worker
    interval = timings.node_status_update_frequency
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
