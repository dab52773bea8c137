#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the cluster_names role's LAN DNS server image offline for the lab: Debian's dnsmasq (the host's
dnsmasq-base, the lab's host packages install it; host and nodes are both Debian bookworm) with the shared
libraries it links, and nothing else; saved as a docker-archive tarball. On real hosts the role's
files/dns/Dockerfile builds the same server from debian:bookworm-slim.

dns.py [--out DIR] [--ref onprem-names-dns:local]    prints the path of the tarball
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

LAB_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(LAB_DIR))

from labkit.shell import LabError, say, step  # noqa: E402

from images import build as images_build  # noqa: E402

DNSMASQ = pathlib.Path("/usr/sbin/dnsmasq")
REF = "onprem-names-dns:local"
CONFIG = {
    "cmd": ["dnsmasq", "--keep-in-foreground", "--log-facility=-"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    "workingdir": "/",
    "ports": ["53/udp", "53/tcp"],
}
FILES = {  # the accounts dnsmasq looks up (it drops to `nobody` unless told --user=root)
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


def libraries(binary: pathlib.Path) -> list[pathlib.Path]:
    """The shared objects `ldd` names for the binary, with the loader."""
    text = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    return sorted({pathlib.Path(m) for m in re.findall(r"(/\S+\.so[.0-9]*)", text)})


def build_key(ref: str) -> str:
    digest = hashlib.sha256()
    for part in (ref, json.dumps(CONFIG, sort_keys=True), json.dumps(FILES, sort_keys=True)):
        digest.update(part.encode() + b"\0")
    for source in (DNSMASQ, *libraries(DNSMASQ), pathlib.Path(__file__)):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def add_dirs(out: tarfile.TarFile, name: str, seen: set) -> None:
    parts = name.split("/")
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        if parent not in seen:
            seen.add(parent)
            info = tarfile.TarInfo(parent)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            out.addfile(info)


def add_path(out: tarfile.TarFile, path: pathlib.Path, seen: set) -> None:
    """A host file into the layer at its real directory (merged /usr), its symlinks kept and followed."""
    while True:
        name = str(path.parent.resolve() / path.name).lstrip("/")
        if name in seen:
            return
        add_dirs(out, name, seen)
        seen.add(name)
        if path.is_symlink():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, str(path.readlink())
            out.addfile(info)
            path = path.parent.resolve() / path.readlink()
            continue
        out.add(str(path), arcname=name, recursive=False)
        return


def write_layer(layer: pathlib.Path) -> None:
    seen: set = set()
    with tarfile.open(layer, "w") as out:
        for path in (DNSMASQ, *libraries(DNSMASQ)):
            add_path(out, path, seen)
        for top in ("bin", "sbin", "lib", "lib64"):  # Debian's merged /usr: /lib -> usr/lib ...
            host = pathlib.Path("/" + top)
            if host.is_symlink() and top not in seen:
                seen.add(top)
                info = tarfile.TarInfo(top)
                info.type, info.linkname = tarfile.SYMTYPE, str(host.readlink())
                out.addfile(info)
        for name, text in FILES.items():
            add_dirs(out, name, seen)
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            out.addfile(info, io.BytesIO(data))
        for directory, mode in (("tmp", 0o1777), ("run", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            out.addfile(info)


def build(_rootfs_tar, out_dir: pathlib.Path, ref: str = REF) -> pathlib.Path:
    if not DNSMASQ.exists():
        raise LabError(f"{DNSMASQ} is missing: apt-get install -y dnsmasq-base")
    if shutil.which("buildah") is None:
        raise LabError("buildah is missing: apt-get install -y buildah")
    archive = out_dir / images_build.archive_name(ref)
    stamp = archive.with_suffix(".key")
    key = build_key(ref)
    if archive.exists() and stamp.exists() and stamp.read_text().strip() == key:
        say(f"{archive} is up to date")
        return archive
    out_dir.mkdir(parents=True, exist_ok=True)
    with step(f"building {ref} from the host's {DNSMASQ}"), tempfile.TemporaryDirectory() as scratch:
        layer = pathlib.Path(scratch) / "layer.tar"
        write_layer(layer)
        images_build.buildah_image(layer, ref, archive, CONFIG)
    stamp.write_text(key + "\n")
    say(f"{archive}: {archive.stat().st_size / 1e6:.1f} MB")
    return archive


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dns.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=LAB_DIR / ".build" / "images", help="output directory")
    parser.add_argument("--ref", default=REF, help=f"image name:tag (default {REF})")
    args = parser.parse_args(argv)
    try:
        print(build(None, args.out, args.ref))
    except (LabError, OSError, subprocess.SubprocessError) as exc:
        print(f"dns.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
