# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for the `core` snap that snapd machines already have (the store is unreachable in the lab).

Without `core` (or the `snapd` snap) snapd refuses to install a snap on any other base: it wants to fetch `snapd`
from the store first. An empty `type: os` snap named `core` satisfies that check; the lab installs it on every node
when the node is created, so the nodes look like a machine where snapd has been in use.
"""

from __future__ import annotations

import hashlib
import pathlib
import tempfile

from .shell import run, succeeds

SNAP_YAML = "name: core\nversion: 16-lab\ntype: os\nsummary: lab stand-in for core\ndescription: empty\n"
SNAPD_INFO = "VERSION=2.57.6\n"  # snapd reads it from the core snap (Debian's snapd never re-executes into it)
NODE_PATH = "/var/lib/onprem-lab/core_16-lab.snap"
_TOP_DIRS = ("bin", "dev", "etc", "home", "lib", "media", "mnt", "opt", "proc", "root", "run", "sbin", "snap", "srv")
_TOP_DIRS += ("sys", "tmp", "usr", "var", "boot", "lib64")


def build(out_dir: pathlib.Path) -> pathlib.Path:
    snap = out_dir / f"core_16-lab_{hashlib.sha256((SNAP_YAML + SNAPD_INFO).encode()).hexdigest()[:8]}.snap"
    if snap.exists():
        return snap
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tree:
        pathlib.Path(tree).chmod(0o755)  # snapd refuses a snap whose root is not world-readable
        for name in _TOP_DIRS:
            (pathlib.Path(tree) / name).mkdir()
        for relative, text in (("meta/snap.yaml", SNAP_YAML), ("usr/lib/snapd/info", SNAPD_INFO)):
            (pathlib.Path(tree) / relative).parent.mkdir(parents=True, exist_ok=True)
            (pathlib.Path(tree) / relative).write_text(text)
        run(["mksquashfs", tree, str(snap), "-noappend", "-comp", "xz", "-no-xattrs", "-all-root", "-quiet"])
    return snap


def ensure_installed(container: str, snap: pathlib.Path) -> None:
    """Wait for snapd to be seeded, then install the stand-in unless `core` is there already."""
    in_node = ["lxc", "exec", container, "--"]
    run([*in_node, "snap", "wait", "system", "seed.loaded"], timeout=180)
    if succeeds([*in_node, "snap", "list", "core"]):
        return
    run(["lxc", "file", "push", "--create-dirs", str(snap), f"{container}{NODE_PATH}"], timeout=120)
    run([*in_node, "snap", "install", "--dangerous", NODE_PATH], timeout=300)
