# SPDX-License-Identifier: GPL-3.0-or-later
"""Every workload the collection deploys carries the failover profile's node-loss tolerations while the profile is on
and an empty list (the API server's defaults) when it is off or reverted, through one shared way: the roles import
failover_profile's `tolerations` entry point before they render their pods (the API server's default toleration
seconds reach a pod only when it is created, so pods made before the profile would keep 300 s). The inference
service keeps its own seconds (inference_service_eviction_seconds) whatever the profile says."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import sys

import ansible_runner
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
FOLLOWERS = ("hello_app", "cluster_names", "storage")  # the roles whose pods follow the profile
# Each follower's task file that applies its pod template, and the template.
APPLIERS = {
    "hello_app": ("tasks/deploy.yml", "deployment.yml.j2"),
    "cluster_names": ("tasks/lan_dns.yml", "deployment.yml.j2"),
    "storage": ("tasks/demo.yml", "demo.yml.j2"),
}
# Roles that render the template in vars/main.yml: the variables through which the applying tasks reach it.
RENDERED_IN_VARS = {"hello_app": ("_hello_app_manifests", "_hello_app_drift")}


def _tolerations(not_ready, unreachable):
    return [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": not_ready},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": unreachable},
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _render(tmp_path, **extravars):
    """Run pod_manifests.yml (a copy beside the storage demo's writer script) and return the run and its out dir."""
    play = tmp_path / "play"
    (play / "files").mkdir(parents=True)
    shutil.copy(REPO / "tests/runner/pod_manifests.yml", play)
    shutil.copy(REPO / "roles/storage/files/storage_writer.py", play / "files")
    out = tmp_path / "out"
    out.mkdir()
    data = tmp_path / "runner"
    data.mkdir()
    run = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=str(play / "pod_manifests.yml"),
        extravars={"pod_manifests_out": str(out), "pod_manifests_roles": str(REPO / "roles"), **extravars},
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=120,
    )
    return run, out


def _pod_specs(tmp_path, **extravars):
    run, out = _render(tmp_path, **extravars)
    assert run.rc == 0, run.stdout.read()[-3000:]
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def test_profile_on_every_workload_tolerates_a_lost_node_for_the_profiles_seconds(tmp_path):
    specs = _pod_specs(tmp_path, failover_profile_enabled=True, failover_profile_unreachable_toleration_seconds=25)
    for role in FOLLOWERS:
        assert specs[role]["tolerations"] == _tolerations(20, 25), role
    assert specs["inference_service"]["tolerations"] == _tolerations(20, 20)


@pytest.mark.parametrize(
    "extravars",
    [{}, {"failover_profile_enabled": False}, {"failover_profile_enabled": True, "failover_profile_state": "absent"}],
)
def test_profile_off_or_reverted_writes_an_empty_list_that_takes_the_profiles_away(tmp_path, extravars):
    # An empty list, not a missing field: kubernetes.core.k8s patches (strategic merge), which replaces a Deployment's
    # tolerations as a whole list but leaves a field the patch does not name.
    specs = _pod_specs(tmp_path, **extravars)
    for role in FOLLOWERS:
        assert specs[role]["tolerations"] == [], role


def test_the_inference_service_keeps_its_own_seconds(tmp_path):
    specs = _pod_specs(tmp_path, failover_profile_enabled=True, inference_service_eviction_seconds=7)
    assert specs["inference_service"]["tolerations"] == _tolerations(7, 7)
    assert specs["hello_app"]["tolerations"] == _tolerations(20, 20)


def test_a_users_own_tolerations_win(tmp_path):
    mine = [{"key": "dedicated", "operator": "Equal", "value": "iot", "effect": "NoSchedule"}]
    specs = _pod_specs(
        tmp_path, failover_profile_enabled=True, hello_app_tolerations=mine, cluster_names_tolerations=mine,
        storage_demo_tolerations=mine,
    )  # fmt: skip
    for role in FOLLOWERS:
        assert specs[role]["tolerations"] == mine, role


def test_bad_profile_seconds_fail_before_anything_is_rendered(tmp_path):
    run, out = _render(tmp_path, failover_profile_enabled=True, failover_profile_not_ready_toleration_seconds="20s")
    assert run.rc != 0
    assert "whole seconds" in run.stdout.read()
    assert not list(out.glob("*.json"))


@pytest.mark.parametrize("role", sorted(APPLIERS))
def test_each_follower_learns_the_tolerations_before_it_applies_its_pods(role):
    tasks_file, template = APPLIERS[role]
    tasks = yaml.safe_load((REPO / "roles" / role / tasks_file).read_text())
    names = [task.get("name", "") for task in tasks]
    learn = next(n for n, task in enumerate(tasks) if task.get("ansible.builtin.import_role") == {
        "name": "onprem.microk8s.failover_profile", "tasks_from": "tolerations"})  # fmt: skip
    needles = [template]
    if role in RENDERED_IN_VARS:
        rendering, used = RENDERED_IN_VARS[role]
        variables = yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text())
        assert template in variables[rendering] and rendering in variables[used]
        needles = [rendering, used]
    apply = next(n for n, task in enumerate(tasks) if any(needle in json.dumps(task) for needle in needles))
    assert learn < apply, names


def test_every_template_with_a_pod_controller_names_its_tolerations():
    """A role added later that deploys pods from a template must say which tolerations they carry."""
    controllers = re.compile(r"^\s*kind: (Deployment|StatefulSet|DaemonSet|ReplicaSet|Job)\s*$", re.MULTILINE)
    found = [path for path in sorted((REPO / "roles").glob("*/templates/*.j2")) if controllers.search(path.read_text())]
    assert {path.parts[-3] for path in found} >= set(APPLIERS) | {"inference_service"}
    for path in found:
        assert re.search(r"^\s*tolerations: \{\{", path.read_text(), re.MULTILINE), path
