# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""The storage drill's verdict: what the collector received (acks.log) and what the drill saw per repetition
(facts.json) -> a JSON and a text report, PASS/FAIL per target.

A repetition passes when the writer's pod is Ready on another node within the target (90 s) after the cut, and the
new pod's scan of the volume holds every record acknowledged before it started, intact (0 lost, 0 corrupt).

    storage_drill_report.py --acks acks.log --facts facts.json --out reports/storage-drill-STAMP
"""

from __future__ import annotations

import argparse
import json
import sys


def parse_acks(text):
    """acks.log -> {connection: {"hello": (time, pod, node) or None, "lines": [(time, kind, fields)]}}."""
    conns = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            stamp, conn = float(parts[0]), int(parts[1])
        except ValueError:
            continue
        entry = conns.setdefault(conn, {"hello": None, "lines": []})
        kind, fields = parts[2], parts[3:]
        if kind == "HELLO" and len(fields) >= 2:
            entry["hello"] = (stamp, fields[0], fields[1])
        else:
            entry["lines"].append((stamp, kind, fields))
    return conns


def acked_before(conns, until):
    """{seq: checksum} of every ACK received before `until`."""
    acked = {}
    for entry in conns.values():
        for stamp, kind, fields in entry["lines"]:
            if kind == "ACK" and stamp < until and len(fields) == 2:
                acked[int(fields[0])] = fields[1]
    return acked


def scan_after(conns, cut_at, target_node):
    """The first scan by a pod on another node that said HELLO after the cut: (hello time, pod, node, have, bad,
    scanned) or None."""
    candidates = sorted(
        (entry["hello"], entry) for entry in conns.values() if entry["hello"] and entry["hello"][0] > cut_at
    )
    for hello, entry in candidates:
        if hello[2] == target_node:
            continue
        have, bad, scanned = {}, [], None
        for _stamp, kind, fields in entry["lines"]:
            if kind == "HAVE" and len(fields) == 2:
                have[int(fields[0])] = fields[1]
            elif kind == "BAD" and fields:
                bad.append(int(fields[0]))
            elif kind == "SCANNED":
                scanned = [int(f) for f in fields]
                break
        if scanned is not None:
            return {"hello_at": hello[0], "pod": hello[1], "node": hello[2], "have": have, "bad": bad}
    return None


def judge(acked, have):
    """Acknowledged records missing from the volume (lost) and present with another checksum (corrupt)."""
    lost = sorted(seq for seq in acked if seq not in have)
    corrupt = sorted(seq for seq in acked if seq in have and have[seq] != acked[seq])
    return {"acked": len(acked), "present": len(have), "lost": lost, "corrupt": corrupt}


def _seconds(value):
    """A time from the facts (Ansible may hand numbers over as strings); None when absent."""
    return float(value) if value not in (None, "", "None") else None


def repetition(rep, conns, limit):
    rep = dict(rep, **{k: _seconds(rep.get(k)) for k in ("cut_at", "off_at", "taint_at", "ready_at")})
    cut_at = rep["cut_at"]
    scan = scan_after(conns, cut_at, rep["node_name"])
    ready_after = rep["ready_at"] - cut_at if rep.get("ready_at") else None
    result = {
        "target": rep["target"],
        "node_name": rep["node_name"],
        "off_after_seconds": round(rep["off_at"] - cut_at, 3) if rep.get("off_at") else None,
        "taint_after_seconds": round(rep["taint_at"] - cut_at, 3) if rep.get("taint_at") else None,
        "ready_after_seconds": round(ready_after, 3) if ready_after is not None else None,
        "new_node": rep.get("new_node") or (scan or {}).get("node"),
        "scanned": scan is not None,
    }
    problems = []
    if ready_after is None:
        problems.append("the writer was not Ready on another node within %s s" % rep.get("ready_timeout"))
    elif ready_after > limit:
        problems.append("Ready on another node after %.1f s (target <= %s s)" % (ready_after, limit))
    if scan is None:
        problems.append("no scan of the volume from another node reached the collector")
        result.update(acked=len(acked_before(conns, float("inf"))), present=None, lost=None, corrupt=None, bad=None)
    else:
        verdict = judge(acked_before(conns, scan["hello_at"]), scan["have"])
        result.update(verdict, bad=len(scan["bad"]))
        if verdict["acked"] == 0:
            problems.append("no record was acknowledged before the cut")
        if verdict["lost"]:
            problems.append("%d acknowledged records lost (first %s)" % (len(verdict["lost"]), verdict["lost"][:5]))
        if verdict["corrupt"]:
            problems.append("%d acknowledged records corrupt" % len(verdict["corrupt"]))
        result["lost"], result["corrupt"] = len(verdict["lost"]), len(verdict["corrupt"])
    result["problems"] = problems
    result["verdict"] = "FAIL" if problems else "PASS"
    return result


def report(facts, acks_text):
    conns = parse_acks(acks_text)
    limit = float(facts.get("ready_target_seconds", 90))
    reps = [repetition(rep, conns, limit) for rep in facts.get("repetitions", [])]
    ready = [r["ready_after_seconds"] for r in reps if r["ready_after_seconds"] is not None]
    return {
        "started": facts.get("started"),
        "storage_class": facts.get("storage_class"),
        "power_method": facts.get("power_method"),
        "ready_target_seconds": limit,
        "default_timers": facts.get("default_timers"),
        "repetitions": reps,
        "summary": {
            "repetitions": len(reps),
            "passed": sum(r["verdict"] == "PASS" for r in reps),
            "ready_max_seconds": max(ready) if ready else None,
            "ready_mean_seconds": round(sum(ready) / len(ready), 3) if ready else None,
            "lost_total": sum(r["lost"] or 0 for r in reps),
            "corrupt_total": sum(r["corrupt"] or 0 for r in reps),
        },
        "result": "PASS" if reps and all(r["verdict"] == "PASS" for r in reps) else "FAIL",
    }


def text(result):
    timers = result.get("default_timers") or {}
    lines = [
        "Storage drill %s: %s" % (result["started"], result["result"]),
        "class %s, power method %s, target: Ready elsewhere <= %s s, 0 lost, 0 corrupt"
        % (result["storage_class"], result["power_method"], result["ready_target_seconds"]),
        "",
        "%-10s %-8s %9s %9s %9s %-10s %7s %5s %7s"
        % ("target", "verdict", "off s", "taint s", "ready s", "moved to", "acked", "lost", "corrupt"),
    ]
    for rep in result["repetitions"]:
        lines.append(
            "%-10s %-8s %9s %9s %9s %-10s %7s %5s %7s"
            % (
                rep["target"],
                rep["verdict"],
                rep["off_after_seconds"],
                rep["taint_after_seconds"],
                rep["ready_after_seconds"],
                rep["new_node"],
                rep["acked"],
                rep["lost"],
                rep["corrupt"],
            )
        )
        lines.extend("    - " + problem for problem in rep["problems"])
    summary = result["summary"]
    lines += [
        "",
        "%d/%d repetitions passed; Ready elsewhere max %s s, mean %s s; %d lost, %d corrupt"
        % (
            summary["passed"],
            summary["repetitions"],
            summary["ready_max_seconds"],
            summary["ready_mean_seconds"],
            summary["lost_total"],
            summary["corrupt_total"],
        ),
    ]
    if timers:
        lines.append(
            "With Kubernetes' default timers and no out-of-service taint (computed, not measured): about %s s "
            "(node-monitor-grace-period %s s + not-ready/unreachable toleration %s s + force detach after %s s)"
            % (
                timers.get("total_seconds"),
                timers.get("node_monitor_grace_period"),
                timers.get("toleration_seconds"),
                timers.get("force_detach_seconds"),
            )
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acks", required=True)
    parser.add_argument("--facts", required=True)
    parser.add_argument("--out", required=True, help="report path without extension")
    args = parser.parse_args(argv)
    with open(args.facts) as handle:
        facts = json.load(handle)
    try:
        with open(args.acks) as handle:
            acks = handle.read()
    except FileNotFoundError:
        acks = ""
    result = report(facts, acks)
    with open(args.out + ".json", "w") as handle:
        json.dump(result, handle, indent=2)
    with open(args.out + ".txt", "w") as handle:
        handle.write(text(result))
    print(json.dumps({"result": result["result"], "summary": result["summary"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
