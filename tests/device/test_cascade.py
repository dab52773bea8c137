# SPDX-License-Identifier: GPL-3.0-or-later
"""The cascade's behaviour on the digits test split (short version of `make offload-report`, no lab): asserts
relations, not the exact numbers the report measures."""

from __future__ import annotations

import numpy as np
from onprem_device import simulate
from onprem_device.model import DeviceModel


def records(trained):
    model = DeviceModel.load(trained["dir"] / "device")
    probs = model.predict_proba(trained["x"])
    return probs.max(1), probs.argmax(1), trained["server"].predict(trained["x"]), trained["y"], model


def test_device_model_is_small_and_numpy_only(trained):
    model = DeviceModel.load(trained["dir"] / "device")
    assert model.n_parameters() < 5000
    assert (trained["dir"] / "device" / "weights.npz").stat().st_size < 50_000


def test_server_is_more_accurate_than_the_device(trained):
    _confidence, device_pred, server_pred, labels, _model = records(trained)
    assert np.mean(server_pred == labels) > np.mean(device_pred == labels)


def test_confidence_tells_right_from_wrong(trained):
    confidence, device_pred, _server, labels, _model = records(trained)
    right = device_pred == labels
    assert confidence[right].mean() > confidence[~right].mean()


def test_cascade_beats_random_offload_at_every_rate_in_between(trained):
    confidence, device_pred, server_pred, labels, _model = records(trained)
    rows = simulate.curves(confidence, device_pred, server_pred, labels)
    for row in rows:
        assert row["cascade"] >= row["random"] - 1e-12, row
        if 0.05 <= row["rate"] <= 0.9:
            assert row["cascade"] > row["random"], row
    assert rows[0]["cascade"] == rows[0]["device_only"]
    assert rows[-1]["cascade"] == rows[-1]["server_only"]


def test_a_third_offloaded_gets_close_to_the_server(trained):
    confidence, device_pred, server_pred, labels, _model = records(trained)
    cascade = simulate.cascade_accuracy(confidence, device_pred, server_pred, labels, 0.3)
    device_only, server_only = np.mean(device_pred == labels), np.mean(server_pred == labels)
    # Most of the gap between device and server is closed by offloading the least confident 30 %.
    assert cascade - device_only > 0.8 * (server_only - device_only)


def test_calibrated_threshold_hits_about_the_target_rate_on_unseen_data(trained):
    confidence, device_pred, server_pred, labels, model = records(trained)
    accuracy, rate = simulate.threshold_outcome(confidence, device_pred, server_pred, labels, model.threshold)
    assert abs(rate - 0.3) < 0.1
    assert accuracy > np.mean(device_pred == labels)
