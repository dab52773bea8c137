# SPDX-License-Identifier: GPL-3.0-or-later
"""The server side of the devices' retraining queue: offloaded inputs with the server's answer, uploaded by devices
(`onprem-device upload`, or `run --upload-url`) and kept on a replicated volume for the next model version, beside
every model version the service has served (the artifacts the role deployed), so retraining and rollback have both.

POST /v1/samples  {"device": "<id>", "records": [{...}, ...]}  -> 204 once the batch is on disk (written and
                  fsync'd: on a replicated volume that means stored on the replicas the engine acknowledges), 400 for
                  a body that is not such a batch; a device removes records from its own queue only after a 2xx.
GET  /v1/samples  {"records": <lines kept>, "bytes": <size>}      GET /healthz  200 once the volume is writable.
PUT  /v1/models/<name>/<version>   the artifact's bytes (X-Content-Sha256: its SHA-256, checked when given) -> 201
                  once written and fsync'd, 200 when that version is kept with the same bytes, 409 when it is kept
                  with other bytes (a version is immutable: give new bytes a new version), 400 for a bad name.
GET  /v1/models   {"models": [{"name", "version", "sha256", "bytes"}, ...]}
GET  /v1/models/<name>/<version>   the artifact's bytes (404 when not kept).

The batches go to <dir>/samples.jsonl, one JSON object per record with the device's id; a torn last line (a power
cut mid-write, never acknowledged) is cut off at start-up. A model version is <dir>/models/<name>/<version>/artifact
then meta.json (its SHA-256 and size), each written to a temporary file, fsync'd and renamed: a version without
meta.json was never acknowledged and is removed at start-up. Standard library only: it runs in the inference image.

sample_store.py --dir /data [--listen 0.0.0.0:8090] [--max-batch 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import pathlib
import re
import shutil
import threading

FILE_NAME = "samples.jsonl"
MODELS_DIR = "models"
# Model names and versions become directory names: no separators, and a first character that is no dot.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


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


class VersionConflict(Exception):
    """The version is kept with other bytes."""


def _write_synced(path: pathlib.Path, data: bytes) -> None:
    """Write data to path through a temporary file: written, fsync'd, renamed, the directory fsync'd."""
    temporary = path.with_name("." + path.name + ".tmp")
    with temporary.open("wb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ModelArchive:
    """Every model version served, immutable once kept: <root>/<name>/<version>/artifact and meta.json."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        for version_dir in root.glob("*/*"):  # a version cut off before its meta.json was never acknowledged
            if version_dir.is_dir() and not (version_dir / "meta.json").exists():
                shutil.rmtree(version_dir)

    def _dir(self, name: str, version: str) -> pathlib.Path:
        if not (NAME.match(name) and NAME.match(version)):
            raise ValueError(f"bad model name or version {name!r}/{version!r}: letters, digits, '.', '_', '-'")
        return self.root / name / version

    def meta(self, name: str, version: str) -> dict | None:
        path = self._dir(name, version) / "meta.json"
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, name: str, version: str, data: bytes) -> bool:
        """Keep the artifact; True when stored now, False when kept already with these bytes."""
        digest = hashlib.sha256(data).hexdigest()
        with self.lock:
            kept = self.meta(name, version)
            if kept is not None:
                if kept["sha256"] != digest:
                    raise VersionConflict(
                        f"{name} {version} is kept with sha256 {kept['sha256']}, not {digest}: "
                        "a version is immutable, give these bytes a new version"
                    )
                return False
            version_dir = self._dir(name, version)
            version_dir.mkdir(parents=True, exist_ok=True)
            _write_synced(version_dir / "artifact", data)
            meta = {"name": name, "version": version, "sha256": digest, "bytes": len(data)}
            _write_synced(version_dir / "meta.json", json.dumps(meta).encode())
            return True

    def get(self, name: str, version: str) -> bytes | None:
        if self.meta(name, version) is None:
            return None
        return (self._dir(name, version) / "artifact").read_bytes()

    def list(self) -> list:
        with self.lock:
            found = [json.loads(path.read_text()) for path in self.root.glob("*/*/meta.json")]
        return sorted(found, key=lambda meta: (meta["name"], meta["version"]))


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


def make_server(
    store: Store, host: str, port: int, max_batch: int, models: ModelArchive | None = None, max_model_bytes=1 << 26
) -> http.server.ThreadingHTTPServer:
    models = models or ModelArchive(store.path.parent / MODELS_DIR)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict | bytes | None = None) -> None:
            data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            if data:
                kind = "application/octet-stream" if isinstance(body, bytes) else "application/json"
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _model_path(self) -> tuple[str, str] | None:
            parts = self.path.rstrip("/").split("/")
            return (parts[3], parts[4]) if len(parts) == 5 and parts[1:3] == ["v1", "models"] else None

        def do_PUT(self):
            where = self._model_path()
            if where is None:
                return self._answer(404, {"error": "PUT /v1/models/<name>/<version>"})
            length = int(self.headers.get("Content-Length") or -1)
            if not 0 < length <= max_model_bytes:
                return self._answer(400, {"error": f"a Content-Length of 1 to {max_model_bytes} bytes is needed"})
            data = self.rfile.read(length)
            wanted = (self.headers.get("X-Content-Sha256") or "").strip().lower()
            if wanted and wanted != hashlib.sha256(data).hexdigest():
                return self._answer(400, {"error": "the body's sha256 is not X-Content-Sha256: damaged on the way"})
            try:
                stored = models.put(*where, data)
            except ValueError as error:
                return self._answer(400, {"error": str(error)})
            except VersionConflict as error:
                return self._answer(409, {"error": str(error)})
            return self._answer(201 if stored else 200, models.meta(*where))

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
            if self.path.rstrip("/") == "/v1/models":
                return self._answer(200, {"models": models.list()})
            where = self._model_path()
            try:
                artifact = models.get(*where) if where else None
            except ValueError as error:
                return self._answer(400, {"error": str(error)})
            if artifact is not None:
                return self._answer(200, artifact)
            return self._answer(404, {"error": "GET /v1/samples, /v1/models[/<name>/<version>] or /healthz"})

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
    models = ModelArchive(args.dir / MODELS_DIR)
    server = make_server(store, host or "0.0.0.0", int(port), args.max_batch, models=models)
    kept = len(models.list())
    print(
        f"sample_store: {store.records} records in {store.path}, {kept} model versions, listening on {args.listen}",
        flush=True,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
