# SPDX-License-Identifier: GPL-3.0-or-later
"""The inference image recipe: which installed files go in, and which rootfs libraries the wheels need."""

from __future__ import annotations

import io
import os
import pathlib
import tarfile

from images import inference, rootfs


def fake_elf(data: bytes):
    """'ELF needs=a,b' declares dependencies (as in test_images_rootfs)."""
    if not data.startswith(b"ELF"):
        return None, []
    needs = data.decode().partition("needs=")[2]
    return None, [name for name in needs.split(",") if name]


def test_site_files_leave_out_tests_sources_headers_stubs_and_scripts(tmp_path):
    names = (
        "pkg/__init__.py",
        "pkg/tests/test_x.py",
        "pkg/__pycache__/__init__.cpython-311.pyc",
        "bin/mlserver",
        "pkg/sub/m.py",
        "pkg/_x.pyx",
        "pkg/_x.pxd",
        "pkg/x.pyi",
        "pkg/include/x.h",
        "pkg/_src.c",
        "pkg/data.csv",
        "pkg-stubs/__init__.pyi",
        "pkg-stubs/other.py",
    )
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / ".complete").write_text("key")
    kept = [path.relative_to(tmp_path).as_posix() for path in inference.site_files(tmp_path)]
    # the compiled bytecode stays (a replica starts about 3 times faster), and so do data files
    assert kept == ["pkg/__init__.py", "pkg/__pycache__/__init__.cpython-311.pyc", "pkg/data.csv", "pkg/sub/m.py"]


def test_only_extensions_auditwheel_left_alone_are_stripped(tmp_path, monkeypatch):
    """strip breaks what patchelf rewrote: vendored libraries (*.libs) and extensions with an RPATH/RUNPATH."""
    dynamic = {
        "plain.so": " 0x1 (NEEDED) Shared library: [libc.so.6]\n",
        "patched.so": " 0x1d (RUNPATH) Library runpath: [$ORIGIN/../numpy.libs]\n",
        "old.so": " 0xf (RPATH) Library rpath: [$ORIGIN]\n",
    }
    for name in dynamic:
        (tmp_path / name).write_bytes(b"\x7fELF rest")
    (tmp_path / "numpy.libs").mkdir()
    (tmp_path / "numpy.libs" / "libopenblas.so").write_bytes(b"\x7fELF rest")
    (tmp_path / "module.py").write_text("x = 1")

    class Done:
        def __init__(self, stdout):
            self.stdout = stdout

    monkeypatch.setattr(inference.subprocess, "run", lambda args, **_kw: Done(dynamic[pathlib.Path(args[-1]).name]))
    chosen = sorted(path.name for path in tmp_path.rglob("*") if inference.strippable(path))
    assert chosen == ["plain.so"]


def test_needed_libraries_take_only_what_the_wheels_do_not_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(rootfs, "elf_dependencies", fake_elf)
    (tmp_path / "sklearn").mkdir()
    (tmp_path / "scikit_learn.libs").mkdir()
    (tmp_path / "sklearn" / "_svm.cpython-311-x86_64-linux-gnu.so").write_bytes(
        b"ELF needs=libgomp-a1b2.so.1,libstdc++.so.6"
    )
    (tmp_path / "scikit_learn.libs" / "libgomp-a1b2.so.1").write_bytes(b"ELF needs=libc.so.6")
    libs = "usr/lib/x86_64-linux-gnu"
    entries = {
        f"{libs}/libstdc++.so.6": "libstdc++.so.6.0.30",
        f"{libs}/libstdc++.so.6.0.30": b"ELF needs=libm.so.6",
        f"{libs}/libm.so.6": b"ELF needs=libc.so.6",
        f"{libs}/libc.so.6": b"ELF",
    }
    path = tmp_path / "rootfs.tar"
    with tarfile.open(path, "w") as out:
        for name in ("usr", "usr/lib", libs):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            out.addfile(info)
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                out.addfile(info)
            else:
                info.size = len(value)
                out.addfile(info, io.BytesIO(value))
    with tarfile.open(path) as tar:
        wanted = inference.needed_libraries(rootfs.Rootfs(tar), inference.site_files(tmp_path))
    assert wanted == sorted(
        [f"{libs}/libstdc++.so.6", f"{libs}/libstdc++.so.6.0.30", f"{libs}/libm.so.6", f"{libs}/libc.so.6"]
    )


def test_the_build_key_follows_the_rootfs_file_not_the_path_it_is_reached_by(tmp_path):
    first = tmp_path / "cache" / "rootfs.tar"
    first.parent.mkdir()
    first.write_bytes(b"rootfs")
    (tmp_path / "build").mkdir()
    linked = tmp_path / "build" / "rootfs.tar"
    os.link(first, linked)
    key = inference.build_key(first, "onprem-inference:local")
    assert inference.build_key(linked, "onprem-inference:local") == key
    assert inference.build_key(first, "other:local") != key
    linked.unlink()
    linked.write_bytes(b"rootfs")  # a copy: another file (and a rebuilt rootfs is one)
    assert inference.build_key(linked, "onprem-inference:local") != key
