# SPDX-License-Identifier: GPL-3.0-or-later
"""api_vip and failover_profile through ansible-runner on this machine (local connection): syntax, preflight
refusals that change nothing, and the failover profile's args files applied, re-applied (changed=0) and reverted
byte for byte (kubelite restarts skipped: `--skip-tags restart`; the lab covers them)."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
import yaml
from test_preflight_local import _changed, _failure_messages, _inventory
from test_preflight_local import _run as preflight_run

REPO = pathlib.Path(__file__).resolve().parents[2]
# canonical/microk8s microk8s-resources/default-args (HEAD d099c907), abridged
ARGS = {
    "kube-controller-manager": "--kubeconfig=${SNAP_DATA}/credentials/controller.config\n"
    "--leader-elect-lease-duration=60s\n--leader-elect-renew-deadline=30s\n--profiling=false\n",
    "kube-scheduler": "--kubeconfig=${SNAP_DATA}/credentials/scheduler.config\n"
    "--leader-elect-lease-duration=60s\n--leader-elect-renew-deadline=30s\n--profiling=false\n",
    "kubelet": "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n--read-only-port=0\n",
    "kube-apiserver": "--secure-port=16443\n--allow-privileged=true\n",
}


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _run(tmp_path, playbook, extra_vars=None, cmdline=None):
    """One control-plane node, this machine, through ansible-runner (the preflight tests' helpers)."""
    return preflight_run(tmp_path, _inventory(tmp_path, ["node1"], extra_vars), str(playbook), cmdline)


def test_failover_profile_playbook_syntax(tmp_path):
    run = _run(tmp_path, "playbooks/failover_profile.yml", cmdline="--syntax-check")
    assert run.rc == 0, run.stdout.read()


def test_failover_profile_refuses_inconsistent_timings(tmp_path):
    run = _run(
        tmp_path,
        "playbooks/failover_profile.yml",
        {"failover_profile_node_status_update_frequency": "30s", "failover_profile_args_dir": str(tmp_path)},
    )
    assert run.rc != 0
    assert any("node_status_update_frequency (30s) must be shorter" in m for m in _failure_messages(run)), (
        _failure_messages(run)
    )
    assert _changed(run) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the record is written root-owned, as on a node")
def test_failover_profile_apply_rerun_revert(tmp_path):
    args = tmp_path / "args"
    args.mkdir()
    for name, text in ARGS.items():
        (args / name).write_text(text)
    common = {"failover_profile_args_dir": str(args), "onprem_staging_dir": str(tmp_path / "staging")}
    skip = "--skip-tags restart"

    applied = _run(tmp_path, "playbooks/failover_profile.yml", common, skip)
    assert applied.rc == 0, _failure_messages(applied)
    controller = (args / "kube-controller-manager").read_text().splitlines()
    assert "--leader-elect-lease-duration=5s" in controller and "--leader-elect-lease-duration=60s" not in controller
    assert "--node-monitor-grace-period=10s" in controller
    kubelet = (args / "kubelet").read_text().splitlines()
    config = args / "onprem-failover-kubelet.yaml"
    assert "--node-status-update-frequency=2s" in kubelet and f"--config={config}" in kubelet
    assert yaml.safe_load(config.read_text()) == {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "nodeLeaseDurationSeconds": 8
    }  # fmt: skip
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert "--default-unreachable-toleration-seconds=20" in (args / "kube-apiserver").read_text()
    assert (tmp_path / "staging" / "failover_profile.restart-pending").exists()

    again = _run(tmp_path, "playbooks/failover_profile.yml", common, skip)
    assert (again.rc, _changed(again)) == (0, 0)
    # The no-op path: the node's name (this playbook gathers no facts) and the one read of the args files; nothing
    # else goes to the node (no stat, slurp or lineinfile).
    assert _node_modules(again) == ["ansible.builtin.setup", "onprem.microk8s.node_info"]

    reverted = _run(tmp_path, "playbooks/failover_profile.yml", dict(common, failover_profile_state="absent"), skip)
    assert reverted.rc == 0, _failure_messages(reverted)
    assert {name: (args / name).read_text() for name in ARGS} == ARGS
    assert not config.exists()
    assert not (tmp_path / "staging" / "failover_profile.json").exists()

    again = _run(tmp_path, "playbooks/failover_profile.yml", dict(common, failover_profile_state="absent"), skip)
    assert (again.rc, _changed(again)) == (0, 0)


# Modules that act on the node; the rest (assert, set_fact, include_*, meta, validate_argument_spec) run on the
# controller.
_CONTROLLER_ONLY = ("assert", "set_fact", "include_tasks", "include_role", "meta", "validate_argument_spec", "debug")


def _node_modules(run):
    """The modules a run executed (ok, changed or failed) on the node, in order."""
    actions = [
        e["event_data"]["task_action"] for e in run.events if e.get("event") in ("runner_on_ok", "runner_on_failed")
    ]
    return [a for a in actions if a.split(".")[-1] not in _CONTROLLER_ONLY]


@pytest.mark.skipif(os.geteuid() != 0, reason="the record is written root-owned, as on a node")
def test_failover_profile_refuses_a_kubelet_with_its_own_config_file(tmp_path):
    args = tmp_path / "args"
    args.mkdir()
    for name, text in ARGS.items():
        (args / name).write_text(text + ("--config=/etc/kubelet/mine.yaml\n" if name == "kubelet" else ""))
    common = {"failover_profile_args_dir": str(args), "onprem_staging_dir": str(tmp_path / "staging")}
    run = _run(tmp_path, "playbooks/failover_profile.yml", common, "--skip-tags restart")
    assert run.rc != 0
    assert any("already names a configuration file (--config=/etc/kubelet/mine.yaml)" in m
               for m in _failure_messages(run)), _failure_messages(run)  # fmt: skip
    assert _changed(run) == 0
    assert (args / "kubelet").read_text() == ARGS["kubelet"] + "--config=/etc/kubelet/mine.yaml\n"


def test_failover_profile_is_opt_in(tmp_path):
    run = _run(tmp_path, "playbooks/failover_profile.yml", cmdline="-e failover_profile_enabled=false")
    assert (run.rc, _changed(run)) == (0, 0)
    assert not [e for e in run.events if e.get("event") == "runner_on_ok" and "args" in str(e["event_data"]["task"])]


@pytest.mark.parametrize(
    ("vip", "says"), [("not-an-ip", "is not an IPv4 address"), ("", "api_vip needs onprem_api_vip")]
)
def test_api_vip_refuses_a_bad_address_before_any_change(tmp_path, vip, says):
    playbook = tmp_path / "vip.yml"
    playbook.write_text(
        yaml.safe_dump(
            [{"name": "VIP", "hosts": "masters", "gather_facts": False, "roles": [{"role": "onprem.microk8s.api_vip"}]}]
        )
    )
    run = _run(tmp_path, str(playbook), {"onprem_api_vip": vip})
    assert run.rc != 0
    assert any(says in m for m in _failure_messages(run)), _failure_messages(run)
    assert _changed(run) == 0
