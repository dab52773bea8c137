# SPDX-License-Identifier: GPL-3.0-or-later
"""The retraining queue: offloaded inputs kept across restarts and while offline, uploaded once a collector takes
them; and the CLI around it."""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
from onprem_device import cli
from onprem_device.cascade import Device
from onprem_device.client import V2Client
from onprem_device.model import DeviceModel
from onprem_device.spool import Spool


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def collector(path):
    server = cli.make_collector("127.0.0.1", 0, path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/feedback"


def test_offloaded_answers_are_queued_survive_a_restart_and_upload_when_online(trained, fake_server, tmp_path):
    spool_file = tmp_path / "spool.db"
    model = DeviceModel.load(trained["dir"] / "device")
    dev = Device(model, V2Client(fake_server.url), policy="server", spool=Spool(spool_file))
    for row in trained["x"][:7]:
        dev.answer(row)
    dev.spool.close()

    reopened = Spool(spool_file)  # the device restarted
    assert len(reopened) == 7
    assert reopened.upload(f"http://127.0.0.1:{free_port()}/feedback", timeout=0.5) == 0  # offline
    assert len(reopened) == 7

    sink = tmp_path / "feedback.jsonl"
    server, url = collector(sink)
    try:
        assert reopened.upload(url, batch=3) == 7
    finally:
        server.shutdown()
    assert len(reopened) == 0
    lines = [json.loads(line) for line in sink.read_text().splitlines()]
    assert len(lines) == 7 and len(lines[0]["features"]) == 64
    assert lines[0]["server_label"] == int(trained["server"].predict([trained["x"][0]])[0])


def test_fallback_answers_are_not_queued(trained, tmp_path):
    spool = Spool(tmp_path / "spool.db")
    model = DeviceModel.load(trained["dir"] / "device")
    Device(model, V2Client(f"http://127.0.0.1:{free_port()}"), policy="server", spool=spool).answer(trained["x"][0])
    assert len(spool) == 0


def test_the_queue_is_bounded(tmp_path):
    spool = Spool(tmp_path / "spool.db", max_records=5)
    for index in range(12):
        spool.put([index], 1, 1, 0.5, "v1")
    assert [record["features"] for record in spool.pending()] == [[7], [8], [9], [10], [11]]


def test_cli_run_answers_json_lines_with_path_and_latency(trained, fake_server, tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(row.tolist()) + "\n" for row in trained["x"][:50]))
    model = str(trained["dir"] / "device")
    rc = cli.main(["run", "--model", model, "--server", fake_server.url, "--input", str(inputs)])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and len(answers) == 50
    assert {answer["path"] for answer in answers} <= {"device", "server"}
    assert all(answer["latency_ms"] > 0 for answer in answers)


def test_cli_check_and_clear_errors(fake_server, capsys, monkeypatch):
    assert cli.main(["check", "--server", fake_server.url]) == 0
    assert json.loads(capsys.readouterr().out)["model_ready"] is True
    monkeypatch.delenv("ONPREM_DEVICE_SERVER", raising=False)
    assert cli.main(["check"]) == 2
    assert "no server" in capsys.readouterr().err


def test_npz_inputs(trained, tmp_path):
    assert len(list(cli.read_inputs(str(trained["dir"] / "test.npz")))) == len(trained["y"])
    np.save(tmp_path / "one.npy", trained["x"][0])
    assert len(list(cli.read_inputs(str(tmp_path / "one.npy")))) == 1
