# SPDX-License-Identifier: GPL-3.0-or-later
"""Confidence calibration and the offload threshold, with numpy only (so a device can recalibrate itself).

Temperature scaling (Guo et al., 2017): one scalar T > 0 dividing the logits, chosen to minimise the negative
log-likelihood on a held-out split the model was not trained on. It changes confidences, never the predicted class.
"""

from __future__ import annotations

import math

import numpy as np

from onprem_device.model import softmax


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / T)."""
    probs = softmax(logits, temperature)
    picked = probs[np.arange(len(labels)), np.asarray(labels, dtype=int)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The T in [low, high] minimising the held-out NLL (golden-section search on log T; NLL is unimodal in T)."""
    if len(logits) == 0 or len(logits) != len(labels):
        raise ValueError("calibration needs as many labels as logit rows, and at least one")
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _step in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def threshold_for_rate(confidence: np.ndarray, target_rate: float) -> float:
    """The confidence threshold below which about `target_rate` of inputs like these are offloaded.

    Offload when confidence < threshold: the threshold is the target_rate quantile of the held-out confidences
    (0 offloads nothing, 1 offloads everything)."""
    if not 0.0 <= target_rate <= 1.0:
        raise ValueError(f"the target offload rate must be within [0, 1], got {target_rate}")
    confidence = np.sort(np.asarray(confidence, dtype=np.float64))
    if target_rate == 0.0 or len(confidence) == 0:
        return 0.0
    if target_rate == 1.0:
        return math.inf
    k = round(target_rate * len(confidence))
    if k == 0:
        return 0.0
    if k >= len(confidence):
        return math.inf
    # Between the k-th lowest (offloaded) and the next (kept): exactly k held-out inputs fall below it.
    return float((confidence[k - 1] + confidence[k]) / 2)
