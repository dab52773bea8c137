# SPDX-License-Identifier: GPL-3.0-or-later
"""Training, on the controller (needs scikit-learn; nothing is downloaded: the digits data set ships inside
scikit-learn). Writes the device bundle, the server model with its MLServer settings, and the held-out test split.

Splits (stratified, fixed seed): train 45 % / calibration 15 % / test 40 %. The device model learns on train only;
temperature and threshold come from calibration; the server model learns on train + calibration; test is never
seen by either and is what the report evaluates on."""

from __future__ import annotations

import json
import pathlib

import numpy as np

from onprem_device import calibration
from onprem_device.model import DeviceModel

SERVER_MODEL = "model.joblib"
SERVER_SETTINGS = "model-settings.json"


def load_splits(seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    features, labels = load_digits(return_X_y=True)
    rest_x, x_test, rest_y, y_test = train_test_split(
        features, labels, test_size=0.40, random_state=seed, stratify=labels
    )
    x_train, x_cal, y_train, y_cal = train_test_split(
        rest_x, rest_y, test_size=0.25, random_state=seed, stratify=rest_y
    )
    return {"x_train": x_train, "y_train": y_train, "x_cal": x_cal, "y_cal": y_cal, "x_test": x_test, "y_test": y_test}


def train_device(x_train, y_train, hidden: tuple[int, ...] = (16,), seed: int = 0, version: str = "v1") -> DeviceModel:
    """A tiny MLP (64-16-10: about 1,200 parameters), exported as weights the device evaluates with numpy."""
    from sklearn.neural_network import MLPClassifier

    scale = 1.0 / 16.0  # digits pixels are 0..16
    mlp = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2000, alpha=1e-3, random_state=seed)
    mlp.fit(x_train * scale, y_train)
    return DeviceModel(
        weights=[np.asarray(w) for w in mlp.coefs_],
        biases=[np.asarray(b) for b in mlp.intercepts_],
        version=version,
        input_scale=scale,
        labels=[int(label) for label in mlp.classes_],
    )


def train_server(x, y, gamma: float = 0.2 / 256, c: float = 3.0):
    """The server's model: an RBF support vector machine on the raw 0..16 pixels (about 99 % on digits)."""
    from sklearn.svm import SVC

    return SVC(gamma=gamma, C=c).fit(x, y)


def calibrate(model: DeviceModel, x_cal, y_cal, target_rate: float) -> dict:
    """Fit the temperature and the offload threshold on the held-out calibration split (in place)."""
    logits = model.logits(x_cal)
    before = calibration.expected_calibration_error(model.predict_proba(x_cal, 1.0), y_cal)
    model.temperature = calibration.fit_temperature(logits, y_cal)
    probs = model.predict_proba(x_cal)
    model.threshold = calibration.threshold_for_rate(probs.max(axis=1), target_rate)
    return {
        "nll_before": calibration.nll(logits, y_cal, 1.0),
        "nll_after": calibration.nll(logits, y_cal, model.temperature),
        "temperature": model.temperature,
        "threshold": model.threshold,
        "ece_before": before,
        "ece_after": calibration.expected_calibration_error(probs, y_cal),
    }


def server_settings(name: str, version: str) -> dict:
    """MLServer's model-settings.json: the model's name and version are data next to the artifact."""
    return {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": f"./{SERVER_MODEL}", "version": version},
    }


def build(
    out: str | pathlib.Path,
    target_rate: float = 0.3,
    seed: int = 0,
    model_name: str = "digits",
    device_version: str = "v1",
    server_version: str = "v1",
) -> dict:
    import joblib

    out = pathlib.Path(out)
    splits = load_splits(seed)
    device = train_device(splits["x_train"], splits["y_train"], seed=seed, version=device_version)
    cal = calibrate(device, splits["x_cal"], splits["y_cal"], target_rate)
    device.save(out / "device")
    server = train_server(
        np.vstack([splits["x_train"], splits["x_cal"]]), np.concatenate([splits["y_train"], splits["y_cal"]])
    )
    (out / "server").mkdir(parents=True, exist_ok=True)
    # Compressed: support vectors are integer pixels, so the artifact shrinks ten-fold (it travels in a ConfigMap).
    joblib.dump(server, out / "server" / SERVER_MODEL, compress=("xz", 9))
    (out / "server" / SERVER_SETTINGS).write_text(json.dumps(server_settings(model_name, server_version), indent=2))
    np.savez(out / "test.npz", x=splits["x_test"].astype(np.float32), y=splits["y_test"].astype(np.int64))
    summary = {
        "seed": seed,
        "target_rate": target_rate,
        "sizes": {name: len(splits[f"y_{name}"]) for name in ("train", "cal", "test")},
        "device_parameters": device.n_parameters(),
        "device_accuracy": float(np.mean(device.predict_proba(splits["x_test"]).argmax(1) == splits["y_test"])),
        "server_accuracy": float(np.mean(server.predict(splits["x_test"]) == splits["y_test"])),
        **cal,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
