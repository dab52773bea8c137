# SPDX-License-Identifier: GPL-3.0-or-later
"""The inference service's controller-side inputs, through ansible-runner against this machine: with
inference_service_enabled, site.yml refuses a missing model artifact or image archive before its first play touches
a node (the nodes' own preflight does not even start), naming the file; off, site.yml does not look for them; and
playbooks/inference_service.yml refuses a model list without a model."""

from __future__ import annotations

import os
import sys

import pytest
from test_preflight_local import _changed, _inventory, _run


@pytest.fixture(autouse=True)
def _venv_first_on_path(monkeypatch):
    """ansible-runner starts `ansible-playbook` from PATH: use the one beside this Python (the venv's)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _failure_messages(run):
    """Failed tasks' messages, a loop's failed items included."""
    failed = ("runner_on_failed", "runner_item_on_failed")
    return [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") in failed]


def _roles_started(run):
    return {e["event_data"].get("role") for e in run.events if e.get("event") == "playbook_on_task_start"}


def _settings(tmp_path, artifact, archive, enabled=True):
    return {
        "microk8s_node_ha": False,
        "inference_service_enabled": enabled,
        "inference_service_image_archive": str(archive),
        "inference_service_models": [{"name": "digits", "version": "v1", "artifact": str(artifact)}],
    }


@pytest.fixture
def files(tmp_path):
    artifact, archive = tmp_path / "model.joblib", tmp_path / "onprem-inference.local.tar.gz"
    artifact.write_bytes(b"model")
    archive.write_bytes(b"image")
    return artifact, archive


def test_site_refuses_a_missing_model_artifact_before_touching_a_node(tmp_path, files):
    missing = tmp_path / "typo" / "model.joblib"
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], _settings(tmp_path, missing, files[1])))
    messages = _failure_messages(run)
    assert run.status == "failed" and _changed(run) == 0
    assert any(str(missing) in m and "missing on the controller" in m for m in messages), messages
    assert "microk8s_node" not in _roles_started(run)


def test_site_refuses_a_missing_image_archive_before_touching_a_node(tmp_path, files):
    missing = tmp_path / "onprem-inference.tar"
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], _settings(tmp_path, files[0], missing)))
    messages = _failure_messages(run)
    assert run.status == "failed" and _changed(run) == 0
    assert any(str(missing) in m and "not a file on the controller" in m for m in messages), messages
    assert "microk8s_node" not in _roles_started(run)


def test_site_does_not_look_for_the_files_when_the_service_is_off(tmp_path):
    missing = tmp_path / "nothing"
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], _settings(tmp_path, missing, missing, enabled=False)))
    skipped = [e["event_data"].get("task") for e in run.events if e.get("event") == "runner_on_skipped"]
    assert "Check the inference service's models and image archive" in skipped
    assert not any(str(missing) in m for m in _failure_messages(run))  # this machine then fails on MicroK8s


def test_the_playbook_refuses_no_model(tmp_path, files):
    settings = {**_settings(tmp_path, *files), "inference_service_models": []}
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], settings), playbook="playbooks/inference_service.yml")
    messages = _failure_messages(run)
    assert run.status == "failed" and _changed(run) == 0
    assert any("inference_service_models needs at least one model" in m for m in messages), messages
