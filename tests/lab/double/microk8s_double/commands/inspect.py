# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s inspect`: the report's sections, a service check per daemon and the tarball line (brief)."""

from __future__ import annotations

import subprocess
import tarfile
import time

from microk8s_double.commands.common import Context

SERVICES = ["daemon-cluster-agent", "daemon-containerd", "daemon-k8s-dqlite", "daemon-kubelite"]


def service_running(name: str) -> bool:
    try:
        probe = subprocess.run(["systemctl", "is-active", f"snap.microk8s.{name}"], capture_output=True, check=False)
    except OSError:
        return False
    return probe.returncode == 0


def run(ctx: Context, command: str, args: list[str]) -> int:
    failed = False
    print("Inspecting system")
    print("Inspecting Certificates")
    print("Inspecting services")
    for name in SERVICES:
        if service_running(name):
            print(f"  Service snap.microk8s.{name} is running")
        else:
            failed = True
            print(f" FAIL:  Service snap.microk8s.{name} is not running")
    print("  Copy processes list to the final report tarball")
    print("Inspecting AppArmor configuration")
    print("Gathering system information")
    print("Inspecting kubernetes cluster")
    print("Inspecting dqlite")
    print("  Inspect dqlite")
    print("")
    print("Building the report tarball")
    report = ctx.paths.snap_data / f"inspection-report-{time.strftime('%Y%m%d_%H%M%S')}.tar.gz"
    with tarfile.open(report, "w:gz") as tar:
        for part in ("args", "var/lock", "var/kubernetes/backend"):
            if (ctx.paths.snap_data / part).exists():
                tar.add(ctx.paths.snap_data / part, arcname=part)
    print(f"  Report tarball is at {report}")
    return 1 if failed else 0
