# SPDX-License-Identifier: GPL-3.0-or-later
"""The seed's `hello` app: answers `Hello World` and which pod answered; `/healthz` for probes. Stdlib only."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import sys

PORT = int(os.environ.get("PORT", "8080"))
POD = os.environ.get("POD_NAME") or socket.gethostname()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # the name http.server calls
        body = b"ok\n" if self.path == "/healthz" else ("Hello World from %s\n" % POD).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # one line per request on stdout, like any container log
        print("%s %s" % (self.address_string(), self.requestline), flush=True)


def main():
    # As PID 1 of its container the app gets no default SIGTERM action: exit on it, so a pod stops at once
    # instead of waiting for the kill at the end of the grace period.
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
    server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Hello)
    print("hello listening on :%d as %s" % (PORT, POD), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
