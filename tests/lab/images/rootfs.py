# SPDX-License-Identifier: GPL-3.0-or-later
"""Pick a small Python runtime out of a Debian rootfs tarball: the interpreter, its standard library and exactly the
shared libraries they need (ELF DT_NEEDED, followed transitively), with the symlinks on the way kept as symlinks."""

from __future__ import annotations

import posixpath
import struct
import tarfile

# Library directories the dynamic loader searches on Debian amd64 (ld.so.conf order), as paths inside the rootfs.
LIBRARY_DIRS = ("usr/local/lib", "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib")
# Parts of the standard library an HTTP app never imports (tests, GUIs, build helpers): left out to stay small.
STDLIB_SKIPPED = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data", "distutils")
MAX_SYMLINK_HOPS = 40

_PT_INTERP = 3
_SHT_DYNAMIC = 6
_DT_NEEDED = 1


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


class Rootfs:
    """A rootfs tarball, indexed by path, read without unpacking it."""

    def __init__(self, tar: tarfile.TarFile):
        self.tar = tar
        self.members = {_clean(member.name): member for member in tar.getmembers()}

    def resolve(self, path: str) -> tuple[str, list[str]]:
        """The real path of `path` (every symlink component followed) and the symlinks passed on the way."""
        links: list[str] = []
        pending = _clean(path).split("/")
        done: list[str] = []
        while pending:
            candidate = "/".join([*done, pending.pop(0)])
            member = self.members.get(candidate)
            if member is None or not member.issym():
                done = candidate.split("/")
                continue
            if len(links) >= MAX_SYMLINK_HOPS:
                raise ValueError(f"too many symlinks resolving {path}")
            links.append(candidate)
            base = "" if member.linkname.startswith("/") else posixpath.dirname(candidate)
            target = _clean(posixpath.join("/", base, member.linkname))
            pending = [part for part in target.split("/") if part] + pending
            done = []
        return "/".join(done), links

    def read(self, path: str) -> bytes:
        real, _unused = self.resolve(path)
        member = self.members.get(real)
        if member is None or not member.isfile():
            raise FileNotFoundError(f"{path} is not a file in the rootfs")
        return self.tar.extractfile(member).read()

    def exists(self, path: str) -> bool:
        return self.members.get(self.resolve(path)[0]) is not None

    def find_library(self, soname: str) -> str:
        for directory in LIBRARY_DIRS:
            path = f"{directory}/{soname}"
            if self.exists(path):
                return path
        raise FileNotFoundError(f"shared library {soname} not found in {', '.join(LIBRARY_DIRS)}")

    def under(self, directory: str) -> list[str]:
        prefix = _clean(directory) + "/"
        return sorted(path for path in self.members if path.startswith(prefix))


def elf_dependencies(data: bytes) -> tuple[str | None, list[str]]:
    """(program interpreter or None, DT_NEEDED sonames) of a 64-bit little-endian ELF file; (None, []) if not ELF."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None, []
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    interpreter = None
    for index in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + index * phentsize
        )
        if p_type == _PT_INTERP:
            interpreter = data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode()
    sections = [struct.unpack_from("<IIQQQQII", data, shoff + index * shentsize) for index in range(shnum)]
    needed = []
    for _name, sh_type, _flags, _addr, offset, size, link, _info in sections:
        if sh_type != _SHT_DYNAMIC:
            continue
        strtab_offset = sections[link][4]
        for entry in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == _DT_NEEDED:
                end = data.index(b"\0", strtab_offset + value)
                needed.append(data[strtab_offset + value : end].decode())
    return interpreter, needed


def python_runtime(rootfs: Rootfs, python: str = "usr/bin/python3") -> list[str]:
    """Every path (files and the symlinks leading to them) a `python3` from this rootfs needs to run an HTTP app."""
    interpreter_path, links = rootfs.resolve(python)
    version = posixpath.basename(interpreter_path)  # python3.11
    stdlib = f"usr/lib/{version}"
    wanted = [python, *links, interpreter_path]
    for path in rootfs.under(stdlib):
        top = path[len(stdlib) + 1 :].split("/")[0]
        if top not in STDLIB_SKIPPED and not top.startswith("config-") and top != "site-packages":
            wanted.append(path)
    queue = [
        path for path in wanted if rootfs.members[path].isfile() and (path == interpreter_path or path.endswith(".so"))
    ]
    seen = set(queue)
    while queue:
        interpreter, needed = elf_dependencies(rootfs.read(queue.pop()))
        for dependency in ([interpreter] if interpreter else []) + [rootfs.find_library(name) for name in needed]:
            real, links = rootfs.resolve(dependency)
            wanted.extend([dependency, *links, real])
            if real not in seen:
                seen.add(real)
                queue.append(real)
    present = [_clean(path) for path in wanted if _clean(path) in rootfs.members]
    return sorted(set(present))
