# SPDX-License-Identifier: GPL-3.0-or-later
"""hello_app's pods carry the failover profile's node-loss tolerations while the profile is on (site.yml learns them
from failover_profile's `tolerations` entry point), so pods created before the profile are rolled onto its seconds:
the API server's default toleration seconds reach a pod only when it is created."""

from __future__ import annotations

import json
import os
import pathlib
import sys

import ansible_runner
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _pod_spec(tmp_path, **extravars):
    out = tmp_path / "deployment.json"
    data = tmp_path / "runner"
    data.mkdir()
    run = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook="tests/runner/hello_manifest.yml",
        extravars={"hello_manifest_out": str(out), **extravars},
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=120,
    )
    assert run.rc == 0, run.stdout.read()[-3000:]
    return json.loads(out.read_text())["spec"]["template"]["spec"]


def test_profile_on_the_pods_tolerate_a_lost_node_for_the_profiles_seconds(tmp_path):
    spec = _pod_spec(tmp_path, failover_profile_enabled=True, failover_profile_unreachable_toleration_seconds=25)
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 25},
    ]


@pytest.mark.parametrize(
    "extravars",
    [{}, {"failover_profile_enabled": False}, {"failover_profile_enabled": True, "failover_profile_state": "absent"}],
)
def test_profile_off_or_reverted_leaves_the_api_servers_defaults(tmp_path, extravars):
    assert "tolerations" not in _pod_spec(tmp_path, **extravars)


def test_a_users_own_tolerations_win(tmp_path):
    mine = [{"key": "dedicated", "operator": "Equal", "value": "iot", "effect": "NoSchedule"}]
    spec = _pod_spec(tmp_path, failover_profile_enabled=True, hello_app_tolerations=mine)
    assert spec["tolerations"] == mine
