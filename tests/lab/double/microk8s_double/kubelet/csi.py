# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet's CSI volumes of the mayastor and Jiva node plugins (Jiva's only where iscsid is active, as its
iSCSI login needs): a volume is mounted for a pod once its VolumeAttachment to
this node is attached, by a nexus process (microk8s_double.mayastor.mount) at the kubelet's path
`<kubelet root>/pods/<pod uid>/volumes/kubernetes.io~csi/<pv>/mount`, and unmounted when the pod is torn down. The
node reports the volumes its pods mount in `status.volumesInUse` (what the attach-detach controller waits for)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ..controllers.attachdetach import attachment_name, unique_name
from ..controllers.volumes import JIVA
from ..mayastor import PORT
from .runtime import PACKAGE_ROOT

OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")  # mountinfo's escapes of space, tab, newline and backslash
MOUNT_WAIT = 0.5  # how long one kubelet round waits for a starting nexus before it retries next round


class NotReady(Exception):
    """The volume cannot be mounted yet (not attached here, or its nexus found no majority yet)."""


class Csi:
    def __init__(self, client, node_name: str, kubelet_root: Path, port: int = PORT):
        self.client, self.node_name, self.root, self.port = client, node_name, Path(kubelet_root).absolute(), port
        self.starting: dict[str, subprocess.Popen] = {}  # mount target -> nexus process
        self.in_use: list[str] | None = None
        # PV name -> its volumesInUse name, or None for a PV that is not CSI (a PV's source never changes): the
        # kubelet reads PVs from its informer cache, not from the API server on every round
        self.unique_names: dict[str, str | None] = {}

    def target(self, pod_uid: str, pv_name: str) -> Path:
        return self.root / "pods" / pod_uid / "volumes" / "kubernetes.io~csi" / pv_name / "mount"

    def mount(self, pod: dict, pv: dict) -> str:
        """The directory to bind into the pod's containers; NotReady while it cannot be mounted yet."""
        name, csi = pv["metadata"]["name"], pv["spec"]["csi"]
        if csi["driver"] == JIVA and not iscsid_active():  # Jiva's node plugin logs in with the node's iscsiadm
            raise NotReady(f"volume {name}: iscsid is not active on {self.node_name}")
        attachment = self.client.get("volumeattachments", attachment_name(name, csi["driver"], self.node_name))
        if not (attachment or {}).get("status", {}).get("attached"):
            raise NotReady(f"volume {name} is not attached to {self.node_name}")
        target = self.target(pod["metadata"]["uid"], name)
        if str(target) in mount_points():
            if os.path.ismount(target):
                self.starting.pop(str(target), None)
                return str(target)
            # Its nexus is gone (every access fails ENOTCONN): unmounted and published anew, as NodePublishVolume
            # does for a target whose device went away.
            umount(target)
        process = self.starting.get(str(target))
        if process is None or process.poll() is not None:
            process = self.start(target, pv)
        deadline = time.monotonic() + MOUNT_WAIT
        while time.monotonic() < deadline and process.poll() is None:
            if os.path.ismount(target):
                return str(target)
            time.sleep(0.05)
        raise NotReady(f"volume {name}: waiting for its nexus")

    def start(self, target: Path, pv: dict) -> subprocess.Popen:
        nodes = {n["metadata"]["name"]: n for n in self.client.list("nodes")}
        placed = (pv["metadata"].get("annotations") or {}).get("double.microk8s.io/replica-nodes", "")
        replicas = [f"{internal_ip(nodes.get(n))}:{self.port}" for n in placed.split(",") if n]
        timeout = (pv["spec"]["csi"].get("volumeAttributes") or {}).get("ioTimeout") or "10"
        target.mkdir(parents=True, exist_ok=True)
        log = open(target.parent / "nexus.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            argv = [sys.executable, "-P", "-m", "microk8s_double.mayastor.mount", pv["spec"]["csi"]["volumeHandle"],
                    str(target), *replicas, "--io-timeout", str(timeout),
                    "--pool", "jiva" if pv["spec"]["csi"]["driver"] == JIVA else "mayastor"]  # fmt: skip
            env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
            process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            log.close()
        self.starting[str(target)] = process
        return process

    def unmount(self, pod_uid: str) -> None:
        """Unmount the pod's CSI volumes (their nexus processes then exit)."""
        base = f"{self.root / 'pods' / pod_uid / 'volumes' / 'kubernetes.io~csi'}/"
        mounted = {point for point in mount_points() if point.startswith(base)}
        for target in mounted | {t for t in self.starting if t.startswith(base)}:
            if target in mounted:  # a dead mount too: unmounting needs no answer from its server
                umount(Path(target))
            process = self.starting.pop(target, None)
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(2)

    def report(self) -> None:
        """node.status.volumesInUse: the CSI volumes mounted here for pods (patched when it changes)."""
        mounted = set()
        for point in mount_points():
            target = Path(point)
            if (
                target.name == "mount"
                and target.parent.parent.name == "kubernetes.io~csi"
                and target.is_relative_to(self.root / "pods")
            ):
                mounted.add(target.parent.name)
        self.unique_names = {name: known for name, known in self.unique_names.items() if name in mounted}
        for name in mounted - set(self.unique_names):
            pv = self.client.get("persistentvolumes", name)
            if pv:  # a PV not found yet is asked for again next round
                self.unique_names[name] = unique_name(pv) if (pv.get("spec") or {}).get("csi") else None
        used = {known for known in self.unique_names.values() if known}
        if sorted(used) != self.in_use:
            body = {"status": {"volumesInUse": sorted(used) or None}}
            self.client.patch("nodes", self.node_name, body, subresource="status")
            self.in_use = sorted(used)


def mount_points() -> set[str]:
    """Where something is mounted, from /proc/self/mountinfo (as the kubelet's mount utilities read it): a FUSE mount
    whose server died is listed there while os.path.ismount() and every stat of it fail (ENOTCONN)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        return {OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), line.split()[4]) for line in mountinfo if line.strip()}


def umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def iscsid_active() -> bool:
    try:
        done = subprocess.run(
            ["systemctl", "is-active", "iscsid"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.stdout.strip() == "active"


def internal_ip(node: dict | None) -> str:
    for address in ((node or {}).get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return address["address"]
    return "0.0.0.0"
