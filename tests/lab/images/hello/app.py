# SPDX-License-Identifier: GPL-3.0-or-later
"""The seed's `hello` app: answers every GET on :8080 with "Hello World" and the pod that answered."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import sys

PORT = int(os.environ.get("PORT", "8080"))


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"Hello World from {socket.gethostname()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    # As PID 1 of its pod the app gets no default SIGTERM action: exit on it, so a pod stops without the kill timeout.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    print(f"hello listening on :{PORT}", flush=True)
    http.server.ThreadingHTTPServer(("", PORT), Hello).serve_forever()
