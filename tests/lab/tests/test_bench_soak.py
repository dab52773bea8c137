# SPDX-License-Identifier: GPL-3.0-or-later
"""make bench's soak of a healthy tuned lab (tests/lab/bench.py), on scripted reads instead of a lab: what it counts
as a false NotReady, a lease holder change and a kubelite restart."""

from __future__ import annotations

import json

import bench
import pytest


def nodes(**ready: str) -> str:
    items = [
        {"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": s}]}} for n, s in ready.items()
    ]
    return json.dumps({"items": items})


def lease(holder: str, transitions: int) -> str:
    return json.dumps({"spec": {"holderIdentity": holder, "leaseTransitions": transitions}})


@pytest.fixture
def scripted(monkeypatch):
    """bench.lab_exec answering from a script: the node reads in turn, then the last one again; NRestarts per node."""

    def install(reads: list[str | None], restarts_before: int, restarts_after: int):
        reads = list(reads)
        state = {"soaking": False}
        clock = {"now": 0.0}

        def lab_exec(node, command, timeout):
            if command.startswith("grep"):  # the timings the lab runs with: the failover profile's
                return 0, (
                    "--node-monitor-grace-period=10s\n" if "grace" in command else "nodeLeaseDurationSeconds: 8\n"
                )
            if command.startswith("systemctl show"):
                value = restarts_after if state["soaking"] and not reads else restarts_before
                return 0, f"{value}\n"
            state["soaking"] = True
            out = reads.pop(0) if reads else None
            clock["now"] += bench.SOAK_EVERY
            return (1, "") if out is None else (0, out)

        monkeypatch.setattr(bench, "lab_exec", lab_exec)
        monkeypatch.setattr(bench.time, "monotonic", lambda: clock["now"])
        monkeypatch.setattr(bench.time, "sleep", lambda seconds: None)

    return install


def test_false_not_ready_episodes_lease_changes_and_restarts_are_counted(scripted):
    ok = nodes(node1="True", node2="True")
    flap = nodes(node1="True", node2="Unknown")
    scripted(
        [
            ok + "%%%" + lease("node1", 3),
            flap + "%%%" + lease("node1", 3),
            flap + "%%%" + lease("node1", 3),  # the same episode, seen twice
            None,  # the API did not answer
            ok + "%%%" + lease("node2", 4),
            flap + "%%%" + lease("node2", 4),  # a second episode
        ],
        restarts_before=1,
        restarts_after=2,
    )
    result = bench.soak(6 * bench.SOAK_EVERY / 60, nodes=2)
    assert result["false_not_ready_episodes"] == {"node2": 2}
    assert result["not_ready_samples"] == {"node2": 3}
    assert (result["samples"], result["api_unanswered"]) == (5, 1)
    assert (result["lease_holders"], result["lease_transitions"]) == (["node1", "node2"], 1)
    assert result["kubelite_restarts"] == {"node1": 1, "node2": 1}


def test_a_quiet_lab_reports_no_false_not_ready(scripted, capsys):
    ok = nodes(node1="True", node2="True", node3="True") + "%%%" + lease("node1", 0)
    scripted([ok] * 4, restarts_before=0, restarts_after=0)
    result = bench.soak(4 * bench.SOAK_EVERY / 60, nodes=3)
    assert result["false_not_ready_episodes"] == {} and result["lease_transitions"] == 0
    bench.soak_report(result)
    out = capsys.readouterr().out
    assert "false NotReady: 0 (none)" in out
    assert "timings: node-monitor grace period 10s, node Lease 8 s" in out


def test_machine_busy_seconds_counts_every_column_but_idle_and_iowait(tmp_path, monkeypatch):
    # user nice system idle iowait irq softirq steal: busy 100+5+50+3+2+1 = 161 ticks
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 9000 400 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    monkeypatch.setattr(bench.os, "sysconf", lambda name: 100)
    assert bench.machine_busy_seconds(str(stat)) == pytest.approx(1.61)


def test_the_cpu_figure_says_how_many_cores_the_run_kept_busy(monkeypatch):
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    line = bench.cpu_figure({"cpu": 33.0, "controller_cpu": 15.5, "wall": 20.0})
    assert line == "cpu: 33.0 cpu-s on the machine, 15.5 of them the controller; 1.6 of 2 cores busy on average"
