# SPDX-License-Identifier: GPL-3.0-or-later
"""`daemon-kubelite`: the node's kubelet and, on control-plane nodes, the API server on :16443 and the controllers.

Timings come from the args files real kubelite reads (`$SNAP_DATA/args/kube-controller-manager`, `kubelet`,
`kube-apiserver`; kubeargs.py), read once at start: an edit applies after `snap restart microk8s.daemon-kubelite`.
Every node registers its Node object and keeps its heartbeats (heartbeat.py) through kubeclient: control planes to
their own API server, workers to a control plane of `args/traefik/provider.yaml` (as apiserver-proxy balances). Loops
in threads, each asleep until it has something to do (the datastore's change feed, `datastore.wait_change`, wakes
them):
- the heartbeats (heartbeat.py): the node Lease renewal of a real kubelet (every quarter of nodeLeaseDurationSeconds,
  10 s by default; only a KubeletConfiguration file named by the kubelet's `--config` can change it) and its status
  post, read every `--node-status-update-frequency` and posted when changed or every nodeStatusReportFrequency;
- on control planes, the controllers: every `--leader-elect-retry-period` the node acquires or renews the Lease
  `kube-system/kube-controller-manager` (controllers/lease.py; its requests time out after
  `--leader-elect-renew-deadline`, as kube-controller-manager's leader-election client) and, while it leads, runs
  `sync(client[, node[, timings]])` of every module of the `controllers` package that has one: when their objects
  changed, and at least every `--node-monitor-period`;
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
from .auth import authz
from .heartbeat import Heartbeat
from .kubeclient import ApiError, KubeClient
from .node import Node

PACKAGE = __name__.rsplit(".", 1)[0]
# What wakes the controllers and the kubelet at once. Nodes are left out (every heartbeat changes them): the node
# monitor's pass, every --node-monitor-period, starts a full round when a node's spec, labels or readiness changed.
# The last, microk8s-double: the enabled addons (their provisioners start and stop with them).
CONTROLLED = ["deployments", "replicasets", "statefulsets", "jobs", "cronjobs", "daemonsets", "pods", "services",
              "endpoints", "clusterroles", "certificatesigningrequests", "persistentvolumeclaims", "persistentvolumes",
              "storageclasses", "ingresses", "secrets", "customresourcedefinitions", "certificates",
              "certificaterequests", "issuers", "clusterissuers", "volumeattachments", "microk8s-double"]  # fmt: skip
KUBELET_WATCH = ["pods"]
PLEG_PERIOD = 1.0  # the kubelet's relist period while it runs pods
KUBELET_RESYNC = 10.0  # a kubelet re-lists its pods from the API at least this often (changes wake it at once)
RESYNC_PERIOD = 30.0  # a full controller round at least this often (time-based decisions: progress deadlines...)


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


#: Run first in each round: the node lifecycle controller (in workloads) marks a lost node's pods not ready, and the
#: endpoints controller must see that in the same round. The real controllers share informers and react to each
#: other's writes within milliseconds; in name order, endpoints would wait for the whole next round.
FIRST_CONTROLLERS = ("workloads",)


def controller_modules() -> list:
    """The controller modules (lease apart: the election runs it): FIRST_CONTROLLERS, then the rest in name order."""
    package = optional("controllers")
    if package is None:
        return []
    found = {info.name for info in pkgutil.iter_modules(package.__path__) if info.name != "lease"}
    names = sorted(found, key=lambda name: (name not in FIRST_CONTROLLERS, name))
    return [importlib.import_module(f"{package.__name__}.{name}") for name in names]


def controller_syncs() -> list[Callable]:
    return [module.sync for module in controller_modules() if callable(getattr(module, "sync", None))]


def controller_dues() -> list[Callable]:
    """The controllers' `due()`: the wall-clock time (epoch s) of their next scheduled work, or None (e.g.
    cert-manager's renewal times)."""
    return [module.due for module in controller_modules() if callable(getattr(module, "due", None))]


def next_due(dues: list[Callable]) -> float | None:
    """The earliest scheduled time as a time.monotonic() value, or None."""
    times = [t for t in (due() for due in dues) if t is not None]
    return time.monotonic() + (min(times) - time.time()) if times else None


def call(sync: Callable, *args) -> None:
    """`sync` with as many of `args` as it takes; a failure is logged, the next round retries."""
    try:
        sync(*args[: len(inspect.signature(sync).parameters)])
    except Exception as error:  # one broken part or round must not stop the others
        print(f"{sync.__module__}.sync failed: {error!r}", file=sys.stderr, flush=True)


def run_controllers(node: Node, timings: kubeargs.Timings) -> None:
    lease = importlib.import_module(f"{PACKAGE}.controllers.lease")
    workloads = optional("controllers.workloads")
    election = lease.Election(  # its client gives up after the renew deadline, as kube-controller-manager's does
        KubeClient.for_node(node, timeout=timings.renew_deadline),
        lease.identity(node.hostname),
        timings.lease_duration,
        timings.renew_deadline,
        timings.retry_period,
    )
    syncs, dues = controller_syncs(), controller_dues()
    waker = datastore.Waker(node, CONTROLLED, local=True)
    leading, changed, client, shape = False, True, None, None
    next_election = last_round = last_check = 0.0
    while True:
        now = time.monotonic()
        if now >= next_election:
            next_election = now + timings.retry_period
            try:
                client = KubeClient.for_node(node)  # a join replaces the CA and token
                election.client = KubeClient.for_node(node, timeout=timings.renew_deadline)
            except OSError as error:  # credentials being replaced by a join or leave
                print(f"controllers: {error}", file=sys.stderr, flush=True)
            else:
                was, leading = leading, election.step()
                if was and not leading and workloads:
                    workloads.forget(node.hostname)  # a new term starts the node monitor's clocks afresh
        if leading and client:
            scheduled = next_due(dues)
            full = changed or now - last_round >= RESYNC_PERIOD or (scheduled is not None and now >= scheduled)
            if not full and workloads and now - last_check >= timings.node_monitor_period:
                last_check = now  # between full rounds only the node monitor runs (one list of the nodes)
                try:
                    seen = workloads.monitor_nodes(client, node, timings)
                    full = not workloads.all_ready(seen) or workloads.shape(seen) != shape
                    shape = workloads.shape(seen)
                except (ApiError, OSError) as error:
                    print(f"node monitor: {error}", file=sys.stderr, flush=True)
            if full:
                last_round = last_check = time.monotonic()
                for sync in syncs:
                    call(sync, client, node, timings)
        wake = min(next_election, last_check + timings.node_monitor_period) if leading else next_election
        scheduled = next_due(dues) if leading else None
        wake = min(wake, scheduled) if scheduled is not None else wake
        changed = waker.wait(wake - time.monotonic()) and leading


def run_node_parts(node: Node, worker: bool) -> None:
    kubelet, network = optional("kubelet"), optional("network")
    waker = datastore.Waker(node, KUBELET_WATCH, local=not worker)
    refresh, last_refresh = True, 0.0
    while True:
        if network is not None and callable(getattr(network, "sync", None)):
            call(network.sync, node)
        if kubelet is not None:
            refresh = refresh or time.monotonic() - last_refresh >= KUBELET_RESYNC
            if refresh:
                last_refresh = time.monotonic()
            call(kubelet.sync, node, refresh)
        running = kubelet is not None and kubelet.busy(node)
        refresh = waker.wait(PLEG_PERIOD if running or worker else KUBELET_RESYNC)


def serve_io_engine(node: Node) -> None:
    """The node's mayastor io-engine (replica server on :8420, pool under $SNAP_COMMON/mayastor; it also serves the
    double's Jiva replicas, under $SNAP_COMMON/var/openebs/jiva), always listening: it holds replicas only once a
    provisioner placed some here."""
    ioengine = optional("mayastor.ioengine")
    if ioengine is None:
        return
    try:
        common = node.paths.snap_common
        ioengine.serve(node.bind_address, common / "mayastor", node.port("io_engine"), common / "var/openebs/jiva")
    except OSError as error:
        print(f"io-engine: {error}", file=sys.stderr, flush=True)


def loop(target: Callable, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def main() -> int:
    node = node_module.current()
    try:
        timings = kubeargs.load(node)
        authz.authorization_modes(node)  # kube-apiserver refuses a bad --authorization-mode
        kubeargs.apiserver_gate(node, "MixedProtocolLBService")  # ... and a bad --feature-gates value
    except kubeargs.ArgsError as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        return 1
    certs.ensure(node)
    worker = datastore.is_worker(node)
    if not worker:
        apiserver.serve(node, timings=timings)
        loop(run_controllers, node, timings)
    loop(run_node_parts, node, worker)
    serve_io_engine(node)
    namespaces_done, heart = worker, Heartbeat(node, worker, timings)
    while datastore.is_worker(node) == worker:
        try:
            if not namespaces_done:
                apiserver.bootstrap_namespaces(node)
                apiserver.bootstrap_policy(node)
                apiserver.bootstrap_launch_configuration(node)
                namespaces_done = True
            heart.beat(KubeClient.for_node(node))  # a new client each time: a join replaces the CA and token
        except (datastore.DatastoreError, ApiError, OSError) as error:
            heart.forget()
            print(f"heartbeat failed: {error}", file=sys.stderr, flush=True)
        time.sleep(heart.period)
    print("node role changed, restarting", file=sys.stderr, flush=True)
    return 1
