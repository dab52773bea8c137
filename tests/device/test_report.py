# SPDX-License-Identifier: GPL-3.0-or-later
"""The offload report's arithmetic (failure window, shares, latencies) and its outputs, from synthetic records."""

from __future__ import annotations

import numpy as np
import pytest
from onprem_device import report


def answer(t, path, correct=True, uplink=0, version="v1"):
    return {
        "t": t,
        "path": path,
        "label": 1,
        "correct": correct,
        "latency_ms": 5.0 if path == "device" else 20.0,
        "uplink_bytes": uplink,
        "model_version": version if path == "server" else None,
    }


def test_offload_success_is_counted_outside_and_inside_the_failure_window():
    answers = [answer(1, "server", uplink=400), answer(2, "device"), answer(11, "fallback"), answer(12, "fallback")]
    answers += [answer(13, "server", uplink=400), answer(30, "server", uplink=400), answer(31, "fallback")]
    section = report.devices_section({"devices": 2, "seconds": 40, "answers": answers}, window=(10, 20))
    assert section["answered_share"] == 1.0
    assert section["offload_success_outside_window"] == 2 / 3  # 1 and 30 answered, 31 fell back
    assert section["offload_success_inside_window"] == 1 / 3
    assert section["fallbacks"] == 3 and section["fallback_span_s"] == 20
    assert section["uplink_bytes_per_1000"] == 3 * 400 / 7 * 1000
    assert section["versions"] == ["v1"]


def test_report_table_and_figure(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    confidence = rng.uniform(size=300)
    device_pred = np.where(confidence > 0.3, labels, (labels + 1) % 10)  # wrong only when unsure
    records = {
        "confidence": confidence.tolist(),
        "device_pred": device_pred.tolist(),
        "server_pred": labels.tolist(),
        "labels": labels.tolist(),
        "server_ms": [10.0] * 300,
        "device_ms": [0.1] * 300,
        "uplink_bytes": [450] * 300,
        "threshold": 0.3,
    }
    accuracy = report.accuracy_section(records)
    assert accuracy["cascade_above_random"]
    assert accuracy["at_threshold"]["accuracy"] == 1.0
    result = {
        "training": {"device_parameters": 1210, "temperature": 1.2, "target_rate": 0.3},
        "accuracy": accuracy,
        "cascade": report.devices_section({"devices": 1, "seconds": 1, "answers": [answer(1, "device")]}),
    }
    text = report.markdown(result)
    assert "| 30% |" in text and "cascade (1 devices" in text
    assert "over TLS" not in text and "Paths measured" not in text
    result["cascade_tls"] = report.devices_section({"devices": 2, "seconds": 1, "answers": [answer(1, "server")]})
    result["paths"] = ["cascade over TLS: https://inference.home.arpa"]
    text = report.markdown(result)
    assert "| cascade over TLS via the ingress, device certificate (2 devices, 1 answers" in text
    assert "- cascade over TLS: https://inference.home.arpa" in text
    report.figure(result, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def rate(client_p95, server_p95):
    return {
        "rate": 100,
        "seconds": 20,
        "requests": 2000,
        "ok": 2000,
        "p50_ms": client_p95 / 2,
        "p95_ms": client_p95,
        "p99_ms": client_p95 * 2,
        "achieved_rate": 100,
        "send_lag_p95_ms": 0.5,
        "generator": "asyncio open loop, latency from the scheduled time",
        "replicas": 3,
        "server": {
            "requests": 2000,
            "mean_ms": server_p95 / 3,
            "p50_ms": server_p95 / 2,
            "p95_ms": server_p95,
            "p99_ms": server_p95,
            "p95_bucket_bound_ms": 100,
            "bucket_bounds_ms": [5, 10, 25, 50, 75, 100],
        },
    }


@pytest.mark.parametrize(
    ("client", "server", "verdict"),
    [(120.0, 9.0, "outside MLServer"), (120.0, 80.0, "the server itself"), (30.0, 9.0, "none at this rate")],
)
def test_the_rate_section_says_which_side_is_the_limit(client, server, verdict):
    text = "\n".join(report.rate_lines(rate(client, server), "from client1"))
    assert f"p95 {client:.1f} ms" in text and f"p95 {server:.1f} ms" in text
    assert f"The limit: {verdict}" in text
    assert "the p95 is at most 100 ms" in text
