# SPDX-License-Identifier: GPL-3.0-or-later
"""The retraining queue: offloaded inputs with the server's answer, kept in a SQLite file (across restarts and
while offline) and uploaded in batches to a collector when it can be reached; removed only once it said 2xx."""

from __future__ import annotations

import http.client
import json
import pathlib
import sqlite3
import time
import urllib.parse

from onprem_device.client import tls_context

SCHEMA = """CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    features TEXT NOT NULL,
    server_label INTEGER NOT NULL,
    device_label INTEGER NOT NULL,
    confidence REAL NOT NULL,
    model_version TEXT
)"""


class Spool:
    def __init__(self, path: str | pathlib.Path, max_records: int = 100_000, device_id: str = "device"):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_records = max_records
        self.device_id = device_id
        self.db = sqlite3.connect(str(self.path), timeout=5.0, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def put(self, features, server_label: int, device_label: int, confidence: float, version: str | None) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO queue (created, features, server_label, device_label, confidence, model_version)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), json.dumps(features), int(server_label), int(device_label), confidence, version),
            )
            # A bounded queue: a device offline for long drops its oldest records, never fills its SD card.
            self.db.execute(
                "DELETE FROM queue WHERE id <= (SELECT MAX(id) FROM queue) - ?",
                (self.max_records,),
            )

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def pending(self, limit: int = 500) -> list[dict]:
        rows = self.db.execute(
            "SELECT id, created, features, server_label, device_label, confidence, model_version"
            " FROM queue ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        keys = ("id", "created", "features", "server_label", "device_label", "confidence", "model_version")
        records = [dict(zip(keys, row)) for row in rows]
        for record in records:
            record["features"] = json.loads(record["features"])
        return records

    def ack(self, ids: list[int]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])

    def upload(
        self,
        url: str,
        batch: int = 500,
        timeout: float = 5.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> int:
        """POST the queue in batches as JSON to `url`; returns how many records the collector took.

        Stops at the first failure (offline: try again later); a batch leaves the queue only after a 2xx."""
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"the upload URL must be http(s)://host[:port]/path, got {url!r}")
        context = tls_context(ca_file, cert_file, key_file) if parsed.scheme == "https" else None
        sent = 0
        while True:
            records = self.pending(batch)
            if not records:
                return sent
            body = json.dumps({"device": self.device_id, "records": records}).encode()
            if context is not None:
                conn = http.client.HTTPSConnection(parsed.hostname, parsed.port, timeout=timeout, context=context)
            else:
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
            try:
                conn.request("POST", parsed.path or "/", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 300:
                    return sent
            except (OSError, http.client.HTTPException):
                return sent
            finally:
                conn.close()
            self.ack([record["id"] for record in records])
            sent += len(records)
