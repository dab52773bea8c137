# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s start|stop` (contract section 7): snapd starts/stops the daemons; stop leaves var/lock/stopped.lock."""

from __future__ import annotations

import subprocess

from microk8s_double.commands import cluster
from microk8s_double.commands.common import Context, fail

START_WAIT = 60  # s for the node to come back Ready (`wait_for_node`)
START_FAILED = 'Failed to start microk8s services. Check snapd logs with "journalctl -u snapd.service"'


def snap_command(ctx: Context, verb: str) -> list[str]:
    """1.25+ `snapctl start|stop microk8s --enable|--disable`; before, `snap start|stop ...`."""
    flag = "--enable" if verb == "start" else "--disable"
    return ["snapctl" if ctx.profile.since(25) else "snap", verb, "microk8s", flag]


def run(ctx: Context, command: str, args: list[str]) -> int:
    allowed = {"--disable-low-memory-guard"} if command == "start" else set()
    for arg in args:
        if arg == "-h":
            print(f"Usage: microk8s {command} [-h]" + (" [--disable-low-memory-guard]" if allowed else ""))
            return 0
        if arg not in allowed:
            fail(f"microk8s {command}: invalid option -- {arg.lstrip('-')}")
    if command == "start" and "--disable-low-memory-guard" in args:
        ctx.paths.lock("low-memory-guard.lock").unlink(missing_ok=True)
    if command == "stop":
        ctx.paths.lock("stopped.lock").touch()
        return subprocess.run(snap_command(ctx, "stop"), check=False).returncode
    try:
        started = subprocess.run(snap_command(ctx, "start"), check=False).returncode == 0
    except OSError:
        started = False
    if not started:
        fail(START_FAILED)
    ctx.paths.lock("stopped.lock").unlink(missing_ok=True)
    cluster.wait_ready(ctx, START_WAIT)
    return 0
