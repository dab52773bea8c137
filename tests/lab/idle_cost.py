#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an idle node of the MicroK8s double costs: CPU per daemon, in % of one core, over a window.

    python tests/lab/idle_cost.py loopback [--nodes 1] [--seconds 60]   (nodes on the host, no root, no LXD)
    python tests/lab/idle_cost.py lab [--seconds 60] [NODE ...]         (the running LXD lab's nodes)
    (make bench measures the lab this way after each lab size's re-runs)

`loopback` starts a cluster of double nodes on 127.x.y.n as the double's cluster tests do
(tests/lab/double/tests/cluster_fixtures.py), with MicroK8s' own args files and the double's lab settings
(no shortened timings), waits until it settles, then measures. `lab` measures the double's daemons inside the
lab's containers (processes `bin/daemon MODULE`, the network part runs inside kubelite), and each whole container
(its cgroup: the double plus the pods' processes, containerd, snapd, sshd, systemd) beside it. Each process's CPU
time (user + system, all its threads, from /proc/PID/stat) is read at the start and the end of the window.
Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")
# Read inside a lab node: {module: cpu seconds} of the double's daemons (bin/daemon MODULE).
SAMPLE = r"""
import json, os
out = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():  # this sampler's own command line names the module too
        continue
    try:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if len(args) > 2 and b'import_module("microk8s_double."' in b" ".join(args):  # bin/daemon MODULE
        module = args[-2].decode()
        out[module] = out.get(module, 0) + (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
print(json.dumps(out))
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def container_cpu_seconds(node: str, cgroups: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPU seconds of a lab container's cgroup (LXD's lxc.payload.NODE; cgroup v2 or v1's cpuacct), None if absent."""
    unified = cgroups / f"lxc.payload.{node}" / "cpu.stat"
    legacy = cgroups / "cpuacct" / f"lxc.payload.{node}" / "cpuacct.usage"
    try:
        if unified.exists():
            fields = dict(line.split() for line in unified.read_text().splitlines())
            return int(fields["usage_usec"]) / 1e6
        return int(legacy.read_text()) / 1e9
    except (OSError, KeyError, ValueError):
        return None


def report(rows: dict[str, dict[str, float]], seconds: float, whole: dict[str, float] | None = None) -> None:
    """rows: node -> {daemon: CPU seconds used in the window}; whole: node -> its container's CPU seconds."""
    total = 0.0
    for node, daemons in rows.items():
        used = sum(daemons.values())
        total += used
        parts = ", ".join(f"{name} {100 * s / seconds:.2f}" for name, s in sorted(daemons.items()))
        container = f"; whole node {100 * whole[node] / seconds:.2f} %" if whole and node in whole else ""
        print(f"  {node}: {100 * used / seconds:.2f} % of a core  ({parts}){container}")
    share = 100 * total / seconds
    print(f"  all {len(rows)} node(s): {share:.2f} % of a core, {share / max(1, len(rows)):.2f} a node (aim < 2)")
    if whole:
        share = 100 * sum(whole.values()) / seconds
        print(f"  whole nodes (the double, pods, containerd, snapd, sshd): {share:.2f} % of a core in all")


def loopback(nodes: int, seconds: float, settle: float) -> None:
    sys.path[:0] = [str(HERE / "double"), str(HERE / "double" / "tests")]
    from cluster_fixtures import clusters

    with tempfile.TemporaryDirectory() as tmp, clusters(Path(tmp)) as make:
        # MicroK8s' own timings ({} = no shortened args) and the datastore's real rebalance period.
        cluster = make(args={}, rebalance_interval=30, request_timeout=10)
        cluster.new_node()
        cluster.grow(nodes - 1)
        time.sleep(settle)
        pids = {(n.hostname, d.module): d.process.pid for n in cluster.nodes for d in n.daemons}
        before = {key: cpu_seconds(pid) for key, pid in pids.items()}
        started = time.monotonic()
        time.sleep(seconds)
        after = {key: cpu_seconds(pid) for key, pid in pids.items()}
        window = time.monotonic() - started
        rows: dict[str, dict[str, float]] = {}
        for (node, module), used in after.items():
            rows.setdefault(node, {})[module] = used - before[(node, module)]
        print(f"== {nodes} loopback node(s), idle, {window:.0f} s (load average {os.getloadavg()[0]:.2f})")
        report(rows, window)
        sys.stdout.flush()
        cluster.stop()  # os._exit skips the fixtures' cleanup: the daemons and files would outlive this script
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(0)  # skip the fixture's log dump


def lab_sample(node: str) -> dict[str, float]:
    out = subprocess.run(
        ["lxc", "exec", node, "--", "python3", "-c", SAMPLE], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return json.loads(out)


def lab(nodes: list[str], seconds: float) -> None:
    if not nodes:
        listing = subprocess.run(["lxc", "list", "-c", "n", "-f", "csv"], check=True, capture_output=True, text=True)
        nodes = [n for n in listing.stdout.split() if n.startswith("node")]
    before = {n: lab_sample(n) for n in nodes}
    containers = {n: container_cpu_seconds(n) for n in nodes}
    started = time.monotonic()
    time.sleep(seconds)
    after = {n: lab_sample(n) for n in nodes}
    whole = {n: container_cpu_seconds(n) - used for n, used in containers.items() if used is not None}
    window = time.monotonic() - started
    rows = {n: {m: s - before[n].get(m, 0.0) for m, s in after[n].items()} for n in nodes}
    print(f"== lab nodes, {window:.0f} s (host load average {os.getloadavg()[0]:.2f})")
    report(rows, window, whole)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    loop = modes.add_parser("loopback")
    loop.add_argument("--nodes", type=int, default=1)
    loop.add_argument("--seconds", type=float, default=60)
    loop.add_argument("--settle", type=float, default=20, help="seconds to let the cluster settle first")
    labp = modes.add_parser("lab")
    labp.add_argument("--seconds", type=float, default=60)
    labp.add_argument("nodes", nargs="*")
    args = parser.parse_args(argv)
    if args.mode == "loopback":
        loopback(args.nodes, args.seconds, args.settle)
    else:
        lab(args.nodes, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
