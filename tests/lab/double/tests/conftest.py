# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the double's contract suite: one fresh node (temp snap_root) per test, the CLI as a subprocess.

No LXD, no root paths, no network beyond loopback: settings point every path into a temp dir, the cluster code is
replaced by a scenario (fake_cluster.py) and snapctl/snap/systemctl/hostname by recording stand-ins on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DOUBLE = HERE.parent
sys.path.insert(0, str(DOUBLE))

import host_network  # noqa: E402
from microk8s_double import profiles  # noqa: E402

VERSIONS = ["1.20", "1.24", "1.28", "1.32"]
READY = [{"name": "node-1", "status": "Ready", "internal_ip": "127.0.0.1"}]
STAND_INS = {
    "snapctl": 'echo "snapctl $*" >> "$STAND_IN_LOG"',
    "snap": 'echo "snap $*" >> "$STAND_IN_LOG"',
    # `systemctl is-enabled iscsid` answers ISCSID_STATE (default disabled: exit 1; enabled, static...: exit 0)
    "systemctl": 'echo "systemctl $*" >> "$STAND_IN_LOG"; [ "$2" = iscsid ] || exit 3; '
    'echo "${ISCSID_STATE:-disabled}"; [ "${ISCSID_STATE:-disabled}" != disabled ] || exit 1',
    # lsmod as kmod's prints /proc/modules; LSMOD_MODULES names the loaded ones
    "lsmod": 'echo "Module                  Size  Used by"; for m in $LSMOD_MODULES; do echo "$m 53248  0"; done',
    "hostname": '[ "$1" = -I ] && echo "127.0.0.1 10.77.0.9 fd00::9" || echo node-1',
}


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Node:
    """One node of the double: its settings, files, cluster scenario and a `run(*argv)` for the CLI."""

    def __init__(self, root: Path, version: str) -> None:
        self.root = root
        self.profile = profiles.for_track(version)
        self.snap = root / "snap" / "microk8s" / "current"
        self.data = root / "var" / "snap" / "microk8s" / "current"
        self.common = root / "var" / "snap" / "microk8s" / "common"
        self.scenario_file = root / "scenario.json"
        self.bin = root / "bin"
        self.snap.mkdir(parents=True)
        (self.snap / "profile.json").write_text(json.dumps({"version": self.profile.version}))
        # The snap's own programs ($SNAP/bin: ctr ...) and its package ($SNAP/lib), as build.py lays them out.
        shutil.copytree(DOUBLE / "snap" / "bin", self.snap / "bin")
        (self.snap / "lib").mkdir()
        (self.snap / "lib" / "microk8s_double").symlink_to(DOUBLE / "microk8s_double")
        settings = {
            "snap_root": str(root),
            "node_ip": "127.0.0.1",
            "hostname": "node-1",
            "addon_delay": 0,
            "join_wait": 0,
            "ports": {"dqlite": 1, "apiserver": 2, "cluster_agent": 25000},
        }
        (root / "settings.json").write_text(json.dumps(settings))
        self.bin.mkdir()
        for name, body in STAND_INS.items():
            (self.bin / name).write_text(f"#!/bin/sh\n{body}\n")
            (self.bin / name).chmod(0o755)
        self.env = dict(
            os.environ,
            MICROK8S_DOUBLE_CONF=str(root / "settings.json"),
            PYTHONPATH=str(DOUBLE),
            FAKE_CLUSTER=str(self.scenario_file),
            STAND_IN_LOG=str(root / "stand-ins.log"),
            PATH=f"{self.bin}:{os.environ['PATH']}",
            LC_ALL="C",
        )
        for key in ("SNAP", "SNAP_DATA", "SNAP_COMMON", "SNAP_REVISION"):
            self.env.pop(key, None)
        self.scenario({"nodes": READY, "members": [{"address": "127.0.0.1:19001", "role": "voter"}]})

    def install(self, installed: Path) -> None:
        """The install hook once per version (certificates are slow), then a copy of its result per node."""
        if not installed.exists():
            subprocess.run([sys.executable, "-P", "-m", "microk8s_double.commands.setup"], env=self.env, check=True)
            shutil.copytree(self.root / "var", installed)
        else:
            shutil.copytree(installed, self.root / "var", dirs_exist_ok=True)

    @property
    def minor(self) -> int:
        return self.profile.minor

    def scenario(self, scenario: dict) -> None:
        self.scenario_file.write_text(json.dumps(scenario))

    def lock(self, name: str) -> Path:
        return self.data / "var" / "lock" / name

    def calls(self) -> list:
        log = Path(f"{self.scenario_file}.calls")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def stand_in_log(self) -> list[str]:
        log = self.root / "stand-ins.log"
        return log.read_text().splitlines() if log.exists() else []

    def run(self, *argv: str, stdin: str = "", **env: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-P", str(HERE / "fake_cluster.py"), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=dict(self.env, **env),
            timeout=60,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session", autouse=True)
def host_network_left_as_found(request, tmp_path_factory):
    """As root, a cluster test's nodes on loopback run their network loops in the host's own namespace (kube-proxy's
    table, Calico's VXLAN device and tables, the service CIDR's local route): the suite removes what it added, so the
    host (and the LXD lab a later `make` step builds on it) is left as the suite found it. Under pytest-xdist each
    worker has a session of its own: the first worker in records the host, the last one out cleans up (a worker done
    early must not pull pod namespaces or tables from under the other worker's running tests)."""
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        yield
        return
    if not hasattr(request.config, "workerinput"):  # no xdist: this process is the whole suite
        before = host_network.record()
        yield
        host_network.remove_added(before)
        return
    shared = tmp_path_factory.getbasetemp().parent / "host-network.json"  # one per run, shared by its workers
    host_network.first_in(shared, host_network.record)
    yield
    before = host_network.last_out(shared)
    if before is not None:
        host_network.remove_added(before)


@pytest.fixture(scope="session")
def installs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("installs")


@pytest.fixture
def make_node(tmp_path, installs):
    """A freshly installed node of one version: make_node("1.30") (a name when one test needs two of a version)."""

    def make(version: str, name: str = "") -> Node:
        made = Node(tmp_path / (name or version), version)
        made.install(installs / version)
        return made

    return make


@pytest.fixture(params=VERSIONS)
def node(request, make_node) -> Node:
    return make_node(request.param)
