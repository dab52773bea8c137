#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark site.yml against the LXD lab: first converge and no-op re-runs, for 4 and 8 nodes.

    python tests/lab/bench.py [--nodes 4 8] [--profile 1.28] [--reruns 3]      (make bench)
    python tests/lab/bench.py --existing [--project DIR]      re-runs only, on the lab that is up (DIR: another
                                                               checkout's site.yml, e.g. a baseline to compare)

Prints, per lab size: wall time of the first converge and the median of the no-op re-runs, time per play (phase),
tasks per host on the no-op path (run: ok/changed/failed; skipped apart), the machine's load average, and the
double's simulated waits (its `join_wait` and `addon_delay` settings) apart from orchestration time; then the ratio
of the 8-node to the 4-node re-run. Numbers are printed, never asserted: they depend on the machine. Aims (issue 8):
a no-op re-run of 4 nodes <= 12 s on an idle machine, <= 15 tasks per host, 8 nodes <= 1.3 x 4 nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import ansible_runner

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
RUN_EVENTS = ("runner_on_ok", "runner_on_failed")


def converge(label, project=REPO):
    """Run site.yml through ansible-runner; return a dict of wall seconds, per-play seconds, tasks run and skipped
    per host, the changed count and the load average at the start."""
    data = REPO / "build" / "bench" / label
    data.mkdir(parents=True, exist_ok=True)
    plays, run, skipped, current, started = {}, {}, {}, None, time.monotonic()
    play_started = started
    load = os.getloadavg()[0]

    def on_event(event):
        nonlocal current, play_started
        now = time.monotonic()
        if event.get("event") == "playbook_on_play_start":
            if current:
                plays[current] = plays.get(current, 0.0) + now - play_started
            current, play_started = event["event_data"]["play"], now
        if event.get("event") in (*RUN_EVENTS, "runner_on_skipped"):
            host = event["event_data"].get("host", "?")
            counts = skipped if event["event"] == "runner_on_skipped" else run
            counts[host] = counts.get(host, 0) + 1
        return True

    result = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(project),
        playbook="site.yml",
        inventory=str(REPO / "inventories" / "lab"),
        envvars={"ANSIBLE_CONFIG": str(pathlib.Path(project) / "ansible.cfg")},
        event_handler=on_event,
        quiet=True,
    )
    wall = time.monotonic() - started
    if current:
        plays[current] = plays.get(current, 0.0) + time.monotonic() - play_started
    if result.rc != 0:
        raise SystemExit("site.yml failed during %s (rc %s): see %s" % (label, result.rc, data))
    changed = sum((result.stats or {}).get("changed", {}).values())
    return {"wall": wall, "plays": plays, "run": run, "skipped": skipped, "changed": changed, "load": load}


def simulated_waits(nodes, settings):
    """Seconds the double sleeps on purpose: one join wait per joining node, one addon delay per addon enabled."""
    addons = 3  # dns, ingress, metallb (ha_join's defaults in the lab)
    return (nodes - 1) * settings.get("join_wait", 10) + addons * settings.get("addon_delay", 2)


def per_host(counts):
    return ", ".join("%s=%d" % kv for kv in sorted(counts.items()))


def report_reruns(nodes, reruns):
    """Print the median no-op re-run (and each one) with its plays and tasks per host; return the median seconds."""
    median = statistics.median(r["wall"] for r in reruns)
    middle = min(reruns, key=lambda r: abs(r["wall"] - median))
    print(
        "  no-op re-run:   %7.1f s median of %d (%s s; load average %s; changed=%s)"
        % (
            median,
            len(reruns),
            ", ".join("%.1f" % r["wall"] for r in reruns),
            ", ".join("%.1f" % r["load"] for r in reruns),
            "/".join(str(r["changed"]) for r in reruns),
        )
    )
    for play, seconds in middle["plays"].items():
        print("    %-50s %7.1f s" % (play, seconds))
    print("  no-op tasks per host, run: %s" % per_host(middle["run"]))
    print("  no-op tasks per host, skipped: %s" % per_host(middle["skipped"]))
    print("  (aims: <= 12 s for 4 nodes on an idle machine, <= 15 tasks run per host)")
    return median


def report_first(nodes, first, settings):
    waits = simulated_waits(nodes, settings)
    print("== %d nodes" % nodes)
    print(
        "  first converge: %7.1f s  (simulated waits in the double: %.0f s; orchestration ~%.1f s; load average %.1f)"
        % (first["wall"], waits, first["wall"] - waits, first["load"])
    )
    for play, seconds in first["plays"].items():
        print("    %-50s %7.1f s" % (play, seconds))
    print("  tasks per host (first run, changed=%d): %s" % (first["changed"], per_host(first["run"])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--profile", default="1.28")
    parser.add_argument("--reruns", type=int, default=3, help="no-op re-runs per lab size (the median is reported)")
    parser.add_argument("--existing", action="store_true", help="only the re-runs, on the lab that is up")
    parser.add_argument("--project", default=str(REPO), help="the checkout whose site.yml runs (default: this one)")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    if args.existing:
        label = pathlib.Path(args.project).name
        print("== the running lab, %s" % args.project)
        report_reruns(0, [converge("%s-rerun-%d" % (label, i), args.project) for i in range(args.reruns)])
        return 0
    results = {}
    for nodes in args.nodes:
        subprocess.run([*LAB, "down"], check=True)
        subprocess.run([*LAB, "up", "--nodes", str(nodes), "--profile", args.profile], check=True)
        settings = json.loads(
            subprocess.run(
                [*LAB, "exec", "node1", "--", "cat", "/etc/microk8s-double.conf"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            or "{}"
        )
        report_first(nodes, converge("%d-first" % nodes), settings)
        results[nodes] = report_reruns(nodes, [converge("%d-rerun-%d" % (nodes, i)) for i in range(args.reruns)])
    if len(results) > 1:
        smallest, largest = min(results), max(results)
        print(
            "no-op re-run %d nodes / %d nodes: %.2f (aim: <= 1.3)"
            % (largest, smallest, results[largest] / results[smallest])
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
