# SPDX-License-Identifier: GPL-3.0-or-later
"""Offload over the v2 protocol against a fake server on loopback: answers, timeouts, retry on a new connection,
fallback, and every answer saying its path and latency."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from onprem_device.cascade import Device
from onprem_device.client import OffloadError, V2Client
from onprem_device.model import DeviceModel


def device(trained, url, policy="cascade", timeout=0.3, spool=None):
    model = DeviceModel.load(trained["dir"] / "device")
    return Device(model, V2Client(url, timeout=timeout), policy=policy, spool=spool)


def unsure_and_sure(trained):
    model = DeviceModel.load(trained["dir"] / "device")
    confidence = model.predict_proba(trained["x"]).max(1)
    return trained["x"][confidence.argmin()], trained["x"][confidence.argmax()]


def test_confident_inputs_stay_on_the_device_and_unsure_ones_go_to_the_server(trained, fake_server):
    unsure, sure = unsure_and_sure(trained)
    dev = device(trained, fake_server.url)
    local = dev.answer(sure)
    assert local.path == "device" and local.uplink_bytes == 0 and fake_server.requests == 0
    offloaded = dev.answer(unsure)
    assert offloaded.path == "server" and fake_server.requests == 1
    assert offloaded.label == int(trained["server"].predict([unsure])[0])
    assert offloaded.model_version == "v1" and offloaded.uplink_bytes > 64
    assert offloaded.latency_ms > 0 and local.latency_ms > 0


def test_a_kept_alive_connection_serves_many_requests(trained, fake_server):
    dev = device(trained, fake_server.url, policy="server")
    for row in trained["x"][:20]:
        assert dev.answer(row).path == "server"
    assert fake_server.connections == 1


def test_a_dropped_connection_is_retried_once_on_a_new_one(trained, fake_server):
    unsure, _sure = unsure_and_sure(trained)
    fake_server.close_first = 1
    answer = device(trained, fake_server.url).answer(unsure)
    assert (answer.path, answer.attempts) == ("server", 2)
    assert fake_server.connections == 2


def test_a_slow_server_gives_the_local_answer_within_the_timeouts(trained, fake_server):
    unsure, _sure = unsure_and_sure(trained)
    fake_server.delay = 1.0
    dev = device(trained, fake_server.url, timeout=0.1)
    answer = dev.answer(unsure)
    assert answer.path == "fallback" and "timed out" in answer.error
    assert answer.label == answer.device_label
    assert answer.latency_ms < 2 * 100 + 150  # two attempts of 0.1 s, plus slack


def test_server_errors_fall_back(trained, fake_server):
    unsure, _sure = unsure_and_sure(trained)
    fake_server.status = 503
    assert device(trained, fake_server.url).answer(unsure).path == "fallback"


def test_nobody_listening_falls_back_fast(trained):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unsure, _sure = unsure_and_sure(trained)
    answer = device(trained, f"http://127.0.0.1:{port}").answer(unsure)
    assert answer.path == "fallback" and answer.latency_ms < 700


def test_health_and_model_readiness(fake_server):
    client = V2Client(fake_server.url)
    assert client.ready() and client.model_ready("digits") and not client.model_ready("other")
    with pytest.raises(OffloadError, match="HTTP 404"):
        client.infer("other", [0.0] * 64)


@pytest.mark.parametrize("url", ["ftp://x", "digits", "http://"])
def test_bad_server_urls_are_refused(url):
    with pytest.raises(ValueError, match="server URL"):
        V2Client(url)


def test_policies_offload_as_they_say(trained, fake_server):
    rows = trained["x"][:200]
    paths = {
        policy: [device(trained, fake_server.url, policy=policy).answer(row).path for row in rows]
        for policy in ("device", "server")
    }
    assert set(paths["device"]) == {"device"} and set(paths["server"]) == {"server"}
    model = DeviceModel.load(trained["dir"] / "device")
    rand = Device(model, V2Client(fake_server.url), policy="random", rate=0.3, seed=1)
    share = np.mean([rand.answer(row).path == "server" for row in rows])
    assert 0.15 < share < 0.45


def test_simulated_devices_stop_when_the_stop_file_appears(trained, fake_server, tmp_path):
    import threading
    import time

    from onprem_device import loadtest

    stop_file = tmp_path / "stop"
    threading.Timer(1.0, stop_file.touch).start()
    started = time.monotonic()
    argv = ["devices", "--server", fake_server.url, "--model", str(trained["dir"] / "device")]
    argv += ["--data", str(trained["dir"] / "test.npz"), "--devices", "2", "--seconds", "60"]
    argv += ["--stop-file", str(stop_file), "--out", str(tmp_path / "out.json")]
    assert loadtest.main(argv) == 0
    assert time.monotonic() - started < 10
    found = __import__("json").loads((tmp_path / "out.json").read_text())
    answers = found["answers"]
    assert answers and {a["path"] for a in answers} <= {"device", "server"}
    assert 0.9 < found["seconds"] < 10  # how long they ran, not the 60 s they were allowed
