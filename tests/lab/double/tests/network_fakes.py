# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for the network tests: a command runner that records and answers, tiny HTTP backends on loopback."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRunner:
    """Records every command; `answers` maps a command prefix (tuple) to (rc, stdout)."""

    def __init__(self, answers: dict | None = None):
        self.answers = answers or {}
        self.commands: list[tuple[str, ...]] = []

    def run(self, *argv: str) -> tuple[int, str]:
        self.commands.append(argv)
        for prefix, answer in self.answers.items():
            if argv[: len(prefix)] == prefix:
                return answer
        return 0, ""


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((ip, 0))
        return probe.getsockname()[1]


def backend(text: str, ip: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, tuple[str, int]]:
    """An HTTP server answering `text`, the request's path and its Host/X-Forwarded-Proto on every GET."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = f"{text} {self.path} {self.headers.get('Host')} {self.headers.get('X-Forwarded-Proto')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((ip, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address
