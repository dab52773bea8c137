# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""The storage drill's acknowledgement collector: runs on a node that keeps its power (the witness), outside the
storage under test. Every line a writer sends is appended to --out as `RECEIVED CONNECTION LINE` (receive time,
a number per TCP connection), flushed at once. Exits after --seconds.

    storage_collector.py --port 7070 --out /var/lib/onprem-microk8s/storage-drill/acks.log --seconds 900
"""

from __future__ import annotations

import argparse
import itertools
import os
import socketserver
import sys
import threading
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--pidfile", default="")
    args = parser.parse_args(argv)
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write("%d\n" % os.getpid())
    lock, connections = threading.Lock(), itertools.count(1)
    out = open(args.out, "a", buffering=1)  # noqa: SIM115 (open for the server's lifetime)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            conn = next(connections)
            for raw in self.rfile:
                line = raw.decode("ascii", "replace").strip()
                if line:
                    with lock:
                        out.write("%.3f %d %s\n" % (time.time(), conn, line))

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("", args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(args.seconds)
    server.shutdown()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
