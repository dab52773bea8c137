# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: what an image archive on the node holds, read with tarfile before any command runs.
# The formats are the ones containerd's importer accepts (containerd images/archive/importer.go): an OCI layout
# (`oci-layout` + `index.json` + blobs; preferred when present, as in docker 25+ archives) or a docker-archive
# (`manifest.json` from `docker save`, `podman save`, `buildah push docker-archive:`).
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import shutil
import tarfile

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._controller_files import write_atomically

#: First bytes of the compressed streams tarfile can read -> (name, opener); `ctr image import` reads plain tar only.
_COMPRESSIONS = {
    b"\x1f\x8b": ("gzip", gzip.open),
    b"BZh": ("bzip2", bz2.open),
    b"\xfd7zXZ\x00": ("xz", lzma.open),
}
_ZSTD = b"\x28\xb5\x2f\xfd"

#: `uname -m` -> the architecture names image platforms use.
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386"}

_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


class ArchiveError(Exception):
    """The file cannot be imported: missing, unreadable, not a tar, or not an image archive."""


def compression_of(path):
    """`gzip`, `bzip2`, `xz` or None (plain tar) from the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(_ZSTD):
        raise ArchiveError("%s is zstd-compressed, which this module cannot read: decompress it first (zstd -d)" % path)
    return next((name for magic, (name, _opener) in _COMPRESSIONS.items() if head.startswith(magic)), None)


def read_archive(path):
    """dict(format=`oci`|`docker`, compression, images=[{ref, digest, config}]) for the archive at path.

    OCI images carry the manifest (or index) digest containerd will list; docker-archive images carry the config
    digest (image ID), because containerd writes its own manifest for them."""
    if not os.path.isfile(path):
        raise ArchiveError("src %s does not exist on this node or is not a file" % path)
    if not os.access(path, os.R_OK):
        raise ArchiveError("src %s is not readable: run the task with become: true" % path)
    compression = compression_of(path)
    try:
        with tarfile.open(path, "r:*") as tar:
            files = {os.path.normpath(member.name): member for member in tar.getmembers() if member.isfile()}

            def text(name):
                return tar.extractfile(files[name]).read().decode("utf-8")

            if "oci-layout" in files and "index.json" in files:
                archive_format, images = "oci", parsers.parse_oci_index(text("index.json"))
            elif "manifest.json" in files:
                archive_format, images = "docker", parsers.parse_docker_archive_manifest(text("manifest.json"))
            else:
                raise ArchiveError(
                    "%s is not an image archive: it has neither manifest.json (docker save) nor oci-layout and "
                    "index.json (OCI layout)" % path
                )
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
        raise ArchiveError("%s is not a readable tar archive (plain, gzip, bzip2 or xz)" % path) from exc
    except (ValueError, AttributeError, TypeError) as exc:
        raise ArchiveError("%s holds an invalid image manifest or index: %s" % (path, exc)) from exc
    named = {image["ref"]: image for image in images}  # a name given twice: containerd keeps the last one
    if not named:
        raise ArchiveError(
            "%s names no image (no RepoTags / no full reference annotation): save it by name, e.g. "
            "docker save hello:local -o hello.tar" % path
        )
    return {"format": archive_format, "compression": compression, "images": list(named.values())}


def _version(path):
    """What says a file is still the one read: device, inode, size, and modification and change times in nanoseconds
    (a rewrite or a replacement changes the change time, which no user can set back)."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def read_archive_cached(path, cache_file):
    """read_archive(path), remembered in cache_file (JSON {real path: {version, archive}}, 0600 in a 0700 directory)
    for the file as it is now (_version): a compressed archive of hundreds of MB is read through once, not on every
    run. A cache that cannot be read or written is ignored (the archive is read)."""
    try:
        real = os.path.realpath(path)
        version = _version(real)
    except OSError:
        return read_archive(path)  # its own clear error for a missing or unreadable file
    try:
        with open(cache_file, encoding="utf-8") as handle:
            cached = json.load(handle)
    except (OSError, ValueError):
        cached = {}
    entry = cached.get(real) if isinstance(cached, dict) else None
    if isinstance(entry, dict) and entry.get("version") == version:
        return entry["archive"]
    found = read_archive(path)
    cached = dict(cached) if isinstance(cached, dict) else {}
    cached[real] = {"version": version, "archive": found}
    try:
        os.makedirs(os.path.dirname(cache_file), mode=0o700, exist_ok=True)
        write_atomically(cache_file, json.dumps(cached).encode("utf-8"), 0o600)
    except OSError:
        pass
    return found


def plain_tar(path, compression, directory):
    """The path of a plain tar with the archive's content: path itself, or a decompressed copy in directory."""
    if compression is None:
        return path
    opener = dict(_COMPRESSIONS.values())[compression]
    target = os.path.join(directory, "image-archive.tar")
    with opener(path, "rb") as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink, 1024 * 1024)
    return target


def parse_platform(text):
    """(os, architecture, variant) from `linux/arm64/v8`, `linux/amd64`, `arm64` or a `uname -m` name."""
    parts = text.strip().lower().split("/")
    if len(parts) == 1:
        parts = ["linux", *parts]
    os_name, architecture = parts[0], _ARCHITECTURES.get(parts[1], parts[1])
    variant = parts[2] if len(parts) > 2 else ("v7" if parts[1] == "armv7l" else None)
    return os_name, architecture, variant


def is_index(blob):
    """True when a manifest blob (as `ctr content get` prints it) is a multi-platform index."""
    document = json.loads(blob)
    return document.get("mediaType") in _INDEX_TYPES or "manifests" in document


def platform_manifest(index_blob, platform):
    """The digest of the index's manifest for platform (os, architecture, variant); None when it has none."""
    os_name, architecture, variant = platform
    for manifest in json.loads(index_blob).get("manifests") or []:
        spec = manifest.get("platform") or {}
        if (spec.get("os"), spec.get("architecture")) != (os_name, architecture):
            continue
        if variant is None or spec.get("variant") in (None, variant):
            return manifest.get("digest")
    return None
