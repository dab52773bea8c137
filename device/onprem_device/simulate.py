# SPDX-License-Identifier: GPL-3.0-or-later
"""The accuracy / offload-rate curves, from per-input records: the device's calibrated confidence and answer and the
server's answer for every test input (from a model in memory offline, or from the live service in the lab)."""

from __future__ import annotations

import numpy as np


def cascade_accuracy(confidence, device_pred, server_pred, labels, rate: float) -> float:
    """Accuracy when the `rate` share of inputs with the lowest confidence goes to the server."""
    labels = np.asarray(labels)
    k = round(rate * len(labels))
    offloaded = np.zeros(len(labels), dtype=bool)
    offloaded[np.argsort(confidence, kind="stable")[:k]] = True
    return float(np.mean(np.where(offloaded, np.asarray(server_pred) == labels, np.asarray(device_pred) == labels)))


def random_accuracy(device_pred, server_pred, labels, rate: float) -> float:
    """Expected accuracy when a random `rate` share is offloaded (exact: the mean over every such subset)."""
    labels = np.asarray(labels)
    k = round(rate * len(labels)) / len(labels)
    return float(k * np.mean(np.asarray(server_pred) == labels) + (1 - k) * np.mean(np.asarray(device_pred) == labels))


def threshold_outcome(confidence, device_pred, server_pred, labels, threshold: float) -> tuple[float, float]:
    """(accuracy, offload rate) of the cascade with a fixed threshold, as a device runs it."""
    labels = np.asarray(labels)
    offloaded = np.asarray(confidence) < threshold
    accuracy = np.mean(np.where(offloaded, np.asarray(server_pred) == labels, np.asarray(device_pred) == labels))
    return float(accuracy), float(np.mean(offloaded))


def curves(confidence, device_pred, server_pred, labels, rates=None) -> list[dict]:
    rates = np.round(np.linspace(0, 1, 21), 2) if rates is None else rates
    device_only = float(np.mean(np.asarray(device_pred) == np.asarray(labels)))
    server_only = float(np.mean(np.asarray(server_pred) == np.asarray(labels)))
    return [
        {
            "rate": float(rate),
            "cascade": cascade_accuracy(confidence, device_pred, server_pred, labels, rate),
            "random": random_accuracy(device_pred, server_pred, labels, rate),
            "device_only": device_only,
            "server_only": server_only,
        }
        for rate in rates
    ]
