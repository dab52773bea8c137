# SPDX-License-Identifier: GPL-3.0-or-later
"""Scenario tests against the running LXD lab (`make lab-up`): they drive site.yml and the lab's containers.

They are skipped when the lab is not up (they fail instead under LAB_REQUIRED=1, as `make lab-test` sets it);
`make lab-scenarios` runs them after a converge.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import ansible_runner
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
INVENTORY = REPO / "inventories" / "lab"


def lab_hosts():
    path = INVENTORY / "hosts.yml"
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def lab():
    hosts = lab_hosts()
    if hosts is None or subprocess.run(["lxc", "info", "node1"], capture_output=True, check=False).returncode != 0:
        if os.environ.get("LAB_REQUIRED"):  # make lab-test converged a lab for these: its absence is a failure
            pytest.fail("LAB_REQUIRED is set but the LXD lab is not up (no inventories/lab/hosts.yml or no node1)")
        pytest.skip("the LXD lab is not up (make lab-up)")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return hosts


def node(name, *argv, check=True, timeout=120, input=None):
    """Run a command in a lab container (as its root); `input`: text for its stdin."""
    done = subprocess.run(
        ["lxc", "exec", name, "--", *argv], input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError("%s on %s failed (%s): %s" % (argv, name, done.returncode, done.stderr or done.stdout))
    return done


def site(tmp_path, verbosity=0, playbook="site.yml", extravars=None, cmdline=None, inventory=INVENTORY):
    """Run a playbook against the lab; return (runner, full stdout text). cmdline: e.g. "--check", "--limit node4".
    inventory: another inventory directory (a changed copy of the lab's)."""
    data = tmp_path / ("runner-%d" % len(list(tmp_path.iterdir())))
    data.mkdir()
    run = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=playbook,
        inventory=str(inventory),
        verbosity=verbosity,
        extravars=extravars or {},
        cmdline=cmdline,
        quiet=True,
        timeout=1800,
    )
    return run, run.stdout.read()


def failure_messages(run):
    return [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"]


def changed(run):
    return sum((run.stats or {}).get("changed", {}).values())


def tasks_per_host(run, events=("runner_on_ok", "runner_on_failed")):
    """How many tasks each host reported with one of these events in a run (by default the tasks it ran: ok, changed
    or failed; skipped ones not counted)."""
    counts = {}
    for event in run.events:
        if event.get("event") in events:
            host = event["event_data"].get("host")
            counts[host] = counts.get(host, 0) + 1
    return counts
