# SPDX-License-Identifier: GPL-3.0-or-later
"""offload_report.py's TLS path, with the lab's commands answered by a fake: which path it measures and why, the
name pinned on client1, the device's files pushed private, a device without a certificate checked, and the device
load run with the CA and the device certificate."""

from __future__ import annotations

import argparse
import json

import offload_report as rep
import pytest

INGRESS = {"spec": {"rules": [{"host": "inference.home.arpa"}]}}
FRONT = {"items": [{"status": {"loadBalancer": {"ingress": [{"ip": "10.77.0.250"}]}}}]}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A fake lab: tls files exported, the Ingress present; records every command and loadtest call."""
    (tmp_path / "devices").mkdir()
    for name in ("ca.pem", "devices/sensor1.crt", "devices/sensor1.key"):
        (tmp_path / name).write_text("PEM")
    monkeypatch.setattr(rep, "TLS_DIR", tmp_path)
    fake = argparse.Namespace(commands=[], loads=[], ingress=json.dumps(INGRESS), tmp=tmp_path)

    def run(argv, *, timeout=120, check=True, stdin=None):
        fake.commands.append(argv)
        if "ingress" in argv and "get" in argv:
            return fake.ingress
        if "services" in argv:
            return json.dumps(FRONT)
        if "check" in argv:
            with_cert = "--cert-file" in argv
            return json.dumps({"ready": with_cert, "model_ready": with_cert})
        return ""

    def loadtest(mode, url, *extra, timeout=600):
        fake.loads.append((mode, url, extra))
        answer = {"t": 1.0, "path": "server", "label": 1, "correct": True, "latency_ms": 4.0, "uplink_bytes": 400}
        return {"devices": 2, "seconds": 1.0, "answers": [answer]}

    monkeypatch.setattr(rep, "run", run)
    monkeypatch.setattr(rep, "loadtest", loadtest)
    return fake


ARGS = argparse.Namespace(devices=2, seconds=1.0)


def test_with_tls_the_devices_run_through_the_ingress_with_the_device_certificate(lab):
    result: dict = {}
    rep.tls_phase(ARGS, result, "http://10.77.0.240:8080")
    [(mode, url, extra)] = lab.loads
    assert mode == "devices" and url == "https://inference.home.arpa"
    flags = dict(zip(extra[::2], extra[1::2]))
    assert flags["--cert-file"].endswith("/sensor1.crt") and flags["--key-file"].endswith("/sensor1.key")
    assert flags["--ca-file"].endswith("/ca.pem")
    pins = [argv[-1] for argv in lab.commands if argv[-3:-1] == ["sh", "-c"]]
    assert pins and "echo '10.77.0.250 inference.home.arpa' >> /etc/hosts" in pins[0]
    pushes = [argv for argv in lab.commands if argv[:3] == ["lxc", "file", "push"]]
    assert len(pushes) == 3 and all(argv[argv.index("--mode") + 1] == "0600" for argv in pushes)
    assert result["cascade_tls"]["refused_without_cert"] == "refused"
    assert result["cascade_tls"]["p95_ms"] == 4.0
    assert "https://inference.home.arpa on the ingress address 10.77.0.250" in result["paths"][1]
    assert "http://10.77.0.240:8080" in result["paths"][0]


def test_without_the_ingress_entry_the_tls_path_is_reported_unmeasured(lab):
    lab.ingress = ""
    result: dict = {}
    rep.tls_phase(ARGS, result, "http://10.77.0.240:8080")
    assert lab.loads == [] and "cascade_tls" not in result
    assert "not measured (no Ingress default/inference" in result["paths"][1]


def test_without_the_exported_device_files_the_tls_path_is_reported_unmeasured(lab):
    (lab.tmp / "devices" / "sensor1.key").unlink()
    result: dict = {}
    rep.tls_phase(ARGS, result, "http://10.77.0.240:8080")
    assert (
        lab.loads == [] and "tls_ingress has not exported" in result["paths"][1] and "sensor1.key" in result["paths"][1]
    )
