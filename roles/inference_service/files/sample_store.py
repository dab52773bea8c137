# SPDX-License-Identifier: GPL-3.0-or-later
"""The server side of the devices' retraining queue: offloaded inputs with the server's answer, uploaded by devices
(`onprem-device upload`, or `run --upload-url`) and kept on a replicated volume for the next model version.

POST /v1/samples  {"device": "<id>", "records": [{...}, ...]}  -> 204 once the batch is on disk (written and
                  fsync'd: on a replicated volume that means stored on the replicas the engine acknowledges), 400 for
                  a body that is not such a batch; a device removes records from its own queue only after a 2xx.
GET  /v1/samples  {"records": <lines kept>, "bytes": <size>}      GET /healthz  200 once the volume is writable.

The batches go to <dir>/samples.jsonl, one JSON object per record with the device's id; a torn last line (a power
cut mid-write, never acknowledged) is cut off at start-up. Standard library only: it runs in the inference image.

sample_store.py --dir /data [--listen 0.0.0.0:8090] [--max-batch 1000]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import pathlib
import threading

FILE_NAME = "samples.jsonl"


class Store:
    """An append-only JSON-lines file: batches are written whole and fsync'd before they are acknowledged."""

    def __init__(self, directory: pathlib.Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self.lock = threading.Lock()
        self.records = self._recover()

    def _recover(self) -> int:
        """Count the complete lines and cut a torn tail off (bytes after the last newline were never acknowledged)."""
        if not self.path.exists():
            self.path.touch()
            return 0
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            with self.path.open("r+b") as sink:
                sink.truncate(complete)
                os.fsync(sink.fileno())
        return data.count(b"\n", 0, complete)

    def append(self, device: str, records: list) -> None:
        lines = "".join(json.dumps({"device": device, **record}, separators=(",", ":")) + "\n" for record in records)
        with self.lock, self.path.open("a", encoding="utf-8") as sink:
            sink.write(lines)
            sink.flush()
            os.fsync(sink.fileno())
            self.records += len(records)

    def summary(self) -> dict:
        with self.lock:
            return {"records": self.records, "bytes": self.path.stat().st_size}


def parse_batch(body: bytes, max_batch: int) -> tuple[str, list]:
    """(device, records) of an upload; ValueError names what is wrong."""
    try:
        batch = json.loads(body)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(batch, dict) or not isinstance(batch.get("records"), list):
        raise ValueError('expected {"device": ..., "records": [...]}')
    records = batch["records"]
    if len(records) > max_batch:
        raise ValueError(f"{len(records)} records in one batch, at most {max_batch}")
    if not all(isinstance(record, dict) for record in records):
        raise ValueError("every record must be a JSON object")
    return str(batch.get("device") or "unknown"), records


def make_server(store: Store, host: str, port: int, max_batch: int) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path.rstrip("/") != "/v1/samples":
                return self._answer(404, {"error": "POST /v1/samples"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                device, records = parse_batch(self.rfile.read(length), max_batch)
            except ValueError as error:
                return self._answer(400, {"error": str(error)})
            store.append(device, records)
            return self._answer(204)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/samples":
                return self._answer(200, store.summary())
            if self.path == "/healthz":
                return self._answer(200, {"ok": os.access(store.path, os.W_OK)})
            return self._answer(404, {"error": "GET /v1/samples or /healthz"})

        def log_message(self, *args):
            pass

    return http.server.ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=pathlib.Path)
    parser.add_argument("--listen", default="0.0.0.0:8090")
    parser.add_argument("--max-batch", type=int, default=1000)
    args = parser.parse_args(argv)
    host, _colon, port = args.listen.rpartition(":")
    store = Store(args.dir)
    server = make_server(store, host or "0.0.0.0", int(port), args.max_batch)
    print(f"sample_store: {store.records} records in {store.path}, listening on {args.listen}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
