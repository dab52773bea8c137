# SPDX-License-Identifier: GPL-3.0-or-later
"""The remove hook unmounts everything below $SNAP_COMMON, nested mounts first, and nothing else."""

from __future__ import annotations

from pathlib import Path

from microk8s_double.commands.remove_hook import mounts_under

MOUNTS = """\
/dev/vda / ext4 rw 0 0
overlay /var/snap/microk8s/common/run/double-pods/u1/hello/rootfs overlay rw 0 0
tmpfs /var/snap/microk8s/common/run/double-pods/u1/hello/rootfs/dev tmpfs rw 0 0
tmpfs /var/snap/microk8s/commonplace tmpfs rw 0 0
proc /proc proc rw 0 0
"""


def test_mounts_under_snap_common_deepest_first():
    assert mounts_under(Path("/var/snap/microk8s/common"), MOUNTS) == [
        "/var/snap/microk8s/common/run/double-pods/u1/hello/rootfs/dev",
        "/var/snap/microk8s/common/run/double-pods/u1/hello/rootfs",
    ]
