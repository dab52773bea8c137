# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the device package's tests: trained models (once per session, seconds) and a fake v2 server."""

from __future__ import annotations

import http.server
import json
import pathlib
import sys
import threading
import time

import pytest

DEVICE_DIR = pathlib.Path(__file__).resolve().parents[2] / "device"
sys.path.insert(0, str(DEVICE_DIR))


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Both models trained as `make offload-report` does, with the test split."""
    import joblib
    import numpy as np
    from onprem_device import train

    out = tmp_path_factory.mktemp("trained")
    summary = train.build(out, target_rate=0.3, seed=0)
    test = np.load(out / "test.npz")
    return {
        "dir": out,
        "summary": summary,
        "x": test["x"],
        "y": test["y"],
        "server": joblib.load(out / "server" / train.SERVER_MODEL),
    }


class FakeV2:
    """A v2 server: `predict(row) -> label`, with failure modes: delay (s), close_first (drop the first N
    connections without answering), status (HTTP status for infer)."""

    def __init__(self, predict):
        self.predict = predict
        self.delay = 0.0
        self.close_first = 0
        self.status = 200
        self.requests = 0
        self.connections = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                fake.connections += 1

            def do_GET(self):
                ready = self.path in ("/v2/health/ready", "/v2/models/digits/ready")
                self._send(200 if ready else 404, b"")

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests += 1
                if fake.close_first > 0:
                    fake.close_first -= 1
                    self.close_connection = True
                    self.connection.close()
                    return
                time.sleep(fake.delay)
                if self.path != "/v2/models/digits/infer":
                    self._send(404, b'{"error": "no model"}')
                    return
                label = fake.predict(body["inputs"][0]["data"])
                answer = {
                    "model_name": "digits",
                    "model_version": "v1",
                    "outputs": [{"name": "predict", "shape": [1, 1], "datatype": "INT64", "data": [label]}],
                }
                self._send(fake.status, json.dumps(answer).encode())

            def _send(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_server(trained):
    with FakeV2(lambda row: int(trained["server"].predict([row])[0])) as fake:
        yield fake


@pytest.fixture
def new_fake_server(trained):
    """A fake v2 server not yet started (a test can wrap its socket, e.g. in TLS, before `with`)."""
    return lambda: FakeV2(lambda row: int(trained["server"].predict([row])[0]))
