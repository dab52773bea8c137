# SPDX-License-Identifier: GPL-3.0-or-later
"""Temperature scaling and the offload threshold (numpy only, no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onprem_device import calibration
from onprem_device.model import DeviceModel, softmax


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_labels_were_drawn_with(true_temperature):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(4000, 10))
    probs = softmax(logits, true_temperature)
    labels = np.array([rng.choice(10, p=row) for row in probs])
    fitted = calibration.fit_temperature(logits, labels)
    assert abs(math.log(fitted / true_temperature)) < 0.1


def test_temperature_lowers_the_held_out_nll_of_an_overconfident_model():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, size=(2000, 10))
    labels = np.array([rng.choice(10, p=row) for row in softmax(logits, 2.0)])
    overconfident = logits  # read at T=1 while the truth is T=2
    fitted = calibration.fit_temperature(overconfident, labels)
    assert calibration.nll(overconfident, labels, fitted) < calibration.nll(overconfident, labels, 1.0)
    before = calibration.expected_calibration_error(softmax(overconfident, 1.0), labels)
    after = calibration.expected_calibration_error(softmax(overconfident, fitted), labels)
    assert after < before


def test_temperature_never_changes_the_predicted_class():
    logits = np.random.default_rng(3).normal(size=(100, 10))
    assert (softmax(logits, 0.3).argmax(1) == softmax(logits, 7.0).argmax(1)).all()


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.5, 0.9, 1.0])
def test_threshold_offloads_the_target_share(rate):
    confidence = np.random.default_rng(4).uniform(size=1000)
    threshold = calibration.threshold_for_rate(confidence, rate)
    assert np.mean(confidence < threshold) == pytest.approx(rate, abs=0.002)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="within"):
        calibration.threshold_for_rate(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="as many labels"):
        calibration.fit_temperature(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="temperature"):
        softmax(np.ones((1, 2)), 0.0)


def test_bundle_round_trip_keeps_answers_and_settings(tmp_path):
    rng = np.random.default_rng(5)
    model = DeviceModel(
        weights=[rng.normal(size=(64, 16)), rng.normal(size=(16, 10))],
        biases=[rng.normal(size=16), rng.normal(size=10)],
        version="v7",
        input_scale=1 / 16,
        temperature=1.7,
        threshold=0.8,
    )
    x = rng.uniform(0, 16, size=(5, 64))
    loaded = DeviceModel.load(model.save(tmp_path / "bundle"))
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
    assert (loaded.version, loaded.temperature, loaded.threshold) == ("v7", 1.7, 0.8)
    with pytest.raises(ValueError, match="not a device model bundle"):
        DeviceModel.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="features"):
        model.logits(np.ones((1, 10)))
