# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import shutil
import subprocess

import pytest
from labkit import core_snap

pytestmark = pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="needs squashfs-tools")


def listing(snap):
    return subprocess.run(["unsquashfs", "-lls", str(snap)], capture_output=True, text=True, check=True).stdout


def test_stand_in_is_a_readable_core_os_snap(tmp_path):
    snap = core_snap.build(tmp_path)
    entries = listing(snap)
    (root,) = [line for line in entries.splitlines() if line.endswith(" squashfs-root")]
    assert root.startswith("drwxr-xr-x root/root")  # snapd refuses a snap whose root others cannot read
    assert "squashfs-root/meta/snap.yaml" in entries
    assert "squashfs-root/usr/lib/snapd/info" in entries
    yaml_text = subprocess.run(
        ["unsquashfs", "-cat", str(snap), "meta/snap.yaml"], capture_output=True, text=True, check=True
    ).stdout
    assert "name: core\n" in yaml_text
    assert "type: os\n" in yaml_text


def test_stand_in_is_built_once(tmp_path):
    first = core_snap.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert core_snap.build(tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
