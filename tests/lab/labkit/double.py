# SPDX-License-Identifier: GPL-3.0-or-later
"""The microk8s test double on the lab: its snaps (built on the controller) and its settings file on each node."""

from __future__ import annotations

import json
import pathlib
import shutil
import sys

from .shell import LabError, run

BUILD_SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "double" / "build.py"
SETTINGS_PATH = "/etc/microk8s-double.conf"
NODE_SNAP_DIR = "/root/lab-snaps"


def build_snaps(profile: str, out_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Build the double for a version profile into a clean out_dir; return {'snap_file': ..., 'base_snap_file': ...}."""
    if not BUILD_SCRIPT.exists():
        raise LabError(f"{BUILD_SCRIPT} is missing: the microk8s test double cannot be built")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    run([sys.executable, str(BUILD_SCRIPT), "--profile", profile, "--out", str(out_dir)], timeout=600)
    return snap_files(out_dir)


def snap_files(out_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Tell the microk8s snap from its base snap among the .snap files of a build."""
    snaps = sorted(out_dir.glob("*.snap"))
    microk8s = [path for path in snaps if path.name.startswith("microk8s_")]
    bases = [path for path in snaps if not path.name.startswith("microk8s_")]
    if len(microk8s) != 1 or len(bases) != 1:
        raise LabError(f"expected one microk8s_*.snap and one base snap in {out_dir}, found {[p.name for p in snaps]}")
    return {"snap_file": microk8s[0], "base_snap_file": bases[0]}


def settings() -> str:
    """The double's own settings file (never read by the collection). The lab sets nothing in it: Kubernetes
    timings come from the args files the double's snap ships as MicroK8s does (edit `args/kube-controller-manager`
    on a node and restart kubelite to tune them), and go-dqlite's 30 s role rebalancing is fixed. Written anyway so
    that an `up` replaces a file left by an older lab."""
    return json.dumps({}) + "\n"
