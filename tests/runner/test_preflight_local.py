# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml through ansible-runner, as CI would run it, against this machine over the local connection.

Bad inventories must fail in preflight with a clear message and change nothing. Every "node" here is this machine,
so only the checks that come before any change are reached; the lab scenario covers the rest.
"""

from __future__ import annotations

import os
import pathlib
import sys

import ansible_runner
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    """ansible-runner starts `ansible-playbook` from PATH: use the one beside this Python (the venv's)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _inventory(tmp_path, masters, extra_vars=None):
    hosts = {
        name: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
        for name in masters
    }
    inventory = {
        "all": {
            "vars": {"ansible_become": False, **(extra_vars or {})},
            "children": {"masters": {"hosts": hosts}, "workers": {"hosts": {}}, "clients": {"hosts": {}}},
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _run(tmp_path, inventory, playbook="site.yml", cmdline=None):
    data = tmp_path / "runner"
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=playbook,
        inventory=str(inventory),
        cmdline=cmdline,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=300,
    )


def _failure_messages(run):
    return [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"]


def _changed(run):
    return sum(host_changed for host_changed in (run.stats or {}).get("changed", {}).values())


@pytest.mark.parametrize(
    "playbook",
    [
        "site.yml",
        "playbooks/verify.yml",
        "playbooks/failover.yml",
        "playbooks/reset.yml",
        "playbooks/upgrade.yml",
        "playbooks/backup.yml",
    ],
)
def test_playbooks_pass_syntax_check_through_ansible_runner(tmp_path, playbook):
    run = _run(tmp_path, REPO / "inventories" / "home", playbook=playbook, cmdline="--syntax-check")
    assert run.rc == 0, run.stdout.read()


def test_too_few_control_planes_for_ha_fail_in_preflight(tmp_path):
    run = _run(tmp_path, _inventory(tmp_path, ["pc1", "pc2"]))
    assert run.status == "failed"
    assert any("High availability needs at least 3 control-plane nodes" in m for m in _failure_messages(run))
    assert _changed(run) == 0


def test_duplicate_machines_fail_in_preflight(tmp_path):
    # three inventory names, one machine: the same host name three times
    run = _run(tmp_path, _inventory(tmp_path, ["pc1", "pc2", "pc3"]))
    assert run.status == "failed"
    assert any("is used by more than one node" in m for m in _failure_messages(run))
    assert _changed(run) == 0


def test_metallb_range_outside_the_network_fails_in_preflight(tmp_path):
    run = _run(
        tmp_path,
        _inventory(
            tmp_path, ["pc1"], {"microk8s_node_ha": False, "ha_join_metallb_range": "203.0.113.10-203.0.113.20"}
        ),
    )
    messages = _failure_messages(run)
    if any("default_ipv4" in m for m in messages):
        pytest.skip("this machine has no default IPv4 route to compare the range with")
    assert run.status == "failed"
    assert any("not inside the nodes' subnet" in m for m in messages), messages
    assert _changed(run) == 0
