# SPDX-License-Identifier: GPL-3.0-or-later
"""The failover drill's probe: outage windows and a real run against a local HTTP server that goes away."""

from __future__ import annotations

import http.server
import importlib.util
import json
import pathlib
import threading

PROBE = pathlib.Path(__file__).parents[3] / "playbooks" / "files" / "probe.py"
_spec = importlib.util.spec_from_file_location("probe", PROBE)
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def test_no_failure_means_no_outage():
    assert probe.outages([(0.0, True), (0.2, True), (0.4, True)]) == []


def test_outage_runs_from_last_success_to_next_success():
    samples = [(0.0, True), (0.2, False), (0.4, False), (0.6, True), (0.8, False), (1.0, True)]
    found = probe.outages(samples)
    assert [o["seconds"] for o in found] == [0.6, 0.4]
    assert found[0]["start"] == 0.0 and found[0]["end"] == 0.6


def test_outage_still_going_at_the_end_is_marked():
    found = probe.outages([(0.0, True), (1.0, False), (2.0, False)])
    assert found == [{"start": 0.0, "end": 2.0, "seconds": 2.0, "ongoing": True}]


def test_never_answering_counts_from_the_first_attempt():
    assert probe.outages([(5.0, False), (6.0, False)])[0]["seconds"] == 1.0


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Hello World from test\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_probe_falls_over_to_the_url_that_answers(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dead = "http://127.0.0.1:9/"  # discard port: nothing listens
    live = "http://127.0.0.1:%d/" % server.server_address[1]
    out = tmp_path / "report.json"
    try:
        assert (
            probe.main(["--url", dead, "--url", live, "--seconds", "0.5", "--interval", "0.1", "--out", str(out)]) == 0
        )
    finally:
        server.shutdown()
    report = json.loads(out.read_text())
    assert report["attempts"] >= 3
    assert report["succeeded"] == report["attempts"]
    assert report["answers"] == {"Hello World from test": report["attempts"]}
    assert report["outages"] == []
