# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""The storage drill's writer (runs in a pod, standard library only) and its record format.

Each record is one line `SEQ TIME PAYLOAD CHECKSUM\\n`: SEQ counts from 1, TIME is the writer's clock, PAYLOAD a fixed
filler, CHECKSUM the first 16 hex digits of SHA-256 over `SEQ TIME PAYLOAD`. A record is acknowledged only once it
is written, flushed and fsync'd AND its `ACK SEQ CHECKSUM` line has been sent to the collector outside the cluster's
storage (a TCP line to a process on another node): the drill counts as lost any acknowledged record the volume no
longer holds intact.

At start the writer reads the log it finds on the volume, cuts a torn last line (never acknowledged: the power went
before its fsync returned), reports every intact record (`HAVE SEQ CHECKSUM`) and every damaged line (`BAD LINE`) to
the collector, then appends from the highest sequence number found. It answers `GET /healthz` with 200 once that
scan is reported (the pod's readiness probe).

    storage_writer.py --log /data/records.log --collector 10.0.0.3:7070 --interval 0.1 --name $POD --node $NODE
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import socket
import sys
import threading
import time

PAYLOAD = "x" * 64


def checksum(seq, stamp, payload):
    return hashlib.sha256(("%d %s %s" % (seq, stamp, payload)).encode()).hexdigest()[:16]


def record(seq, stamp, payload=PAYLOAD):
    """The bytes of record `seq` written at `stamp` (a string such as '1795000000.123')."""
    return ("%d %s %s %s\n" % (seq, stamp, payload, checksum(seq, stamp, payload))).encode()


def parse_log(data):
    """A log's bytes -> (records {seq: checksum} of the intact lines, bad [line numbers], torn_bytes).

    A last line without its newline is torn (cut mid-write, never acknowledged): reported by length, not as bad.
    A line is bad when it does not parse or its checksum does not match; a sequence number seen twice keeps the
    first intact copy."""
    records, bad = {}, []
    lines = data.split(b"\n")
    torn = len(lines[-1])
    for number, raw in enumerate(lines[:-1], start=1):
        try:
            seq_text, stamp, payload, digest = raw.decode("ascii").split(" ")
            seq = int(seq_text)
        except (UnicodeDecodeError, ValueError):
            bad.append(number)
            continue
        if checksum(seq, stamp, payload) != digest:
            bad.append(number)
        elif seq not in records:
            records[seq] = digest
    return records, bad, torn


class Reporter:
    """One TCP connection to the collector, reopened when it breaks; `send` returns only once the line is sent."""

    def __init__(self, address, name, node):
        host, _sep, port = address.rpartition(":")
        self.target = (host, int(port)) if address else None
        self.name, self.node, self.sock = name, node, None

    def send(self, line):
        if self.target is None:  # no collector (the demo): the pod's log
            print(line, flush=True)
            return
        while True:
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.target, timeout=2)
                    self.sock.sendall(("HELLO %s %s\n" % (self.name, self.node)).encode())
                self.sock.sendall((line + "\n").encode())
                return
            except OSError:
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                time.sleep(0.2)


def serve_health(port, ready):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if ready.is_set() else 503
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok\n" if code == 200 else b"scanning\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True)
    parser.add_argument("--collector", default="", help="host:port; empty: report to stdout")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--name", default=socket.gethostname())
    parser.add_argument("--node", default="")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    ready = threading.Event()
    serve_health(args.port, ready)
    reporter = Reporter(args.collector, args.name, args.node)

    data = b""
    if os.path.exists(args.log):
        with open(args.log, "rb") as handle:
            data = handle.read()
    records, bad, torn = parse_log(data)
    with open(args.log, "ab") as log:
        if torn:
            log.truncate(len(data) - torn)
            log.flush()
            os.fsync(log.fileno())
        for seq in sorted(records):
            reporter.send("HAVE %d %s" % (seq, records[seq]))
        for number in bad:
            reporter.send("BAD %d" % number)
        reporter.send("SCANNED %d %d %d" % (len(records), len(bad), torn))
        ready.set()
        seq = max(records, default=0)
        while True:
            seq += 1
            line = record(seq, "%.3f" % time.time())
            log.write(line)
            log.flush()
            os.fsync(log.fileno())
            reporter.send("ACK %d %s" % (seq, line.split()[-1].decode()))
            time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
