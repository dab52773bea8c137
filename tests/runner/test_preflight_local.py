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
        "playbooks/restore.yml",
        "playbooks/remove_node.yml",
        "playbooks/kubeconfig.yml",
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


def _failed_hosts(run):
    return {e["event_data"]["host"] for e in run.events if e.get("event") == "runner_on_failed"}


def _tasks_run(run):
    return [e["event_data"].get("task") for e in run.events if e.get("event") == "runner_on_ok"]


DESTRUCTIVE_TASKS = {
    "Leave the cluster",
    "Remove the node from the cluster on the survivor",
    "Remove the MicroK8s snap and its data",
    "Restore with dbctl",
    "Copy the archive to the node (0600)",
}


# Destructive playbooks check their confirmation on the hosts they touch: a --limit cannot skip it.
@pytest.mark.parametrize(
    ("playbook", "extra", "message"),
    [
        ("playbooks/reset.yml", {}, "Re-run with -e reset_confirm=true"),
        ("playbooks/reset.yml", {"reset_confirm": True}, "use playbooks/remove_node.yml --limit pc2"),
        ("playbooks/remove_node.yml", {}, "Re-run with -e node_removal_confirm=true"),
        ("playbooks/restore.yml", {"backup_restore_file": "backups/x.tar.gz"}, "-e backup_restore_confirm=true"),
    ],
    ids=["reset-no-confirm", "reset-partial", "remove-node-no-confirm", "restore-no-confirm"],
)
def test_destructive_playbooks_refuse_on_the_limited_host_and_change_nothing(tmp_path, playbook, extra, message):
    inventory = _inventory(tmp_path, ["pc1", "pc2", "pc3"])
    limit = "pc1" if playbook == "playbooks/restore.yml" else "pc2"
    extra_arg = " ".join("-e %s=%s" % (k, str(v).lower() if isinstance(v, bool) else v) for k, v in extra.items())
    run = _run(tmp_path, inventory, playbook=playbook, cmdline=("--limit %s %s" % (limit, extra_arg)).strip())
    assert run.status == "failed"
    assert _failed_hosts(run) == {limit}
    assert any(message in m for m in _failure_messages(run)), _failure_messages(run)
    assert _changed(run) == 0
    # refused by the first task that could tell, before any command ran on the node
    assert not set(_tasks_run(run)) & DESTRUCTIVE_TASKS


def test_remove_node_refuses_the_bootstrap_node(tmp_path):
    run = _run(
        tmp_path,
        _inventory(tmp_path, ["pc1", "pc2", "pc3"]),
        playbook="playbooks/remove_node.yml",
        cmdline="--limit pc1 -e node_removal_confirm=true",
    )
    assert run.status == "failed"
    assert any("put another control-plane node first" in m for m in _failure_messages(run)), _failure_messages(run)
    assert _changed(run) == 0


def test_upgrade_refuses_a_channel_without_risk(tmp_path):
    run = _run(
        tmp_path,
        _inventory(tmp_path, ["pc1", "pc2", "pc3"]),
        playbook="playbooks/upgrade.yml",
        cmdline="-e upgrade_channel=1.29",
    )
    assert run.status == "failed"
    assert any("a full track/risk" in m for m in _failure_messages(run)), _failure_messages(run)
    assert _changed(run) == 0
