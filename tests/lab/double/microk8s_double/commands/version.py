# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s version` (1.25+): `MicroK8s v1.32.0 revision 7537`."""

from __future__ import annotations

import os

from microk8s_double.commands.common import Context


def run(ctx: Context, command: str, args: list[str]) -> int:
    print(f"MicroK8s {ctx.profile.version} revision {os.environ.get('SNAP_REVISION', 'x1')}")
    return 0
