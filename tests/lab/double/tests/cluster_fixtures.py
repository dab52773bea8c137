# SPDX-License-Identifier: GPL-3.0-or-later
"""Several double nodes on loopback addresses (127.x.y.<n>, x.y random per cluster), each with its own snap_root;
its daemons run as subprocesses under a small supervisor that restarts them when they exit, as systemd does."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from microk8s_double import agent_client, certs, datastore, default_args, paths, profiles, wire
from microk8s_double.node import Node

PACKAGE_DIR = Path(__file__).resolve().parents[1]
DAEMONS = ("datastore", "agent", "kubelite")
START_TIMEOUT = 60  # s, each of a node's start-up waits
FAST = {
    "rebalance_interval": 1,
    "join_wait": 0,
    "request_timeout": 5,
    "cert_key": "ec",
}
# Short Kubernetes timings for the suite, written into each node's args files after MicroK8s' defaults (last wins);
# "kubelet-config" is the KubeletConfiguration file the kubelet's --config names (the node Lease renewal, every
# quarter of nodeLeaseDurationSeconds, is the heartbeat: 2 s here).
FAST_ARGS = {
    "kubelet": {"node-status-update-frequency": "2s"},
    "kubelet-config": {"nodeLeaseDurationSeconds": "8"},
    "kube-controller-manager": {
        "node-monitor-period": "1s",
        "node-monitor-grace-period": "6s",
        "leader-elect-lease-duration": "6s",
        "leader-elect-renew-deadline": "4s",
        "leader-elect-retry-period": "1s",
    },
}


def free_prefix() -> str:
    """A random 127.x.y subnet whose .1 has the daemons' ports free: suites may run side by side on one host."""
    while True:
        prefix = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}"
        try:
            for port in (25000, 19001, 16443):
                with socket.socket() as probe:
                    probe.bind((f"{prefix}.1", port))
            return prefix
        except OSError:
            continue


def listening(ip: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((ip, port)) == 0


def wait_for(check, timeout: float = 15, what: str = "condition"):
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception as error:
            result, last = None, error
        else:
            last = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last!r})")
        time.sleep(0.1)


class Supervised:
    """One daemon, restarted when it exits (Restart=on-failure) until stopped."""

    def __init__(self, module: str, env: dict, log: Path):
        self.module, self.env, self.log = module, env, log
        self.process: subprocess.Popen | None = None
        self.stopped = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        code = f"import sys, microk8s_double.{self.module} as m; sys.exit(m.main())"
        while True:
            with self.lock, open(self.log, "ab") as log:
                if self.stopped:
                    return
                self.process = subprocess.Popen([sys.executable, "-c", code], env=self.env, stdout=log, stderr=log)
            self.process.wait()
            time.sleep(0.2)

    def kill(self) -> None:
        with self.lock:
            self.stopped = True
            if self.process:
                self.process.kill()


def kill_all(daemons: list[Supervised]) -> None:
    for daemon in daemons:
        daemon.kill()
    for daemon in daemons:
        daemon.thread.join(timeout=5)


class LoopbackNode:
    def __init__(self, cluster: Cluster, number: int):
        self.cluster = cluster
        self.ip = f"{cluster.prefix}.{number}"
        self.hostname = f"node-{number}"
        self.root = cluster.base / self.hostname
        # pod_network host unless a test asks otherwise: nodes sharing the host's namespace must not load kernel
        # tables into it (as root, kube-proxy's and Calico's tables would outlive the test and catch later ones)
        self.settings = dict(
            {**FAST, "pod_network": "host", **cluster.overrides},
            node_ip=self.ip,
            hostname=self.hostname,
            bind_address=self.ip,
            snap_root=str(self.root),
            hosts_file=str(cluster.hosts_file),
        )
        self.conf = self.root / "double.conf"
        self.daemons: list[Supervised] = []
        self.paths = paths.resolve(self.settings)
        self.paths.snap.mkdir(parents=True)
        (self.paths.snap / profiles.PROFILE_FILE).write_text(json.dumps({"version": cluster.profile.version}))
        # The snap's own programs ($SNAP/bin: ctr ...) and its package ($SNAP/lib), as build.py lays them out.
        shutil.copytree(PACKAGE_DIR / "snap" / "bin", self.paths.snap / "bin")
        (self.paths.snap / "lib").mkdir()
        (self.paths.snap / "lib" / "microk8s_double").symlink_to(PACKAGE_DIR / "microk8s_double")
        self.conf.write_text(json.dumps(self.settings))
        self.paths.lock("ha-cluster").parent.mkdir(parents=True)
        self.paths.lock("ha-cluster").touch()
        default_args.write(cluster.profile, self.paths.snap_data / "args")  # what the install hook copies
        for component, flags in cluster.args.items():
            if component == "kubelet-config":
                self.set_kubelet_config(**flags)
            else:
                self.set_args(component, **flags)
        with open(cluster.hosts_file, "a") as hosts:
            hosts.write(f"{self.ip} {self.hostname}\n")

    @property
    def node(self) -> Node:
        return Node(
            settings=self.settings, paths=self.paths, profile=self.cluster.profile, ip=self.ip, hostname=self.hostname
        )

    def start(self) -> LoopbackNode:
        """Start the daemons and wait, each wait bounded (START_TIMEOUT: generous for a busy machine), for what tests
        use at once: a control plane's datastore answering, the agent (and a control plane's API server) listening,
        and a control plane's API serving the namespaces its start-up creates (`default` ...)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNAP")}
        env.update(MICROK8S_DOUBLE_CONF=str(self.conf), PYTHONPATH=str(PACKAGE_DIR))
        self.daemons = [Supervised(name, env, self.root / f"{name}.log") for name in DAEMONS]
        control_plane = not self.paths.lock("clustered.lock").exists()
        if control_plane:  # a worker (joined: clustered.lock) has no datastore of its own
            wait_for(lambda: datastore.local_view(self.node)["nodes"], START_TIMEOUT, f"{self.hostname}'s datastore")
        ports = [25000, 16443] if control_plane else [25000]
        wait_for(lambda: all(listening(self.ip, p) for p in ports), START_TIMEOUT, f"{self.hostname}'s listeners")
        if control_plane:
            wait_for(lambda: api_get(self, "/api/v1/namespaces/default"), START_TIMEOUT, "the default namespace")
        return self

    def kill(self) -> None:
        """Every daemon dies at once (its address then refuses connections at once)."""
        kill_all(self.daemons)

    @contextlib.contextmanager
    def powered_off(self):
        """A power cut as the lab's `lxc stop --force` and a real PC's give it: the daemons die and packets to the
        node's address go unanswered (an iptables DROP, removed on exit), so peers hang until their own timeouts
        instead of being refused. Skips the test where iptables cannot be used (not root)."""
        rule = ["INPUT", "-d", self.ip, "-j", "DROP"]
        if os.geteuid() != 0 or shutil.which("iptables") is None:
            pytest.skip("needs root and iptables to drop the packets of a powered-off node")
        kill_all(self.daemons)
        subprocess.run(["iptables", "-I", *rule], check=True)
        try:
            yield self
        finally:
            subprocess.run(["iptables", "-D", *rule], check=False)

    def set_args(self, component: str, **flags: str) -> None:
        """Edit `args/<component>` as a user would: each flag's lines replaced by `--name=value` (keys with `_` for
        `-`); None removes the flag. Takes effect when kubelite (re)starts."""
        path = self.paths.args(component)
        lines = path.read_text().splitlines() if path.exists() else []
        for key, value in flags.items():
            name = "--" + key.replace("_", "-")
            lines = [line for line in lines if line.split("=", 1)[0].split(" ", 1)[0] != name]
            if value is not None:
                lines.append(f"{name}={value}")
        path.write_text("\n".join(lines) + "\n")

    def set_kubelet_config(self, **fields: str) -> None:
        """Write `args/kubelet-config.yaml` (a KubeletConfiguration with these fields) and name it with the kubelet's
        `--config`, as a user would; takes effect when kubelite (re)starts."""
        lines = ["apiVersion: kubelet.config.k8s.io/v1beta1", "kind: KubeletConfiguration"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self.paths.args("kubelet-config.yaml").write_text("\n".join(lines) + "\n")
        self.set_args("kubelet", config="${SNAP_DATA}/args/kubelet-config.yaml")

    def restart_kubelite(self) -> None:
        """`snap restart microk8s.daemon-kubelite`: the process ends and its supervisor starts it again."""
        daemon = next(d for d in self.daemons if d.module == "kubelite")
        with daemon.lock:
            old = daemon.process
            old.terminate()
        old.wait(timeout=10)
        wait_for(lambda: daemon.process is not old and daemon.process.poll() is None, what="kubelite restarted")
        if not self.paths.lock("clustered.lock").exists():
            wait_for(lambda: listening(self.ip, 16443), what=f"{self.hostname}'s API server")

    def add_token(self, token: str, ttl: float | None = None) -> None:
        """What `microk8s add-node --token T [--token-ttl S]` stores."""
        line = token if ttl is None else f"{token}|{int(time.time() + ttl)}"
        with open(self.paths.credentials("cluster-tokens.txt"), "a") as tokens:
            tokens.write(line + "\n")

    def fingerprint(self) -> str:
        return certs.fingerprint(self.paths.cert("server.crt").read_text())[:12]

    def join(
        self,
        master: LoopbackNode,
        token: str,
        worker: bool = False,
        fingerprint: str | None = None,
        skip_verify: bool = False,
        port: int = 25000,
    ) -> agent_client.JoinOutcome:
        return agent_client.join(
            self.node, master.ip, port, token, fingerprint or master.fingerprint(), worker, skip_verify
        )

    def roles(self) -> dict[str, str]:
        """address -> role as this node's status would show them."""
        return {n["address"]: n["role"] for n in datastore.local_view(self.node)["nodes"]}

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.root.glob("*.log")))


class Cluster:
    def __init__(self, base: Path, profile: profiles.Profile, args: dict | None = None, **overrides):
        """`args`: {component: {flag: value}} written into every node's args files over MicroK8s' defaults (None:
        the suite's short timings, FAST_ARGS; {}: MicroK8s' own defaults); `overrides`: the double's settings."""
        self.base, self.profile, self.overrides = base, profile, overrides
        self.args = FAST_ARGS if args is None else args
        base.mkdir(parents=True)
        self.hosts_file = base / "hosts"
        self.hosts_file.write_text("127.0.0.1 localhost\n")
        self.prefix = free_prefix()
        self.nodes: list[LoopbackNode] = []
        self.tokens = 0

    def new_node(self) -> LoopbackNode:
        node = LoopbackNode(self, len(self.nodes) + 1)
        self.nodes.append(node)
        return node.start()

    def token(self) -> str:
        self.tokens += 1
        return f"{self.tokens:032x}"

    def grow(self, count: int, worker: bool = False) -> list[LoopbackNode]:
        """Start `count` more nodes and join each to the first one with a fresh single-use token."""
        first = self.nodes[0] if self.nodes else self.new_node()
        added = []
        while len(added) < count:
            node = self.new_node()
            token = self.token()
            first.add_token(token)
            outcome = node.join(first, token, worker=worker)
            assert outcome.ok, outcome
            added.append(node)
        return added

    def stop(self) -> None:
        kill_all([daemon for node in self.nodes for daemon in node.daemons])


@contextlib.contextmanager
def clusters(base: Path):
    """make(version, args=None, **settings) -> a new empty Cluster under `base`; every node is killed afterwards and the
    daemons' logs printed (pytest shows them when a test fails)."""
    made: list[Cluster] = []

    def make(version: str = "1.28", args: dict | None = None, **overrides) -> Cluster:
        cluster = Cluster(base / f"cluster-{len(made)}", profiles.for_track(version), args, **overrides)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()
            for node in cluster.nodes:
                print(f"==== {node.hostname}\n{node.logs()}")


def api_get(node: LoopbackNode, path: str, table: bool = False, token: str | None = None):
    """GET from the node's API server as kubectl does, with the token of `microk8s config` and its CA."""
    context = ssl.create_default_context(cafile=str(node.paths.cert("ca.crt")))
    token = token or certs.admin_token(node.node)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if not token and certs.admin_cert(node.node):
        context.load_cert_chain(*certs.admin_cert(node.node))  # 1.28+: the admin's x509 client certificate
    if table:
        headers["Accept"] = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    return wire.call(node.ip, 16443, "GET", path, context=context, headers=headers)


def kubeconfig(node: LoopbackNode) -> Path:
    """`microk8s config`: client.config with 127.0.0.1 replaced by the node's address."""
    path = node.root / "kubeconfig"
    path.write_text(node.paths.credentials("client.config").read_text().replace("127.0.0.1", node.ip))
    return path
