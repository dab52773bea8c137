# SPDX-License-Identifier: GPL-3.0-or-later
"""The inference service's inputs the lab prepares (labkit/offload.py): the files the inventory names exist after
training, and training writes the same bytes again (offload_report.py retrains into the files site.yml deployed:
a byte that differed would roll the service)."""

from __future__ import annotations

import hashlib

import pytest
from labkit import offload

pytest.importorskip("sklearn")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_models_the_inventory_names_are_trained_and_training_is_repeatable(tmp_path):
    summary = offload.train_v1(tmp_path)
    [v1] = offload.served("v1", tmp_path)
    assert (v1["name"], v1["version"]) == ("digits", "v1")
    first = _digest(tmp_path / "server" / "model.joblib")
    assert v1["artifact"] == str(tmp_path / "server" / "model.joblib")
    assert summary["server_accuracy"] > summary["device_accuracy"]
    assert (tmp_path / "test.npz").exists() and (tmp_path / "device").is_dir()
    offload.train_v1(tmp_path)
    assert _digest(tmp_path / "server" / "model.joblib") == first


def test_v2_is_another_model_in_its_own_directory(tmp_path):
    offload.train_v1(tmp_path)
    offload.train_v2(tmp_path)
    [v2] = offload.served("v2", tmp_path)
    assert v2["artifact"] == str(tmp_path / "server-v2" / "model.joblib")
    assert _digest(tmp_path / "server-v2" / "model.joblib") != _digest(tmp_path / "server" / "model.joblib")
