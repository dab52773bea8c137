# SPDX-License-Identifier: GPL-3.0-or-later
"""The nexus of one mounted volume: it sends every mutating operation to all the volume's replicas (io-engine
servers, over TCP even for the one on this node) and succeeds once a majority (`len(replicas) // 2 + 1`) applied it;
`fsync` succeeds once a majority made it durable. A replica that fails or times out is faulted; faulted replicas are
rebuilt (a full copy from a healthy one) when they answer again: every `REVIVE_PERIOD`, and before an operation
when fewer than a majority are healthy.
Without a majority an operation is retried until `io_timeout` (the class's `ioTimeout`) and then fails with EIO.

At start the nexus needs a majority of replicas reachable: it claims the volume with an epoch above every
replica's (older nexuses, e.g. on a node that was cut off, are fenced from then on) and rebuilds every reachable
replica from the newest one (the highest epoch of its last operation, then sequence number, as Raft compares logs),
which holds every operation a majority acknowledged."""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

REQUEST_TIMEOUT = 2.0  # one request to one replica
REVIVE_PERIOD = 2.0


class NexusError(OSError):
    pass


class Replica:
    """A connection to one io-engine replica server."""

    def __init__(self, host: str, port: int, timeout: float = REQUEST_TIMEOUT):
        self.address, self.timeout = (host, port), timeout
        self.sock: socket.socket | None = None
        self.reader = None
        self.lock = threading.Lock()

    def call(self, request: dict) -> dict:
        with self.lock:
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.address, timeout=self.timeout)
                    self.reader = self.sock.makefile("rb")
                self.sock.sendall(json.dumps(request).encode() + b"\n")
                line = self.reader.readline()
                if not line:
                    raise ConnectionError("closed")
                return json.loads(line)
            except (OSError, ValueError):
                self.close()
                raise

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = self.reader = None


def errno_of(name: str) -> int:
    return getattr(errno, name, errno.EIO) if name.startswith("E") else errno.EIO


class Nexus:
    def __init__(self, volume: str, replicas: list[tuple[str, int]], io_timeout: float = 10.0,
                 request_timeout: float = REQUEST_TIMEOUT, pool: str = "mayastor"):  # fmt: skip
        self.volume, self.io_timeout, self.pool_name = volume, io_timeout, pool
        self.replicas = [Replica(host, port, request_timeout) for host, port in replicas]
        self.majority = len(self.replicas) // 2 + 1
        self.healthy: set[int] = set()
        self.seq = self.epoch = 0
        self.lock = threading.RLock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.replicas)))
        self.stopped = threading.Event()

    # -- fan-out ----------------------------------------------------------------------------------------------------
    def fan(self, indexes, request: dict) -> dict[int, dict | None]:
        """`request` to each replica of `indexes` at once; None for one that did not answer."""

        def one(index):
            try:
                return index, self.call(index, request)
            except (OSError, ValueError):
                return index, None

        return dict(self.pool.map(one, list(indexes)))

    def call(self, index: int, request: dict) -> dict:
        return self.replicas[index].call(dict(request, volume=self.volume, pool=self.pool_name))

    # -- start ------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Claim the volume and bring the reachable replicas to the newest state; NexusError without a majority."""
        deadline = time.monotonic() + self.io_timeout
        while True:
            with self.lock:
                if self.try_start():
                    break
            if time.monotonic() >= deadline:
                raise NexusError(errno.EIO, f"volume {self.volume}: fewer than {self.majority} replicas reachable")
            time.sleep(0.5)
        threading.Thread(target=self.revive_loop, daemon=True, name="nexus-revive").start()

    def try_start(self) -> bool:
        hellos = {i: a for i, a in self.fan(range(len(self.replicas)), {"op": "hello"}).items() if a and a["ok"]}
        if len(hellos) < self.majority:
            return False
        self.epoch = max(a["epoch"] for a in hellos.values()) + 1
        claims = self.fan(hellos, {"op": "claim", "epoch": self.epoch})
        claimed = {i: a for i, a in claims.items() if a and a["ok"]}
        if len(claimed) < self.majority:
            return False
        newest = max(claimed, key=lambda i: (claimed[i].get("term", 0), claimed[i]["seq"]))
        self.seq = claimed[newest]["seq"]
        self.healthy = {newest}
        for index in claimed:
            if index != newest:
                self.rebuild(index, newest)
        return len(self.healthy) >= self.majority

    # -- rebuild ----------------------------------------------------------------------------------------------------
    def rebuild(self, index: int, source: int) -> bool:
        """Copy replica `source` (healthy) to replica `index`; True when it is healthy again."""
        try:
            hello = self.call(index, {"op": "claim", "epoch": self.epoch})
            if not hello["ok"]:
                return False
            # always a full copy: a replica with the same sequence number may hold another (older) nexus's
            # unacknowledged operation under it
            snap = self.call(source, {"op": "snapshot"})
            if not snap["ok"] or snap["seq"] != self.seq:
                return False
            done = self.call(index, {"op": "restore", "epoch": self.epoch, "seq": self.seq,
                                     "term": snap.get("term", 0), "files": snap["files"]})  # fmt: skip
            if not done["ok"]:
                return False
        except (OSError, ValueError, KeyError):
            return False
        self.healthy.add(index)
        return True

    def revive(self, answering: list[int] | None = None) -> None:
        """Rebuild faulted replicas that answer (`answering`: found so by the caller) from a healthy one."""
        if not self.healthy:  # every replica was lost (e.g. this node was cut off): start afresh
            self.try_start()
            return
        faulted = [i for i in range(len(self.replicas)) if i not in self.healthy]
        if answering is None:
            pings = self.fan(faulted, {"op": "ping"})
            answering = [i for i in faulted if pings.get(i)]
        for index in answering:
            if index not in self.healthy and self.healthy:
                self.rebuild(index, min(self.healthy))

    def revive_loop(self) -> None:
        """Every REVIVE_PERIOD: ping the faulted replicas without holding up I/O, rebuild those that answer."""
        while not self.stopped.wait(REVIVE_PERIOD):
            faulted = [i for i in range(len(self.replicas)) if i not in self.healthy]
            if not faulted and self.healthy:
                continue
            pings = self.fan(faulted, {"op": "ping"})
            with self.lock:
                self.revive([i for i in faulted if pings.get(i)])

    def stop(self) -> None:
        self.stopped.set()
        for replica in self.replicas:
            replica.close()

    # -- operations -------------------------------------------------------------------------------------------------
    def mutate(self, op: str, **fields) -> None:
        """Apply a mutating operation on a majority; OSError (the replicas' errno, or EIO without a majority)."""
        with self.lock:
            self.seq += 1
            self.replicate(dict(fields, op=op, epoch=self.epoch, seq=self.seq))

    def fsync(self, path: str) -> None:
        with self.lock:
            self.replicate({"op": "fsync", "path": path, "epoch": self.epoch, "seq": self.seq})

    def replicate(self, request: dict) -> None:
        deadline = time.monotonic() + self.io_timeout
        while True:
            if len(self.healthy) < self.majority:
                self.revive()
            answers = self.fan(sorted(self.healthy), request)
            done, failures = 0, []
            for index, answer in answers.items():
                if answer is None or answer.get("error") in ("behind", "fenced"):
                    self.healthy.discard(index)
                    if answer and answer["error"] == "fenced":
                        failures.append("fenced")
                elif answer["ok"]:
                    done += 1
                else:
                    failures.append(answer["error"])
            if done >= self.majority:
                return
            if failures and done + len([f for f in failures if f != "fenced"]) >= self.majority:
                raise NexusError(errno_of(failures[0]), f"{request['op']} {request.get('path', '')}")
            if "fenced" in failures:
                raise NexusError(errno.EIO, f"volume {self.volume}: claimed by a newer nexus")
            if time.monotonic() >= deadline:
                raise NexusError(errno.EIO, f"volume {self.volume}: {done} of {self.majority} replicas answered")
            time.sleep(0.2)

    def read(self, op: str, **fields) -> dict:
        """A read-only operation on a healthy replica; OSError."""
        deadline = time.monotonic() + self.io_timeout
        while True:
            with self.lock:
                if not self.healthy:
                    self.revive()
                for index in sorted(self.healthy):
                    try:
                        answer = self.call(index, dict(fields, op=op))
                    except (OSError, ValueError):
                        self.healthy.discard(index)
                        continue
                    if answer["ok"]:
                        return answer
                    raise NexusError(errno_of(answer["error"]), f"{op} {fields.get('path', '')}")
            if time.monotonic() >= deadline:
                raise NexusError(errno.EIO, f"volume {self.volume}: no replica answered")
            time.sleep(0.2)

    def read_bytes(self, path: str, offset: int, size: int) -> bytes:
        return base64.b64decode(self.read("read", path=path, offset=offset, size=size)["data"])

    def write_bytes(self, path: str, offset: int, data: bytes) -> None:
        self.mutate("write", path=path, offset=offset, data=base64.b64encode(data).decode())
