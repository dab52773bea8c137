#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the inference service's image `onprem-inference:local` offline, as `hello:local` is built: Python and its
libraries from the lab's node image rootfs (Debian bookworm), the pinned wheels of
roles/inference_service/files/inference/requirements.txt (MLServer and its scikit-learn runtime, installed with pip
into a cached directory: PyPI at build time only; their compiled extensions stripped as the Dockerfile's build stage
does), the shared libraries those wheels need from the rootfs (the ones they do not bundle), and the role's
start.py, without tests, headers, Cython sources and type stubs; one layer committed with buildah, saved as a
docker-archive and compressed with gzip.

inference.py [--rootfs-tar FILE] [--out DIR] [--ref onprem-inference:local]    prints the path of the tarball
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pathlib
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile

LAB_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(LAB_DIR))

from labkit.shell import LabError, say, step  # noqa: E402

from images import build as hello_build  # noqa: E402
from images import rootfs  # noqa: E402

FILES = LAB_DIR.parents[1] / "roles" / "inference_service" / "files" / "inference"
REQUIREMENTS = FILES / "requirements.txt"
START = FILES / "start.py"
SITE = "opt/inference/site-packages"
CONFIG = {
    "cmd": ["python3", "/app/start.py"],
    "env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONDONTWRITEBYTECODE=1",
        f"PYTHONPATH=/{SITE}",
        "MLSERVER_HTTP_PORT=8080",
        "MLSERVER_GRPC_PORT=8081",
        "MLSERVER_METRICS_PORT=8082",
        "MLSERVER_PARALLEL_WORKERS=0",
    ],
    "workingdir": "/app",
    "ports": ["8080/tcp", "8081/tcp", "8082/tcp"],
    "user": "1000:1000",
}
# What no server reads, as the Dockerfile's build stage drops it: test suites and type-stub packages (whole
# directories), and headers, Cython and C sources, code templates and type stubs (files). The packages' bytecode is
# compiled once here (unchecked-hash .pyc, valid whatever the files' times): a replica then starts in about 5 s
# instead of 14 s on the lab's busy host, for some 60 MB more.
PRUNED = ("tests",)
PRUNED_SUFFIXES = (".pyx", ".pxd", ".pxi", ".pyi", ".h", ".hpp", ".c", ".cpp", ".tp")
# Bumped when what is done to the installed wheels changes (the cache directory's name depends on it).
SLIMMING = "strip-unneeded-2,pyc-unchecked-hash"


def site_packages(cache: pathlib.Path, python_version: str) -> pathlib.Path:
    """The pinned wheels installed into a cached directory (rebuilt when requirements.txt changes)."""
    host = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if host != python_version:
        raise LabError(
            f"the wheels are installed with this {host}, the image runs {python_version}: use a {python_version}"
        )
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + SLIMMING.encode()).hexdigest()[:16]
    target = cache / f"inference-site-{key}"
    if (target / ".complete").exists():
        return target
    if shutil.which("strip") is None or shutil.which("readelf") is None:
        raise LabError("strip or readelf is missing: apt-get install -y binutils")
    shutil.rmtree(target, ignore_errors=True)
    with step(f"installing the pinned wheels of {REQUIREMENTS.name} into {target}"):
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
        command += ["--only-binary=:all:", "--no-deps", "--no-compile", "-r", str(REQUIREMENTS)]
        subprocess.run(command, check=True, timeout=1200)
    with step("stripping the compiled extensions auditwheel left unpatched"):
        elves = [str(path) for path in sorted(target.rglob("*")) if strippable(path)]
        subprocess.run(["strip", "--strip-unneeded", *elves], check=True, timeout=600)
    with step("compiling the packages' bytecode"):
        command = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        subprocess.run([*command, str(target)], check=False, timeout=900, stdout=subprocess.DEVNULL)
    (target / ".complete").write_text(key + "\n")
    return target


def strippable(path: pathlib.Path) -> bool:
    """An ELF file neither vendored by auditwheel (`<package>.libs/`) nor pointed at vendored libraries (RPATH or
    RUNPATH): patchelf rewrote those, and strip breaks the layout patchelf leaves ("ELF load command
    address/offset not page-aligned" when numpy loads its OpenBLAS)."""
    if path.is_symlink() or not path.is_file() or any(part.endswith(".libs") for part in path.parts):
        return False
    with path.open("rb") as handle:
        if handle.read(4) != b"\x7fELF":
            return False
    dynamic = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    return "(RPATH)" not in dynamic and "(RUNPATH)" not in dynamic


def site_files(site: pathlib.Path) -> list[pathlib.Path]:
    """Every file and symlink of the installed packages except console scripts and what PRUNED* name."""
    kept = []
    for directory, subdirs, files in os.walk(site):
        relative = pathlib.Path(directory).relative_to(site)
        top = relative == pathlib.Path(".")
        subdirs[:] = [d for d in subdirs if d not in PRUNED and not d.endswith("-stubs") and not (top and d == "bin")]
        kept.extend(
            pathlib.Path(directory) / name
            for name in files
            if name != ".complete" and not name.endswith(PRUNED_SUFFIXES)
        )
    return sorted(kept)


def needed_libraries(source: rootfs.Rootfs, files: list[pathlib.Path]) -> list[str]:
    """Rootfs paths of the shared libraries the wheels' extensions need and do not bundle (in a `*.libs` directory
    or next to themselves), followed transitively."""
    bundled = {path.name for path in files if path.suffix == ".so" or ".so." in path.name}
    wanted: list[str] = []
    queue: list[bytes] = [path.read_bytes() for path in files if ".so" in path.name and path.is_file()]
    seen: set[str] = set()
    while queue:
        _interpreter, needed = rootfs.elf_dependencies(queue.pop())
        for soname in needed:
            if soname in bundled or soname in seen:
                continue
            seen.add(soname)
            library = source.find_library(soname)
            real, links = source.resolve(library)
            wanted.extend([library, *links, real])
            queue.append(source.read(real))
    return sorted(set(wanted))


def build_key(rootfs_tar: pathlib.Path, ref: str) -> str:
    """The file, not the path: lab.py up reaches the rootfs through the lab's cache root, offload_report.py through
    tests/lab/.build (hard links to one file); a path in the key rebuilt the image, and a rebuilt image has another
    digest, which the role then imports on every node again."""
    digest = hashlib.sha256()
    stat = rootfs_tar.stat()
    for part in (str(stat.st_ino), str(stat.st_size), str(stat.st_mtime_ns), ref, json.dumps(CONFIG, sort_keys=True)):
        digest.update(part.encode() + b"\0")
    for part in (REQUIREMENTS, START, pathlib.Path(rootfs.__file__), pathlib.Path(__file__)):
        digest.update(part.read_bytes())
    return digest.hexdigest()[:16]


def write_layer(source: rootfs.Rootfs, paths: list[str], site: pathlib.Path, files: list[pathlib.Path], layer) -> None:
    with tarfile.open(layer, "w") as out:
        for path in hello_build.with_parents(paths, source):
            member = source.members[path]
            copy = tarfile.TarInfo(path)
            for field in ("type", "mode", "uid", "gid", "mtime", "linkname", "size"):
                setattr(copy, field, getattr(member, field))
            out.addfile(copy, source.tar.extractfile(member) if member.isfile() else None)
        for directory, mode in (("tmp", 0o1777), ("app", 0o755), ("opt", 0o755), ("opt/inference", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            out.addfile(info)
        made = set()
        for path in files:
            relative = path.relative_to(site).as_posix()
            parent = posixpath.dirname(relative)
            parts = parent.split("/") if parent else []
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    made.add(directory)
                    info = tarfile.TarInfo(f"{SITE}/{directory}")
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    out.addfile(info)
            info = out.gettarinfo(str(path), f"{SITE}/{relative}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if info.mode & 0o111 else 0o644
            if info.isfile():
                with path.open("rb") as handle:
                    out.addfile(info, handle)
            else:
                out.addfile(info)
        data = START.read_bytes()
        info = tarfile.TarInfo("app/start.py")
        info.size, info.mode = len(data), 0o644
        out.addfile(info, io.BytesIO(data))


def compress(plain: pathlib.Path, archive: pathlib.Path) -> None:
    with plain.open("rb") as source, gzip.GzipFile(archive, "wb", compresslevel=1, mtime=0) as out:
        shutil.copyfileobj(source, out, 1 << 20)


def build(rootfs_tar: pathlib.Path, out_dir: pathlib.Path, ref: str) -> pathlib.Path:
    """The image as a gzip-compressed docker-archive (a third of the bytes to send to every node; the collection's
    ctr_image_import unpacks it on the node)."""
    plain = out_dir / hello_build.archive_name(ref)
    archive = plain.with_name(plain.name + ".gz")
    stamp = plain.with_suffix(".key")
    key = build_key(rootfs_tar, ref)
    if archive.exists() and stamp.exists() and stamp.read_text().strip() == key:
        say(f"{archive} is up to date")
        return archive
    if shutil.which("buildah") is None:
        raise LabError("buildah is missing: apt-get install -y buildah")
    out_dir.mkdir(parents=True, exist_ok=True)
    with step(f"building {ref} from {rootfs_tar}"), tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        layer = pathlib.Path(scratch) / "layer.tar"
        with tarfile.open(rootfs_tar) as tar:
            source = rootfs.Rootfs(tar)
            python = posixpath.basename(source.resolve("usr/bin/python3")[0])
            site = site_packages(out_dir, python)
            files = site_files(site)
            paths = sorted(set(rootfs.python_runtime(source)) | set(needed_libraries(source, files)))
            write_layer(source, paths, site, files, layer)
        hello_build.buildah_image(layer, ref, plain, CONFIG)
    with step(f"compressing {plain.name} (gzip -1)"):
        compress(plain, archive)
    say(f"{archive}: {archive.stat().st_size / 1e6:.1f} MB ({plain.stat().st_size / 1e6:.1f} MB unpacked)")
    plain.unlink()
    stamp.write_text(key + "\n")
    return archive


def main(argv: list[str]) -> int:
    return hello_build.run_cli(argv, "inference.py", __doc__, "onprem-inference:local", build)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
