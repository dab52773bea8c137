# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import io
import pathlib
import platform
import sys
import tarfile

import pytest
from images import build, rootfs


def make_tar(tmp_path: pathlib.Path, entries: dict[str, str | bytes | None]) -> tarfile.TarFile:
    """A rootfs tarball: str value = symlink target, bytes = file content, None = directory."""
    path = tmp_path / "rootfs.tar"
    with tarfile.open(path, "w") as out:
        for name, value in entries.items():
            info = tarfile.TarInfo("./" + name)
            if value is None:
                info.type = tarfile.DIRTYPE
                out.addfile(info)
            elif isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                out.addfile(info)
            else:
                info.size = len(value)
                out.addfile(info, io.BytesIO(value))
    return tarfile.open(path)


MERGED_USR = {
    "lib64": "usr/lib64",
    "lib": "usr/lib",
    "usr": None,
    "usr/lib": None,
    "usr/lib64": None,
    "usr/lib64/ld-linux-x86-64.so.2": "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "usr/lib/x86_64-linux-gnu": None,
    "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": b"loader",
}


def test_resolve_follows_directory_and_file_symlinks(tmp_path):
    tree = rootfs.Rootfs(make_tar(tmp_path, MERGED_USR))
    real, links = tree.resolve("/lib64/ld-linux-x86-64.so.2")
    assert real == "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert links == ["lib64", "usr/lib64/ld-linux-x86-64.so.2"]
    assert tree.read("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") == b"loader"


def test_resolve_follows_absolute_targets(tmp_path):
    tree = rootfs.Rootfs(
        make_tar(tmp_path, {**MERGED_USR, "usr/bin": None, "usr/bin/loader": "/lib64/ld-linux-x86-64.so.2"})
    )
    assert tree.resolve("usr/bin/loader")[0] == "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


def test_symlink_loop_is_refused(tmp_path):
    tree = rootfs.Rootfs(make_tar(tmp_path, {"a": "b", "b": "a"}))
    with pytest.raises(ValueError, match="too many symlinks"):
        tree.resolve("a")


def test_missing_library_is_named(tmp_path):
    tree = rootfs.Rootfs(make_tar(tmp_path, MERGED_USR))
    with pytest.raises(FileNotFoundError, match=r"libnothere\.so\.1"):
        tree.find_library("libnothere.so.1")


def test_non_elf_has_no_dependencies():
    assert rootfs.elf_dependencies(b"#!/bin/sh\necho hi\n") == (None, [])


@pytest.mark.skipif(platform.machine() != "x86_64" or sys.platform != "linux", reason="reads an amd64 ELF binary")
def test_elf_dependencies_of_a_real_interpreter():
    interpreter, needed = rootfs.elf_dependencies(pathlib.Path(sys.executable).resolve().read_bytes())
    assert interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in needed


def fake_elf(data: bytes) -> tuple[str | None, list[str]]:
    """Test stand-in for ELF parsing: a file 'ELF interp=<path> needs=<a,b>' declares its dependencies."""
    if not data.startswith(b"ELF"):
        return None, []
    fields = dict(part.split("=", 1) for part in data.decode().split()[1:])
    return fields.get("interp"), [name for name in fields.get("needs", "").split(",") if name]


def test_python_runtime_takes_interpreter_stdlib_and_library_closure(tmp_path, monkeypatch):
    monkeypatch.setattr(rootfs, "elf_dependencies", fake_elf)
    libs = "usr/lib/x86_64-linux-gnu"
    entries = {
        **MERGED_USR,
        "usr/bin": None,
        "usr/bin/python3": "python3.11",
        "usr/bin/python3.11": b"ELF interp=/lib64/ld-linux-x86-64.so.2 needs=libz.so.1",
        "usr/bin/perl": b"ELF needs=libperl.so.5",
        "usr/lib/python3.11": None,
        "usr/lib/python3.11/http": None,
        "usr/lib/python3.11/http/server.py": b"# http.server",
        "usr/lib/python3.11/test": None,
        "usr/lib/python3.11/test/test_all.py": b"# tests",
        "usr/lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile": b"all:",
        "usr/lib/python3.11/lib-dynload": None,
        "usr/lib/python3.11/lib-dynload/_ssl.so": b"ELF needs=libssl.so.3",
        f"{libs}/libz.so.1": "libz.so.1.2.13",
        f"{libs}/libz.so.1.2.13": b"ELF needs=libc.so.6",
        f"{libs}/libssl.so.3": b"ELF needs=libcrypto.so.3",
        f"{libs}/libcrypto.so.3": b"ELF needs=libc.so.6",
        f"{libs}/libc.so.6": b"ELF",
        f"{libs}/libperl.so.5": b"ELF",
    }
    chosen = rootfs.python_runtime(rootfs.Rootfs(make_tar(tmp_path, entries)))
    assert {"usr/bin/python3", "usr/bin/python3.11", "usr/lib/python3.11/http/server.py"} <= set(chosen)
    assert {"lib64", "usr/lib64/ld-linux-x86-64.so.2", f"{libs}/ld-linux-x86-64.so.2"} <= set(chosen)
    assert {f"{libs}/libz.so.1", f"{libs}/libz.so.1.2.13", f"{libs}/libc.so.6"} <= set(chosen)
    assert {f"{libs}/libssl.so.3", f"{libs}/libcrypto.so.3"} <= set(chosen)
    assert not {"usr/bin/perl", f"{libs}/libperl.so.5", "usr/lib/python3.11/test/test_all.py"} & set(chosen)
    assert not [path for path in chosen if "config-3.11" in path]


def test_archive_is_named_as_the_seed_saves_it():
    assert build.archive_name("hello:local") == "hello.local.tar"


def test_layer_keeps_parents_first_and_adds_the_app(tmp_path):
    tree = rootfs.Rootfs(make_tar(tmp_path, MERGED_USR))
    layer = tmp_path / "layer.tar"
    build.write_layer(tree, ["lib64", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"], layer)
    with tarfile.open(layer) as out:
        names = out.getnames()
        assert out.extractfile("app/app.py").read() == build.APP.read_bytes()
        assert out.getmember("lib64").linkname == "usr/lib64"
        assert out.getmember("tmp").mode == 0o1777
    assert names.index("usr") < names.index("usr/lib") < names.index("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")


def test_build_key_follows_the_app(tmp_path, monkeypatch):
    rootfs_tar = tmp_path / "rootfs.tar"
    rootfs_tar.write_bytes(b"rootfs")
    app = tmp_path / "app.py"
    app.write_text("print('v1')\n")
    monkeypatch.setattr(build, "APP", app)
    before = build.build_key(rootfs_tar, "hello:local")
    assert build.build_key(rootfs_tar, "hello:local") == before
    app.write_text("print('v2')\n")
    assert build.build_key(rootfs_tar, "hello:local") != before
    assert build.build_key(rootfs_tar, "hello:other") != build.build_key(rootfs_tar, "hello:local")
