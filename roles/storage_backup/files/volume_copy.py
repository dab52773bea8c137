# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Copy a volume's files out of or into a pod (standard library only; runs in the storage_backup role's helper pod).

    volume_copy.py backup SRC OUT    SRC's files -> OUT/volume.tar and OUT/SHA256SUMS (`sha256  path` per file)
    volume_copy.py restore IN DST [RESULT]   IN/volume.tar -> DST, each file read back from DST and checked
                                     against IN/SHA256SUMS; the verdict in RESULT (default IN/result.json);
                                     exit 1 on any mismatch or missing file

Each file is read once into the archive and hashed at the same time (a file still being appended to is copied as it
was when read: stop its writer for a copy of one moment)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_text(sums):
    """{relative path: sha256} -> SHA256SUMS text (sha256sum's format, sorted)."""
    return "".join("%s  %s\n" % (sums[path], path) for path in sorted(sums))


def parse_manifest(text):
    sums = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if sep and len(digest) == 64:
            sums[path] = digest
    return sums


def compare(expected, actual):
    """The restore's verdict: files whose checksum differs, files missing, files not in the backup."""
    return {
        "files": len(expected),
        "matched": sum(1 for p in expected if actual.get(p) == expected[p]),
        "mismatched": sorted(p for p in expected if p in actual and actual[p] != expected[p]),
        "missing": sorted(p for p in expected if p not in actual),
        "extra": sorted(p for p in actual if p not in expected),
    }


def tree_sums(root):
    sums = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "lost+found")
        for name in sorted(files):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                sums[os.path.relpath(path, root)] = sha256_file(path)
    return sums


def backup(src, out):
    sums = {}
    with tarfile.open(os.path.join(out, "volume.tar"), "w") as tar:
        for folder, dirs, files in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d != "lost+found")
            for name in sorted(files):
                path = os.path.join(folder, name)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                rel = os.path.relpath(path, src)
                with open(path, "rb") as handle:
                    data = handle.read()
                sums[rel] = hashlib.sha256(data).hexdigest()
                info = tar.gettarinfo(path, arcname=rel)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(out, "SHA256SUMS"), "w") as handle:
        handle.write(manifest_text(sums))
    return {"files": len(sums), "bytes": os.path.getsize(os.path.join(out, "volume.tar"))}


def restore(src, dst, result_path=None):
    with open(os.path.join(src, "SHA256SUMS")) as handle:
        expected = parse_manifest(handle.read())
    with tarfile.open(os.path.join(src, "volume.tar")) as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in member.name.split("/") or not member.isfile():
                raise SystemExit("refusing archive member %r" % member.name)
        tar.extractall(dst)  # members checked above
    for folder, _dirs, files in os.walk(dst):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
    result = compare(expected, tree_sums(dst))
    with open(result_path or os.path.join(src, "result.json"), "w") as handle:
        json.dump(result, handle)
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (3, 4) or argv[0] not in ("backup", "restore") or (argv[0] == "backup" and len(argv) == 4):
        print(__doc__, file=sys.stderr)
        return 2
    result = backup(argv[1], argv[2]) if argv[0] == "backup" else restore(*argv[1:])
    print(json.dumps(result))
    return 0 if not (result.get("mismatched") or result.get("missing")) else 1


if __name__ == "__main__":
    sys.exit(main())
