# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the snap's files live: $SNAP, $SNAP_DATA, $SNAP_COMMON and the well-known files below them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    snap: Path
    snap_data: Path
    snap_common: Path

    def lock(self, name: str) -> Path:
        return self.snap_data / "var" / "lock" / name

    def credentials(self, name: str) -> Path:
        return self.snap_data / "credentials" / name

    def cert(self, name: str) -> Path:
        return self.snap_data / "certs" / name

    def args(self, name: str) -> Path:
        return self.snap_data / "args" / name

    @property
    def backend(self) -> Path:
        return self.snap_data / "var" / "kubernetes" / "backend"

    @property
    def containerd_socket(self) -> Path:
        return self.snap_common / "run" / "containerd.sock"

    @property
    def state(self) -> Path:
        """State of the double that real MicroK8s keeps in the Kubernetes API (enabled addons, repositories)."""
        return self.snap_data / "var" / "double"


def resolve(settings: dict) -> Paths:
    """snapd's environment first (it sets SNAP* for classic apps too), else the settings' snap_root, else /."""
    root = Path(settings.get("snap_root") or "/")
    default_snap = root / "snap" / "microk8s" / "current"
    default_data = root / "var" / "snap" / "microk8s" / "current"
    default_common = root / "var" / "snap" / "microk8s" / "common"
    return Paths(
        snap=Path(os.environ.get("SNAP") or default_snap),
        snap_data=Path(os.environ.get("SNAP_DATA") or default_data),
        snap_common=Path(os.environ.get("SNAP_COMMON") or default_common),
    )
