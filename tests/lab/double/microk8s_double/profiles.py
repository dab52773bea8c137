# SPDX-License-Identifier: GPL-3.0-or-later
"""Version profiles: which MicroK8s release the double imitates (contract section 1)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

SUGGESTED_PATCH = {20: 13, 24: 17, 28: 15, 32: 3}
OLDEST, NEWEST = 20, 36
PROFILE_FILE = "profile.json"


@dataclass(frozen=True)
class Profile:
    version: str  # e.g. "v1.28.15"

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    def since(self, minor: int) -> bool:
        return self.minor >= minor

    @property
    def base(self) -> str:
        """The base snap the release branch's snapcraft.yaml names (contract section 8)."""
        if self.minor <= 20:
            return "core"
        if self.minor <= 26:
            return "core18"
        if self.minor <= 33:
            return "core20"
        return "core22"


def for_track(track: str) -> Profile:
    """`1.28` or `v1.28.15` -> a Profile; any minor from 1.20 to 1.36."""
    match = re.fullmatch(r"v?1\.(\d+)(?:\.(\d+))?", track)
    if not match or not OLDEST <= int(match.group(1)) <= NEWEST:
        raise ValueError(f"unsupported MicroK8s version {track!r} (1.{OLDEST}..1.{NEWEST})")
    minor = int(match.group(1))
    patch = int(match.group(2)) if match.group(2) else SUGGESTED_PATCH.get(minor, 0)
    return Profile(version=f"v1.{minor}.{patch}")


def load(snap_dir: Path) -> Profile:
    """The profile fixed at build time in $SNAP/profile.json."""
    return Profile(**json.loads((snap_dir / PROFILE_FILE).read_text()))
