#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the seed's `hello:local` image offline: Python and its libraries taken from the lab's node image rootfs
(tests/lab/.build/image/*/rootfs.tar, made by `lab.py up`), the app the hello_app role ships
(roles/hello_app/files/hello/app.py), committed with buildah and saved as a docker-archive tarball, as
`docker save hello:local > hello.local.tar` does in the seed.

build.py [--rootfs-tar FILE] [--out DIR] [--ref hello:local]    prints the path of the tarball
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

LAB_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(LAB_DIR))

from labkit.shell import LabError, run, say, step  # noqa: E402

from images import rootfs  # noqa: E402

# The collection's own app (the one the hello_app role deploys), not a copy of it.
APP = LAB_DIR.parents[1] / "roles" / "hello_app" / "files" / "hello" / "app.py"
PORT = 8080
CONFIG = {  # the image config: what `docker inspect` would show under Config
    "cmd": ["python3", "/app/app.py"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONDONTWRITEBYTECODE=1"],
    "workingdir": "/app",
    "port": f"{PORT}/tcp",
}


def default_rootfs_tar() -> pathlib.Path:
    found = sorted((LAB_DIR / ".build" / "image").glob("*/rootfs.tar"), key=lambda path: path.stat().st_mtime)
    if not found:
        raise LabError("no node image rootfs in tests/lab/.build/image: run `python3 tests/lab/lab.py up` first")
    return found[-1]


def archive_name(ref: str) -> str:
    """The seed's file name for an image ref: hello:local -> hello.local.tar."""
    return ref.replace(":", ".").replace("/", "_") + ".tar"


def build_key(rootfs_tar: pathlib.Path, ref: str) -> str:
    """Changes when anything that goes into the image changes: the rootfs, the app, the config, this recipe."""
    digest = hashlib.sha256()
    stat = rootfs_tar.stat()
    for part in (str(rootfs_tar), str(stat.st_size), str(stat.st_mtime_ns), ref, json.dumps(CONFIG, sort_keys=True)):
        digest.update(part.encode() + b"\0")
    for source in (APP, pathlib.Path(rootfs.__file__), pathlib.Path(__file__)):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def with_parents(paths: list[str], source: rootfs.Rootfs) -> list[str]:
    """The paths plus every ancestor directory the rootfs has, parents first (so modes are kept on extraction)."""
    every = set(paths)
    for path in paths:
        parts = path.split("/")
        every.update("/".join(parts[:depth]) for depth in range(1, len(parts)) if "/".join(parts[:depth]))
    return sorted((path for path in every if path in source.members), key=lambda path: (path.count("/"), path))


def write_layer(source: rootfs.Rootfs, paths: list[str], layer: pathlib.Path) -> None:
    """One tar layer: the chosen rootfs paths, an empty /tmp and the app in /app."""
    with tarfile.open(layer, "w") as out:
        for path in with_parents(paths, source):
            member = source.members[path]
            copy = tarfile.TarInfo(path)
            for field in ("type", "mode", "uid", "gid", "mtime", "linkname", "size"):
                setattr(copy, field, getattr(member, field))
            out.addfile(copy, source.tar.extractfile(member) if member.isfile() else None)
        for directory, mode in (("tmp", 0o1777), ("app", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            out.addfile(info)
        data = APP.read_bytes()
        info = tarfile.TarInfo("app/app.py")
        info.size, info.mode = len(data), 0o644
        out.addfile(info, io.BytesIO(data))


def buildah_image(layer: pathlib.Path, ref: str, archive: pathlib.Path, config: dict | None = None) -> None:
    config = config or CONFIG
    container = run(["buildah", "from", "scratch"]).strip()
    local = f"docker.io/library/{ref}"  # the name docker gives it; buildah would add a localhost/ one
    try:
        run(["buildah", "add", container, str(layer), "/"], timeout=300)
        run(
            ["buildah", "config", "--cmd", json.dumps(config["cmd"]), "--workingdir", config["workingdir"]]
            + [arg for port in config.get("ports", [config.get("port")]) if port for arg in ("--port", port)]
            + ([f"--user={config['user']}"] if config.get("user") else [])
            + [arg for env in config["env"] for arg in ("--env", env)]
            + [container]
        )
        run(["buildah", "commit", "--quiet", "--format", "docker", container, local], timeout=300)
        archive.unlink(missing_ok=True)
        run(["buildah", "push", "--quiet", local, f"docker-archive:{archive}:{ref}"], timeout=300)
    finally:
        run(["buildah", "rm", container], check=False)
        run(["buildah", "rmi", "--force", local], check=False)


def build(rootfs_tar: pathlib.Path, out_dir: pathlib.Path, ref: str) -> pathlib.Path:
    archive = out_dir / archive_name(ref)
    stamp = archive.with_suffix(".key")
    key = build_key(rootfs_tar, ref)
    if archive.exists() and stamp.exists() and stamp.read_text().strip() == key:
        say(f"{archive} is up to date")
        return archive
    if shutil.which("buildah") is None:
        raise LabError("buildah is missing: apt-get install -y buildah")
    out_dir.mkdir(parents=True, exist_ok=True)
    with step(f"building {ref} from {rootfs_tar}"), tempfile.TemporaryDirectory() as scratch:
        layer = pathlib.Path(scratch) / "layer.tar"
        with tarfile.open(rootfs_tar) as tar:
            source = rootfs.Rootfs(tar)
            write_layer(source, rootfs.python_runtime(source), layer)
        buildah_image(layer, ref, archive)
    stamp.write_text(key + "\n")
    say(f"{archive}: {archive.stat().st_size / 1e6:.1f} MB")
    return archive


def run_cli(argv: list[str], prog: str, doc: str, default_ref: str, builder) -> int:
    """The command line of an image builder: `builder(rootfs_tar, out_dir, ref)` with the lab's defaults."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rootfs-tar", type=pathlib.Path, help="a Debian rootfs tarball (default: the node image's)")
    parser.add_argument("--out", type=pathlib.Path, default=LAB_DIR / ".build" / "images", help="output directory")
    parser.add_argument("--ref", default=default_ref, help=f"image name:tag (default {default_ref})")
    args = parser.parse_args(argv)
    try:
        print(builder(args.rootfs_tar or default_rootfs_tar(), args.out, args.ref))
    except (LabError, OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    return run_cli(argv, "build.py", __doc__, "hello:local", build)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
