# SPDX-License-Identifier: GPL-3.0-or-later
"""A FUSE filesystem over a Nexus, speaking the kernel's protocol on /dev/fuse directly (no libfuse, no Python
package): mount(2) with `fd=N` through libc, then one request at a time. Files are the volume's files: reads come
from a healthy replica, every change (write, create, mkdir, unlink, rename, truncate, chmod, utimes) returns once a
majority of replicas applied it, fsync once a majority made it durable. No caching (attribute and entry timeouts 0),
no links, no extended attributes, no locks (the kernel handles local locks)."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
import struct
import time

from .nexus import Nexus

# opcodes (include/uapi/linux/fuse.h)
LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK = 1, 2, 3, 4, 5, 6
MKNOD, MKDIR, UNLINK, RMDIR, RENAME, LINK, OPEN, READ, WRITE, STATFS, RELEASE = 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18
FSYNC, SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR, FLUSH, INIT = 20, 21, 22, 23, 24, 25, 26
OPENDIR, READDIR, RELEASEDIR, FSYNCDIR, ACCESS, CREATE, INTERRUPT, DESTROY = 27, 28, 29, 30, 34, 35, 36, 38
BATCH_FORGET, RENAME2 = 42, 45
NO_REPLY = (FORGET, BATCH_FORGET, INTERRUPT)

IN_HEADER = struct.Struct("<IIQQIIII")  # len, opcode, unique, nodeid, uid, gid, pid, padding
OUT_HEADER = struct.Struct("<IiQ")  # len, error, unique
# ino size blocks atime mtime ctime, their nsecs, mode nlink uid gid rdev blksize flags
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
FATTR_MODE, FATTR_UID, FATTR_GID, FATTR_SIZE, FATTR_ATIME, FATTR_MTIME = 1, 2, 4, 8, 16, 32
FATTR_ATIME_NOW, FATTR_MTIME_NOW = 128, 256
FUSE_BIG_WRITES = 1 << 5
MAX_WRITE = 128 * 1024
MS_NOSUID, MS_NODEV = 2, 4


def mount(target: str, name: str) -> int:
    """Open /dev/fuse and mount it at `target` (root only); the fd to serve."""
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions"
    if libc.mount(name.encode(), target.encode(), b"fuse.mayastor", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        error = ctypes.get_errno()
        os.close(fd)
        raise OSError(error, f"mount {target}: {os.strerror(error)}")
    return fd


def unmount(target: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.umount2(target.encode(), 2)  # MNT_DETACH


class Filesystem:
    def __init__(self, nexus: Nexus, fd: int):
        self.nexus, self.fd = nexus, fd
        self.paths: dict[int, str] = {1: ""}
        self.ids: dict[str, int] = {"": 1}
        self.next_id = 2
        self.handles: dict[int, str] = {}
        self.next_handle = 1
        self.minor = 31

    # -- the loop ---------------------------------------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                packet = os.read(self.fd, MAX_WRITE + 4096)
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.EINTR, errno.EAGAIN):
                    continue
                if error.errno == errno.ENODEV:  # unmounted
                    return
                raise
            if not packet:
                return
            length, opcode, unique, nodeid, _uid, _gid, _pid, _pad = IN_HEADER.unpack_from(packet)
            body = packet[IN_HEADER.size : length]
            if opcode == DESTROY:
                self.reply(unique, b"")
                return
            try:
                answer = self.dispatch(opcode, nodeid, body)
            except OSError as error:
                if opcode not in NO_REPLY:
                    self.reply(unique, b"", -(error.errno or errno.EIO))
                continue
            if opcode not in NO_REPLY:
                self.reply(unique, answer)

    def reply(self, unique: int, data: bytes, error: int = 0) -> None:
        try:
            os.write(self.fd, OUT_HEADER.pack(OUT_HEADER.size + len(data), error, unique) + data)
        except OSError as failure:
            if failure.errno != errno.ENOENT:  # the request was interrupted meanwhile
                raise

    # -- names ------------------------------------------------------------------------------------------------------
    def path(self, nodeid: int) -> str:
        if nodeid not in self.paths:
            raise OSError(errno.ESTALE, "stale")
        return self.paths[nodeid]

    def child(self, nodeid: int, name: bytes) -> str:
        parent = self.path(nodeid)
        name = name.split(b"\0", 1)[0].decode()
        return f"{parent}/{name}" if parent else name

    def node_id(self, path: str) -> int:
        if path not in self.ids:
            self.ids[path], self.paths[self.next_id] = self.next_id, path
            self.next_id += 1
        return self.ids[path]

    def attr(self, path: str) -> bytes:
        info = self.nexus.read("stat", path=path)
        nodeid = self.node_id(path)
        secs = [info[k] // 10**9 for k in ("atime", "mtime", "ctime")]
        nsecs = [info[k] % 10**9 for k in ("atime", "mtime", "ctime")]
        return ATTR.pack(nodeid, info["size"], (info["size"] + 511) // 512, *secs, *nsecs, info["mode"],
                         info["nlink"], 0, 0, 0, 4096, 0)  # fmt: skip

    def entry(self, path: str) -> bytes:
        attr = self.attr(path)
        return struct.pack("<QQQQII", self.node_id(path), 0, 0, 0, 0, 0) + attr

    def attr_out(self, path: str) -> bytes:
        return struct.pack("<QII", 0, 0, 0) + self.attr(path)

    def handle(self, path: str) -> bytes:
        number = self.next_handle
        self.next_handle += 1
        self.handles[number] = path
        return struct.pack("<QII", number, 0, 0)

    # -- operations -------------------------------------------------------------------------------------------------
    def dispatch(self, opcode: int, nodeid: int, body: bytes) -> bytes:
        nexus = self.nexus
        if opcode == INIT:
            _major, minor, readahead, _flags = struct.unpack_from("<IIII", body)
            self.minor = min(minor, 31)
            out = struct.pack("<IIIIHHIIHHI", 7, self.minor, readahead, FUSE_BIG_WRITES, 16, 12, MAX_WRITE, 1, 32, 0, 0)
            return out + b"\0" * (64 - len(out)) if self.minor >= 23 else out[:24]
        if opcode in (FORGET, BATCH_FORGET, INTERRUPT):
            return b""
        if opcode == LOOKUP:
            return self.entry(self.child(nodeid, body))
        if opcode == GETATTR:
            return self.attr_out(self.path(nodeid))
        if opcode == SETATTR:
            valid, _pad, _fh, size, _lock, atime, mtime, _ctime, atimensec, mtimensec = struct.unpack_from(
                "<IIQQQQQQII", body
            )
            mode = struct.unpack_from("<I", body, 68)[0]
            path = self.path(nodeid)
            if valid & FATTR_MODE:
                nexus.mutate("chmod", path=path, mode=mode)
            if valid & FATTR_SIZE:
                nexus.mutate("truncate", path=path, size=size)
            if valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW):
                info = nexus.read("stat", path=path)
                now = time.time_ns()
                new_atime = atime * 10**9 + atimensec if valid & FATTR_ATIME else info["atime"]
                new_mtime = mtime * 10**9 + mtimensec if valid & FATTR_MTIME else info["mtime"]
                new_atime = now if valid & FATTR_ATIME_NOW else new_atime
                new_mtime = now if valid & FATTR_MTIME_NOW else new_mtime
                nexus.mutate("utime", path=path, atime=new_atime, mtime=new_mtime)
            return self.attr_out(path)
        if opcode in (OPEN, OPENDIR):
            path = self.path(nodeid)
            flags = struct.unpack_from("<I", body)[0]
            if opcode == OPEN and flags & os.O_TRUNC:
                nexus.mutate("truncate", path=path, size=0)
            return self.handle(path)
        if opcode in (RELEASE, RELEASEDIR):
            self.handles.pop(struct.unpack_from("<Q", body)[0], None)
            return b""
        if opcode == READ:
            _handle, offset, size = struct.unpack_from("<QQI", body)
            return nexus.read_bytes(self.path(nodeid), offset, size)
        if opcode == WRITE:
            _handle, offset, size = struct.unpack_from("<QQI", body)
            header = 40 if self.minor >= 9 else 24
            data = body[header : header + size]
            nexus.write_bytes(self.path(nodeid), offset, data)
            return struct.pack("<II", len(data), 0)
        if opcode in (FSYNC, FSYNCDIR, FLUSH):
            if opcode != FLUSH:
                nexus.fsync(self.path(nodeid))
            return b""
        if opcode == CREATE:
            _flags, mode = struct.unpack_from("<II", body)
            path = self.child(nodeid, body[16 if self.minor >= 12 else 8 :])
            nexus.mutate("create", path=path, mode=mode)
            return self.entry(path) + self.handle(path)
        if opcode == MKNOD:
            mode = struct.unpack_from("<I", body)[0]
            if not stat.S_ISREG(mode):
                raise OSError(errno.EPERM, "only regular files")
            path = self.child(nodeid, body[16 if self.minor >= 12 else 8 :])
            nexus.mutate("create", path=path, mode=mode)
            return self.entry(path)
        if opcode == MKDIR:
            mode = struct.unpack_from("<I", body)[0]
            path = self.child(nodeid, body[8:])
            nexus.mutate("mkdir", path=path, mode=mode)
            return self.entry(path)
        if opcode in (UNLINK, RMDIR):
            path = self.child(nodeid, body)
            nexus.mutate("unlink" if opcode == UNLINK else "rmdir", path=path)
            self.forget(path)
            return b""
        if opcode in (RENAME, RENAME2):
            newdir = struct.unpack_from("<Q", body)[0]
            names = body[8 if opcode == RENAME else 16 :].split(b"\0")
            old, new = self.child(nodeid, names[0]), self.child(newdir, names[1])
            nexus.mutate("rename", path=old, new=new)
            self.moved(old, new)
            return b""
        if opcode == READDIR:
            _handle, offset, size = struct.unpack_from("<QQI", body)
            path = self.path(nodeid)
            names = [(".", True), ("..", True)] + [tuple(e) for e in nexus.read("list", path=path)["entries"]]
            out = b""
            for index, (name, is_dir) in enumerate(names[offset:], start=offset + 1):
                encoded = name.encode()
                record = struct.pack("<QQII", 1, index, len(encoded), 4 if is_dir else 8) + encoded
                record += b"\0" * (-len(record) % 8)
                if len(out) + len(record) > size:
                    break
                out += record
            return out
        if opcode == STATFS:
            blocks = 20 * 1024**3 // 4096
            return struct.pack("<QQQQQIIII", blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096, 0) + b"\0" * 24
        if opcode == ACCESS:
            return b""
        raise OSError(errno.ENOSYS, "not supported")

    def forget(self, path: str) -> None:
        nodeid = self.ids.pop(path, None)
        if nodeid is not None:
            self.paths.pop(nodeid, None)

    def moved(self, old: str, new: str) -> None:
        self.forget(new)
        for path in [p for p in self.ids if p == old or p.startswith(old + "/")]:
            nodeid = self.ids.pop(path)
            renamed = new + path[len(old) :]
            self.ids[renamed], self.paths[nodeid] = nodeid, renamed
