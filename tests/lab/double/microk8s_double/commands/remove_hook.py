# SPDX-License-Identifier: GPL-3.0-or-later
"""The snap's remove hook, as the real one (snap/hooks/remove): stop kubelite and containerd, end what still runs of
the pods, lazily unmount everything under $SNAP_COMMON and clear the container state, so that snapd can delete the
snap's data. Without it, `snap remove microk8s` fails on the pods' mounted root filesystems."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from microk8s_double import paths, settings

#: Processes of the double's pods: the shims and the pods' first processes (the apps run under them).
POD_PROCESS_MARKERS = ("microk8s_double.kubelet.shim", "microk8s_double.kubelet.launch")


def _best_effort(*argv: str) -> None:
    subprocess.run(argv, capture_output=True, check=False, timeout=60)


def _pod_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(marker in cmdline for marker in POD_PROCESS_MARKERS):
                found.append(int(entry.name))
    return found


def mounts_under(root: Path, mounts_text: str) -> list[str]:
    """Mount points below root, deepest first (so that nested mounts go before their parents)."""
    points = [line.split()[1] for line in mounts_text.splitlines() if len(line.split()) > 1]
    inside = [point for point in points if point == str(root) or point.startswith(str(root) + "/")]
    return sorted(set(inside), key=lambda point: point.count("/"), reverse=True)


def main() -> int:
    common = paths.resolve(settings.load()).snap_common
    _best_effort("snapctl", "stop", "microk8s.daemon-kubelite")
    for pid in _pod_processes():
        with contextlib.suppress(OSError):  # already gone
            os.kill(pid, signal.SIGKILL)
    _best_effort("snapctl", "stop", "microk8s.daemon-containerd")
    deadline = time.monotonic() + 10  # containerd and the pods let go of their mounts
    while _pod_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    for point in mounts_under(common, Path("/proc/mounts").read_text()):
        _best_effort("umount", "-l", point)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for name in [line.split()[0] for line in netns.splitlines() if line.startswith("pod-")]:
        _best_effort("ip", "netns", "delete", name)
    for leftover in ("run/double-pods", "var/lib/containerd", "run/containerd"):
        shutil.rmtree(common / leftover, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
