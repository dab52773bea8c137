# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import lab
import pytest


def test_up_defaults():
    args = lab.parse_args(["up"])
    assert (args.nodes, args.profile, args.backend) == (4, "1.28", "double")
    assert [m.group for m in args.machines].count("masters") == 4
    assert not hasattr(args, "grace_period") and not hasattr(args, "rebalance_interval")  # timings: args files


def test_the_inference_service_is_off_unless_asked_for(monkeypatch):
    monkeypatch.delenv("LAB_INFERENCE", raising=False)
    assert not lab.parse_args(["up"]).inference
    assert lab.parse_args(["up", "--inference"]).inference
    monkeypatch.setenv("LAB_INFERENCE", "1")
    assert lab.parse_args(["up"]).inference
    monkeypatch.setenv("LAB_INFERENCE", "0")
    assert not lab.parse_args(["up"]).inference


def test_up_no_longer_takes_timings_of_the_double():
    with pytest.raises(SystemExit):
        lab.parse_args(["up", "--grace-period", "15"])


@pytest.mark.parametrize("roles", [["--workers", "2"], ["--masters", "3"], ["--masters", "3", "--workers", "2"]])
def test_up_with_workers(roles):
    args = lab.parse_args(["up", "--nodes", "5", *roles])
    assert [m.name for m in args.machines if m.group == "workers"] == ["node4", "node5"]


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--nodes", "17"],
        ["up", "--nodes", "3", "--masters", "4"],
        ["up", "--nodes", "5", "--masters", "3", "--workers", "1"],
        ["up", "--backend", "vm"],
        ["exec", "node1"],
        ["exec", "node1", "--"],
    ],
)
def test_bad_arguments_stop_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        lab.parse_args(argv)
    assert stopped.value.code == 2
    assert "usage: lab.py" in capsys.readouterr().err


def test_exec_takes_everything_after_the_double_dash():
    args = lab.parse_args(["exec", "node2", "--", "microk8s", "status", "--wait-ready"])
    assert (args.node, args.cmd) == ("node2", ["microk8s", "status", "--wait-ready"])


def test_real_backend_is_refused_with_a_pointer_to_the_readme(capsys):
    assert lab.main(["up", "--backend", "real"]) == 1
    assert "tests/lab/README.md" in capsys.readouterr().err
