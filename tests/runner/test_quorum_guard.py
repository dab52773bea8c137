# SPDX-License-Identifier: GPL-3.0-or-later
"""node_removal's quorum guard (roles/node_removal/tasks/quorum.yml) through ansible-runner: the survivor's status
and the Kubernetes nodes are given, the role decides. The lab scenario checks the same with a real stopped node."""

from __future__ import annotations

import os
import pathlib
import sys

import ansible_runner
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PORT = ":19001"


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def k8s_node(name, ready=True):
    ip = "10.77.0.%d" % (10 + int(name[-1]))
    return {
        "metadata": {"name": name},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        },
    }


def decide(tmp_path, me, voters, standby=(), spare=(), down=(), unreachable=False):
    names = sorted({me, *voters, *standby, *spare})
    extravars = {
        "_node_removal_down": unreachable,
        # A node that does not answer is found by its address (the play's host is the controller here).
        "ansible_host": "10.77.0.%d" % (10 + int(me[-1])),
        "__node_removal_hostname": {"skipped": True} if unreachable else {"stdout": me.upper() + "\n"},
        "__node_removal_cluster": {
            "datastore": {
                role: ["10.77.0.%d%s" % (10 + int(n[-1]), PORT) for n in members]
                for role, members in (("voters", voters), ("standby", standby), ("spare", spare))
            }
        },
        "__node_removal_nodes": {"resources": [k8s_node(n, ready=n not in down) for n in names]},
    }
    data = tmp_path / "runner"
    data.mkdir()
    run = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook="tests/runner/quorum_check.yml",
        extravars=extravars,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=120,
    )
    failures = [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"]
    return run.status, " ".join(failures)


THREE = ("node1", "node2", "node3")


@pytest.mark.parametrize(
    ("me", "voters", "standby", "spare", "down", "refusal"),
    [
        ("node2", THREE, ("node4",), (), (), None),  # a Ready standby is promoted
        ("node2", THREE, (), ("node4",), (), None),  # a spare is promoted too
        ("node4", THREE, (), (), (), None),  # not a voter: no quorum question
        ("node2", THREE, (), (), (), "no Ready standby to promote"),
        ("node2", THREE, ("node4",), (), ("node4",), "no Ready standby to promote"),
        ("node2", THREE, ("node4",), (), ("node3",), "voter(s) 10.77.0.13 already down"),
        ("node1", ("node1",), (), ("node2",), (), "the only voter"),
    ],
    ids=[
        "voter-with-standby",
        "voter-with-spare",
        "standby",
        "voter-no-standby",
        "voter-standby-down",
        "voter-other-voter-down",
        "only-voter",
    ],
)
def test_quorum_guard(tmp_path, me, voters, standby, spare, down, refusal):
    status, message = decide(tmp_path, me, voters, standby, spare, down)
    if refusal is None:
        assert status == "successful", message
    else:
        assert status == "failed"
        assert refusal in message and "could lose" in message, message


@pytest.mark.parametrize(
    ("me", "voters", "standby", "down", "refusal"),
    [
        ("node2", THREE, (), ("node2",), None),  # a powered-off voter goes even without a standby to promote
        ("node4", THREE, ("node4",), ("node4",), None),
        ("node2", THREE, (), (), "still reports node2 Ready"),  # unreachable from here, but running
        ("node2", THREE, (), ("node2", "node3"), "voter(s) 10.77.0.13 already down"),
        ("node1", ("node1",), (), ("node1",), "the only voter"),
    ],
    ids=["dead-voter", "dead-standby", "unreachable-but-ready", "dead-voter-another-down", "dead-only-voter"],
)
def test_a_node_that_does_not_answer_is_removed_only_when_not_ready(tmp_path, me, voters, standby, down, refusal):
    # Its hostname cannot be read (the task is skipped): the role names it by its address.
    status, message = decide(tmp_path, me, voters, standby, (), down, unreachable=True)
    if refusal is None:
        assert status == "successful", message
    else:
        assert status == "failed"
        assert refusal in message, message
