# SPDX-License-Identifier: GPL-3.0-or-later
"""An io-engine replica server: one per node, on `node_ip:8420`, storing the replicas of mayastor volumes in the
node's pool (`$SNAP_COMMON/mayastor/`: the sparse pool image `data.img`, made at first use, and the replicas' files
in `replicas/<volume>/data/` beside it, with `replicas/<volume>/state.json` = the last applied operation's sequence
number `seq` and the epoch of the nexus that sent it `term`, and the nexus epoch it obeys `epoch`).

Requests are JSON lines `{"op": ..., "volume": ..., ...}` (file data base64), answers `{"ok": true, ...}` or
`{"ok": false, "error": <errno name>, ...}`. Mutating operations carry the nexus `epoch` and a sequence number `seq`:
a replica applies `seq == its seq + 1`, answers an already applied one (`seq <= its seq`) as done, and refuses a gap
(`behind`: it missed writes and must be rebuilt) or an older epoch (`fenced`: a newer nexus claimed the volume).
`fsync` makes the file and the replica's state durable and succeeds only on a replica that holds every operation up
to the given `seq`."""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import shutil
import socketserver
import threading
from pathlib import Path

from . import PORT

POOL_SIZE = 20 * 1024**3  # the addon's --default-pool-size (20G)
MUTATING = ("write", "truncate", "create", "mkdir", "unlink", "rmdir", "rename", "chmod", "utime")


class Refused(Exception):
    def __init__(self, error: str, **extra):
        super().__init__(error)
        self.error, self.extra = error, extra


def safe(root: Path, relative: str) -> Path:
    """`relative` below `root`, never outside it."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused("EINVAL")
    return root.joinpath(*parts) if parts else root


class Pool:
    """A node's mayastor pool: the replicas it holds."""

    def __init__(self, base: Path, size: int | None = POOL_SIZE):
        self.base, self.size = base, size  # size None: no pool image (Jiva's replicas live on a hostpath)
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()

    def lock(self, volume: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(volume, threading.Lock())

    def replica(self, volume: str) -> Path:
        if not volume or "/" in volume or volume.startswith("."):
            raise Refused("EINVAL")
        image = self.base / "data.img"
        if self.size is not None and not image.exists():  # the pool's sparse image, as the addon makes it
            self.base.mkdir(parents=True, exist_ok=True)
            with open(image, "wb") as handle:
                handle.truncate(self.size)
        return self.base / "replicas" / volume

    def state(self, volume: str) -> dict:
        path = self.replica(volume) / "state.json"
        return json.loads(path.read_text()) if path.exists() else {"seq": 0, "epoch": 0, "term": 0}

    def save(self, volume: str, state: dict, durable: bool = False) -> None:
        where = self.replica(volume)
        (where / "data").mkdir(parents=True, exist_ok=True)
        temporary = where / "state.json.new"
        with open(temporary, "w") as handle:
            json.dump(state, handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, where / "state.json")
        if durable:
            descriptor = os.open(where, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    def handle(self, request: dict) -> dict:
        op, volume = request.get("op"), request.get("volume", "")
        if op == "ping":
            return {}
        with self.lock(volume):
            state = self.state(volume)
            data = self.replica(volume) / "data"
            if op == "hello":
                return dict(state)
            if op == "claim":
                if request["epoch"] < state["epoch"]:
                    raise Refused("fenced", **state)
                state["epoch"] = request["epoch"]
                self.save(volume, state, durable=True)
                return dict(state)
            if op in ("stat", "list", "read"):
                return read_op(op, safe(data, request.get("path", "")), request)
            if op == "snapshot":
                return dict(state, files=snapshot(data))
            if op == "destroy":  # the volume was deleted: its replica goes
                shutil.rmtree(self.replica(volume), ignore_errors=True)
                return {}
            if request.get("epoch") != state["epoch"]:
                raise Refused("fenced", **state)
            if op == "restore":
                shutil.rmtree(data, ignore_errors=True)
                data.mkdir(parents=True)
                restore(data, request["files"])
                state["seq"], state["term"] = request["seq"], request["term"]
                self.save(volume, state, durable=True)
                fsync_tree(data)
                return dict(state)
            if op == "fsync":
                if state["seq"] < request["seq"]:
                    raise Refused("behind", **state)
                target = safe(data, request.get("path", ""))
                if target.exists():
                    descriptor = os.open(target, os.O_RDONLY)
                    try:
                        os.fsync(descriptor)
                    finally:
                        os.close(descriptor)
                self.save(volume, state, durable=True)
                return dict(state)
            if op not in MUTATING:
                raise Refused("ENOSYS")
            if request["seq"] <= state["seq"]:
                return dict(state)  # applied before (a retried request)
            if request["seq"] != state["seq"] + 1:
                raise Refused("behind", **state)
            data.mkdir(parents=True, exist_ok=True)
            try:
                apply(op, data, request)
            except OSError as error:  # the same failure on every replica: applied as a no-op, reported
                state["seq"], state["term"] = request["seq"], request["epoch"]
                self.save(volume, state)
                raise Refused(errno.errorcode.get(error.errno or errno.EIO, "EIO"), **state) from None
            state["seq"], state["term"] = request["seq"], request["epoch"]
            self.save(volume, state)
            return dict(state)


def apply(op: str, data: Path, request: dict) -> None:
    target = safe(data, request["path"])
    if op == "write":
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(descriptor, base64.b64decode(request["data"]), request["offset"])
        finally:
            os.close(descriptor)
    elif op == "truncate":
        os.truncate(target, request["size"])
    elif op == "create":
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, request.get("mode", 0o644) & 0o7777))
        os.chmod(target, request.get("mode", 0o644) & 0o7777)
    elif op == "mkdir":
        os.mkdir(target, request.get("mode", 0o755) & 0o7777)
    elif op == "unlink":
        os.unlink(target)
    elif op == "rmdir":
        os.rmdir(target)
    elif op == "rename":
        os.replace(target, safe(data, request["new"]))
    elif op == "chmod":
        os.chmod(target, request["mode"] & 0o7777)
    elif op == "utime":
        os.utime(target, ns=(request["atime"], request["mtime"]))


def read_op(op: str, target: Path, request: dict) -> dict:
    if op == "stat":
        info = os.lstat(target)
        return {"mode": info.st_mode, "size": info.st_size, "mtime": info.st_mtime_ns, "atime": info.st_atime_ns,
                "ctime": info.st_ctime_ns, "nlink": info.st_nlink}  # fmt: skip
    if op == "list":
        return {"entries": sorted((e.name, e.is_dir(follow_symlinks=False)) for e in os.scandir(target))}
    with open(target, "rb") as handle:
        handle.seek(request["offset"])
        return {"data": base64.b64encode(handle.read(request["size"])).decode()}


def snapshot(data: Path) -> list[list]:
    """Every directory and file below `data`: [relative path, "d" | "f", mode, base64 content]."""
    found = []
    if not data.exists():
        return found
    for path in sorted(data.rglob("*")):
        relative, mode = str(path.relative_to(data)), path.lstat().st_mode & 0o7777
        if path.is_dir():
            found.append([relative, "d", mode, ""])
        elif path.is_file():
            found.append([relative, "f", mode, base64.b64encode(path.read_bytes()).decode()])
    return found


def restore(data: Path, files: list[list]) -> None:
    for relative, kind, mode, content in files:
        target = safe(data, relative)
        if kind == "d":
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.write_bytes(base64.b64decode(content))
        os.chmod(target, mode)


def fsync_tree(data: Path) -> None:
    for path in [data, *data.rglob("*")]:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class Handler(socketserver.StreamRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        for line in self.rfile:
            try:
                request = json.loads(line)
                pool = self.server.pools.get(request.get("pool", "mayastor"))
                if pool is None:
                    raise Refused("EINVAL")
                answer = {"ok": True, **pool.handle(request)}
            except Refused as refused:
                answer = {"ok": False, "error": refused.error, **refused.extra}
            except FileNotFoundError:
                answer = {"ok": False, "error": "ENOENT"}
            except OSError as error:
                answer = {"ok": False, "error": errno.errorcode.get(error.errno or errno.EIO, "EIO")}
            except (ValueError, KeyError, TypeError):
                answer = {"ok": False, "error": "EINVAL"}
            self.wfile.write(json.dumps(answer).encode() + b"\n")
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], pools: dict[str, Pool]):
        super().__init__(address, Handler)
        self.pools = pools
        self.connections: set = set()

    def stop(self) -> None:
        """Stop serving and drop every connection (as the node's power going off)."""
        self.shutdown()
        self.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(2)
                connection.close()


def serve(bind: str, base: Path, port: int = PORT, jiva: Path | None = None) -> Server:
    """Start the replica server in a thread; returns it (`.stop()` stops it). `base`: the mayastor pool; `jiva`:
    where Jiva's replicas live (the double serves them from the same server, request field `pool: jiva`)."""
    pools = {"mayastor": Pool(base), **({"jiva": Pool(jiva, None)} if jiva else {})}
    server = Server((bind, port), pools)
    threading.Thread(target=server.serve_forever, daemon=True, name="io-engine").start()
    return server
