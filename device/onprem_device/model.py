# SPDX-License-Identifier: GPL-3.0-or-later
"""The on-device model: a small multi-layer perceptron (ReLU hidden layers, softmax output) evaluated with numpy
from exported weights, with the temperature and the offload threshold that calibration chose.

A bundle is a directory with `weights.npz` (W0, b0, W1, b1, ...) and `device.json` (version, input scale,
temperature, threshold, labels)."""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field

import numpy as np

WEIGHTS = "weights.npz"
META = "device.json"


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, numerically stable."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass
class DeviceModel:
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    version: str = "v1"
    input_scale: float = 1.0
    temperature: float = 1.0
    threshold: float = 0.0
    labels: list[int] = field(default_factory=lambda: list(range(10)))

    def __post_init__(self) -> None:
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError("a model needs as many bias vectors as weight matrices, and at least one layer")
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if weight.ndim != 2 or bias.shape != (weight.shape[1],):
                raise ValueError(f"layer {index}: weight {weight.shape} and bias {bias.shape} do not fit")
            if index and self.weights[index - 1].shape[1] != weight.shape[0]:
                raise ValueError(f"layer {index} takes {weight.shape[0]} inputs, the previous gives more or fewer")

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[0]

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Raw output scores for a batch (n, n_inputs) or a single input (n_inputs,)."""
        x = np.atleast_2d(np.asarray(inputs, dtype=np.float64)) * self.input_scale
        if x.shape[1] != self.n_inputs:
            raise ValueError(f"the model takes {self.n_inputs} features, got {x.shape[1]}")
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = x @ weight + bias
            if index < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        return x

    def predict_proba(self, inputs: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Calibrated class probabilities (the model's own temperature unless one is given)."""
        return softmax(self.logits(inputs), self.temperature if temperature is None else temperature)

    def n_parameters(self) -> int:
        return int(sum(w.size + b.size for w, b in zip(self.weights, self.biases)))

    def save(self, directory: str | pathlib.Path) -> pathlib.Path:
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{index}"] = weight.astype(np.float32)
            arrays[f"b{index}"] = bias.astype(np.float32)
        np.savez(directory / WEIGHTS, **arrays)
        meta = {
            "version": self.version,
            "input_scale": self.input_scale,
            "temperature": self.temperature,
            "threshold": self.threshold,
            "labels": self.labels,
            "layers": len(self.weights),
        }
        (directory / META).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | pathlib.Path) -> DeviceModel:
        directory = pathlib.Path(directory)
        try:
            meta = json.loads((directory / META).read_text())
            with np.load(directory / WEIGHTS) as arrays:
                layers = int(meta["layers"])
                weights = [arrays[f"W{index}"].astype(np.float64) for index in range(layers)]
                biases = [arrays[f"b{index}"].astype(np.float64) for index in range(layers)]
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{directory} is not a device model bundle ({WEIGHTS} + {META}): {exc}") from exc
        return cls(
            weights=weights,
            biases=biases,
            version=str(meta.get("version", "v1")),
            input_scale=float(meta.get("input_scale", 1.0)),
            temperature=float(meta.get("temperature", 1.0)),
            threshold=float(meta.get("threshold", 0.0)),
            labels=[int(label) for label in meta.get("labels", range(weights[-1].shape[1]))],
        )
