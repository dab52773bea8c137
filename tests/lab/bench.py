#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark site.yml against the LXD lab: first converge and no-op re-run, for 4 and 8 nodes.

    python tests/lab/bench.py [--nodes 4 8] [--profile 1.28]      (make bench)

Prints, per lab size: wall time of the first converge and of the re-run, time per play (phase), tasks run per host,
and the double's simulated waits (its `join_wait` and `addon_delay` settings) apart from orchestration time.
Numbers are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import ansible_runner

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]


def converge(label):
    """Run site.yml through ansible-runner; return wall seconds, per-play seconds, tasks per host, changed count."""
    data = REPO / "build" / "bench" / label
    data.mkdir(parents=True, exist_ok=True)
    plays, tasks_per_host, current, started = {}, {}, None, time.monotonic()
    play_started = started

    def on_event(event):
        nonlocal current, play_started
        now = time.monotonic()
        if event.get("event") == "playbook_on_play_start":
            if current:
                plays[current] = plays.get(current, 0.0) + now - play_started
            current, play_started = event["event_data"]["play"], now
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            host = event["event_data"].get("host", "?")
            tasks_per_host[host] = tasks_per_host.get(host, 0) + 1
        return True

    run = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook="site.yml",
        inventory=str(REPO / "inventories" / "lab"),
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        event_handler=on_event,
        quiet=True,
    )
    wall = time.monotonic() - started
    if current:
        plays[current] = plays.get(current, 0.0) + time.monotonic() - play_started
    changed = sum((run.stats or {}).get("changed", {}).values())
    if run.rc != 0:
        raise SystemExit("site.yml failed during %s (rc %s): see %s" % (label, run.rc, data))
    return wall, plays, tasks_per_host, changed


def simulated_waits(nodes, settings):
    """Seconds the double sleeps on purpose: one join wait per joining node, one addon delay per addon enabled."""
    addons = 3  # dns, ingress, metallb (ha_join's defaults in the lab)
    return (nodes - 1) * settings.get("join_wait", 10) + addons * settings.get("addon_delay", 2)


def report(nodes, first, rerun, settings):
    wall, plays, tasks, first_changed = first
    print("== %d nodes" % nodes)
    print(
        "  first converge: %7.1f s  (simulated waits in the double: %.0f s; orchestration ~%.1f s)"
        % (wall, simulated_waits(nodes, settings), wall - simulated_waits(nodes, settings))
    )
    for play, seconds in plays.items():
        print("    %-50s %7.1f s" % (play, seconds))
    print(
        "  tasks per host (first run, changed=%d): %s"
        % (first_changed, ", ".join("%s=%d" % kv for kv in sorted(tasks.items())))
    )
    print("  no-op re-run:   %7.1f s  (changed=%d)" % (rerun[0], rerun[3]))
    for play, seconds in rerun[1].items():
        print("    %-50s %7.1f s" % (play, seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--profile", default="1.28")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
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
        first = converge("%d-first" % nodes)
        rerun = converge("%d-rerun" % nodes)
        report(nodes, first, rerun, settings)
        results[nodes] = rerun[0]
    if len(results) > 1:
        smallest, largest = min(results), max(results)
        print("no-op re-run %d nodes / %d nodes: %.2f" % (largest, smallest, results[largest] / results[smallest]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
