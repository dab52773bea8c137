# SPDX-License-Identifier: GPL-3.0-or-later
"""The confidence cascade: answer on the device when the calibrated confidence reaches the threshold, otherwise
offload to the server; when the server cannot answer in time, the device's own answer is the fallback.

Every answer says which path gave it (`device`, `server`, `fallback`) and how long it took."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass

import numpy as np

from onprem_device.client import OffloadError, V2Client
from onprem_device.model import DeviceModel
from onprem_device.spool import Spool

POLICIES = ("cascade", "device", "server", "random")


@dataclass
class Answer:
    label: int
    path: str  # device | server | fallback
    latency_ms: float
    confidence: float  # the device's calibrated confidence in its own answer
    device_label: int
    model_version: str | None = None  # the server model's version when the server answered
    uplink_bytes: int = 0
    attempts: int = 0
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class Device:
    """Answers one input at a time with a policy:

    - `cascade` (the product): offload when confidence < threshold;
    - `device`: never offload; `server`: always offload; `random`: offload a random `rate` share (the baseline)."""

    def __init__(
        self,
        model: DeviceModel,
        client: V2Client | None = None,
        model_name: str = "digits",
        policy: str = "cascade",
        threshold: float | None = None,
        rate: float = 0.3,
        spool: Spool | None = None,
        seed: int | None = None,
    ):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        if policy != "device" and client is None:
            raise ValueError(f"policy {policy!r} offloads: give the server's client")
        self.model = model
        self.client = client
        self.model_name = model_name
        self.policy = policy
        self.threshold = model.threshold if threshold is None else threshold
        self.rate = rate
        self.spool = spool
        self.random = random.Random(seed)

    def wants_offload(self, confidence: float) -> bool:
        if self.policy == "device":
            return False
        if self.policy == "server":
            return True
        if self.policy == "random":
            return self.random.random() < self.rate
        return confidence < self.threshold

    def answer(self, features) -> Answer:
        start = time.perf_counter()
        row = np.asarray(features, dtype=np.float64).reshape(-1)
        probs = self.model.predict_proba(row)[0]
        local = int(self.model.labels[int(probs.argmax())])
        confidence = float(probs.max())
        if not self.wants_offload(confidence):
            return Answer(local, "device", _ms(start), confidence, local)
        try:
            result = self.client.infer(self.model_name, [float(value) for value in row])
            server_label = result.label
        except OffloadError as exc:
            return Answer(local, "fallback", _ms(start), confidence, local, error=str(exc), attempts=2)
        answer = Answer(
            server_label,
            "server",
            _ms(start),
            confidence,
            local,
            model_version=result.model_version,
            uplink_bytes=result.uplink_bytes,
            attempts=result.attempts,
        )
        if self.spool is not None:
            self.spool.put(row.tolist(), server_label, local, confidence, result.model_version)
        return answer


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
