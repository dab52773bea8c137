#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark site.yml against the LXD lab (first converge and no-op re-runs, for 4 and 8 nodes) and soak a healthy
tuned lab.

    python tests/lab/bench.py [--nodes 4 8] [--profile 1.28] [--reruns 3] [--soak-minutes 30]      (make bench)
    python tests/lab/bench.py --existing [--project DIR]      re-runs only, on the lab that is up (DIR: another
                                                               checkout's site.yml, e.g. a baseline to compare)
    python tests/lab/bench.py --soak-only --soak-minutes 2      (soak the lab as it is: up, site.yml run, tuned)

Prints, per lab size: wall time of the first converge and the median of the no-op re-runs (of every play the lab's
inventory enables, then of the core alone: nodes, HA cluster, addons, hello), time per play (phase),
tasks per host on the no-op path (run: ok/changed/failed; skipped apart), the machine's load average, the CPU the
run cost (the whole machine's busy CPU-seconds, the controller's share: ansible-playbook, its workers and ssh
clients; the rest is the nodes' side and the lab's idle cost) and how many of the machine's cores that kept busy, and
the double's simulated waits (its `join_wait` and `addon_delay` settings) apart from orchestration time; then the ratio
of the 8-node to the 4-node re-run; after each lab size's re-runs, the idle cost of its nodes (idle_cost.py lab: the
double's daemons per node, and each whole container). Aims (issue 8): a no-op re-run of 4 nodes <= 12 s on an idle
machine, <= 15 tasks per host, 8 nodes <= 1.3 x 4 nodes, an idle lab node's double < 2 % of a core.
The soak (4 nodes, profile 1.32, LAB_FAILOVER_PROFILE=tuned, no node touched) reads every node's Ready condition
and the controller lease every few seconds and prints how often a node was seen NotReady although nothing failed
(the failover profile's trade-off), the lease's holder changes and kubelite restarts.
Numbers are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

import ansible_runner
import idle_cost

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
RUN_EVENTS = ("runner_on_ok", "runner_on_failed")


# The core of site.yml, what a community MicroK8s role's HA + addons run covers (plus the demo app): the plays of these
# tags skipped, the lab's access control, API VIP, names, TLS, storage and inference service.
BEYOND_CORE = "api_vip,failover_profile,cluster_access,tls_ingress,cluster_names,storage,inference_service"


def machine_busy_seconds(stat="/proc/stat"):
    """CPU-seconds the whole machine (host and lab containers) has spent busy since boot: /proc/stat's first line,
    every column but idle and iowait."""
    with open(stat) as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    return (sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """User + system CPU-seconds of this process's waited-for children (ansible-playbook and its descendants; ssh's
    persistent ControlMaster detaches itself, so its share counts with the rest of the machine)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_figure(run):
    """One line: the run's busy CPU-seconds, the controller's share, and cores kept busy on average."""
    return "cpu: %.1f cpu-s on the machine, %.1f of them the controller; %.1f of %d cores busy on average" % (
        run["cpu"],
        run["controller_cpu"],
        run["cpu"] / run["wall"] if run["wall"] else 0.0,
        os.cpu_count() or 1,
    )


def converge(label, project=REPO, env=None, skip_tags=None):
    """Run site.yml through ansible-runner (`skip_tags`: plays left out); return a dict of wall seconds, per-play
    seconds, tasks run and skipped per host, the changed count, the load average at the start and the CPU spent
    (machine and controller, see cpu_figure)."""
    data = REPO / "build" / "bench" / label
    data.mkdir(parents=True, exist_ok=True)
    plays, run, skipped, current, started = {}, {}, {}, None, time.monotonic()
    play_started = started
    load = os.getloadavg()[0]
    busy_before, children_before = machine_busy_seconds(), children_cpu_seconds()

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
        envvars={"ANSIBLE_CONFIG": str(pathlib.Path(project) / "ansible.cfg"), **(env or {})},
        event_handler=on_event,
        quiet=True,
        **({"skip_tags": skip_tags} if skip_tags else {}),
    )
    wall = time.monotonic() - started
    cpu, controller_cpu = machine_busy_seconds() - busy_before, children_cpu_seconds() - children_before
    if current:
        plays[current] = plays.get(current, 0.0) + time.monotonic() - play_started
    if result.rc != 0:
        raise SystemExit("site.yml failed during %s (rc %s): see %s" % (label, result.rc, data))
    changed = sum((result.stats or {}).get("changed", {}).values())
    return {
        "wall": wall,
        "plays": plays,
        "run": run,
        "skipped": skipped,
        "changed": changed,
        "load": load,
        "cpu": cpu,
        "controller_cpu": controller_cpu,
    }


def simulated_waits(nodes, settings):
    """Seconds the double sleeps on purpose: one join wait per joining node, one addon delay per addon enabled."""
    addons = 3  # dns, ingress, metallb (ha_join's defaults in the lab)
    return (nodes - 1) * settings.get("join_wait", 10) + addons * settings.get("addon_delay", 2)


def per_host(counts):
    return ", ".join("%s=%d" % kv for kv in sorted(counts.items()))


def report_reruns(nodes, reruns, scope="every play of the lab's inventory"):
    """Print the median no-op re-run (and each one) with its plays and tasks per host; return the median seconds."""
    median = statistics.median(r["wall"] for r in reruns)
    middle = min(reruns, key=lambda r: abs(r["wall"] - median))
    print("  -- %s" % scope)
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
    print("  no-op %s" % cpu_figure(middle))
    print("  (aims: <= 12 s for 4 nodes on an idle machine, <= 15 tasks run per host)")
    return median


def report_core(label, args):
    """The no-op re-runs of site.yml's core (BEYOND_CORE skipped); return their median."""
    reruns = [
        converge("%s-core-rerun-%d" % (label, i), args.project, skip_tags=BEYOND_CORE) for i in range(args.reruns)
    ]
    return report_reruns(0, reruns, scope="core: nodes, HA cluster and addons, hello (--skip-tags %s)" % BEYOND_CORE)


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
    print("  first converge %s" % cpu_figure(first))


SOAK_NODES, SOAK_PROFILE = 4, "1.32"
# Seconds between the starts of two reads of the nodes and the lease (a read itself takes about a second): a false
# NotReady lasts until the node's next status post (2 s on the profile), so a shorter one between reads is missed.
SOAK_EVERY = 1.0
SOAK_READ = (
    "microk8s kubectl get nodes -o json && echo '%%%' && "
    "microk8s kubectl -n kube-system get lease kube-controller-manager -o json"
)


def lab_exec(node, command, timeout):
    """(rc, stdout) of a shell command in a lab container; rc None when it did not finish within `timeout`."""
    try:
        done = subprocess.run(
            [*LAB, "exec", node, "--", "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout


def kubelite_restarts(nodes):
    """{node: NRestarts of its kubelite service} (systemd's count; None when it could not be read)."""
    counts = {}
    for number in range(1, nodes + 1):
        node = "node%d" % number
        rc, out = lab_exec(node, "systemctl show -p NRestarts --value snap.microk8s.daemon-kubelite", 30)
        counts[node] = int(out.strip()) if rc == 0 and out.strip().isdigit() else None
    return counts


def soak_sample(reader="node1"):
    """({node: Ready status}, (lease holder, lease transitions)) now, or None when the API did not answer."""
    rc, out = lab_exec(reader, SOAK_READ, 30)
    if rc != 0 or "%%%" not in out:
        return None
    nodes_json, lease_json = out.split("%%%", 1)
    ready = {}
    for item in json.loads(nodes_json)["items"]:
        conditions = item.get("status", {}).get("conditions", [])
        ready[item["metadata"]["name"]] = next((c["status"] for c in conditions if c["type"] == "Ready"), "None")
    spec = json.loads(lease_json).get("spec", {})
    return ready, (spec.get("holderIdentity"), spec.get("leaseTransitions", 0))


def soak_timings(reader="node1"):
    """The node-monitor grace period and the node Lease's duration the lab runs with (the failover profile's lines,
    or MicroK8s' defaults when they are absent), so the soak says what it soaked."""
    _rc, grace = lab_exec(
        reader, "grep -h -- '^--node-monitor-grace-period=' /var/snap/microk8s/current/args/kube-controller-manager", 30
    )
    _rc, lease = lab_exec(
        reader, "grep -h 'nodeLeaseDurationSeconds' /var/snap/microk8s/current/args/onprem-failover-kubelet.yaml", 30
    )
    return {
        "grace_period": grace.strip().split("=", 1)[1] if "=" in grace else "Kubernetes' default (no line)",
        "node_lease": lease.strip().split(":", 1)[1].strip() if ":" in lease else "default (40)",
    }


def soak(minutes, nodes=SOAK_NODES):
    """Watch a healthy lab for `minutes`: every NotReady seen is a false one (no node is touched)."""
    timings = soak_timings()
    restarts_before = kubelite_restarts(nodes)
    started = time.monotonic()
    samples = unanswered = 0
    not_ready_seen, episodes, holders, first, last, previous = {}, {}, [], None, None, {}
    while time.monotonic() - started < minutes * 60:
        moment = time.monotonic()
        sample = soak_sample()
        if sample is None:
            unanswered += 1
        else:
            samples += 1
            ready, lease = sample
            first = first or lease
            last = lease
            if not holders or holders[-1] != lease[0]:
                holders.append(lease[0])
            for node, status in ready.items():
                if status != "True":
                    not_ready_seen[node] = not_ready_seen.get(node, 0) + 1
                    if previous.get(node, "True") == "True":
                        episodes[node] = episodes.get(node, 0) + 1
            previous = ready
        time.sleep(max(0.0, SOAK_EVERY - (time.monotonic() - moment)))
    restarts_after = kubelite_restarts(nodes)
    return {
        "minutes": minutes,
        "timings": timings,
        "samples": samples,
        "api_unanswered": unanswered,
        "false_not_ready_episodes": episodes,
        "not_ready_samples": not_ready_seen,
        "lease_holders": holders,
        "lease_transitions": (last[1] - first[1]) if first and last else None,
        "kubelite_restarts": {
            n: (restarts_after[n] - restarts_before[n]) if None not in (restarts_after[n], restarts_before[n]) else None
            for n in restarts_before
        },
    }


def soak_report(result):
    print("== soak: %(minutes)s min of a healthy lab (nothing cut)" % result)
    timings = result.get("timings") or {}
    print(
        "  timings: node-monitor grace period %s, node Lease %s s (the failover profile: 10s, 8)"
        % (timings.get("grace_period"), timings.get("node_lease"))
    )
    print(
        "  reads: %d answered, %d unanswered (every %.0f s)" % (result["samples"], result["api_unanswered"], SOAK_EVERY)
    )
    episodes = result["false_not_ready_episodes"]
    print(
        "  false NotReady: %d (%s)"
        % (sum(episodes.values()), ", ".join("%s x%d" % kv for kv in sorted(episodes.items())) or "none")
    )
    print(
        "  controller lease: %s transitions, holders in turn: %s"
        % (result["lease_transitions"], " -> ".join(str(h) for h in result["lease_holders"]))
    )
    print("  kubelite restarts: %s" % ", ".join("%s=%s" % kv for kv in sorted(result["kubelite_restarts"].items())))


def report_idle(seconds):
    """The lab's nodes at rest right after the re-runs (nothing else running): their double's daemons and containers."""
    if seconds > 0:
        print("  -- idle cost")
        idle_cost.lab([], seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--profile", default="1.28")
    parser.add_argument("--reruns", type=int, default=3, help="no-op re-runs per lab size (the median is reported)")
    parser.add_argument("--existing", action="store_true", help="only the re-runs, on the lab that is up")
    parser.add_argument("--project", default=str(REPO), help="the checkout whose site.yml runs (default: this one)")
    parser.add_argument("--soak-minutes", type=float, default=30, help="0: no soak")
    parser.add_argument("--soak-only", action="store_true", help="only soak the lab as it is (up, site.yml run)")
    parser.add_argument("--idle-seconds", type=float, default=30, help="idle cost window after the re-runs; 0: none")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    if args.soak_only:
        soak_report(soak(args.soak_minutes))
        return 0
    if args.existing:
        label = pathlib.Path(args.project).name
        print("== the running lab, %s" % args.project)
        report_reruns(0, [converge("%s-rerun-%d" % (label, i), args.project) for i in range(args.reruns)])
        report_core(label, args)
        report_idle(args.idle_seconds)
        return 0
    results, core = {}, {}
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
        report_first(nodes, converge("%d-first" % nodes, args.project), settings)
        reruns = [converge("%d-rerun-%d" % (nodes, i), args.project) for i in range(args.reruns)]
        results[nodes] = report_reruns(nodes, reruns)
        core[nodes] = report_core(str(nodes), args)
        report_idle(args.idle_seconds)
    for name, medians in (("every play", results), ("core", core)):
        if len(medians) > 1:
            smallest, largest = min(medians), max(medians)
            print(
                "no-op re-run (%s) %d nodes / %d nodes: %.2f (aim: <= 1.3)"
                % (name, largest, smallest, medians[largest] / medians[smallest])
            )
    if args.soak_minutes > 0:
        subprocess.run([*LAB, "down"], check=True)
        subprocess.run([*LAB, "up", "--nodes", str(SOAK_NODES), "--profile", SOAK_PROFILE], check=True)
        converge("soak", env={"LAB_FAILOVER_PROFILE": "tuned"})
        soak_report(soak(args.soak_minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
