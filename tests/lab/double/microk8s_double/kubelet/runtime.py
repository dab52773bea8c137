# SPDX-License-Identifier: GPL-3.0-or-later
"""The container runtime: containers as real processes started from the image's own filesystem in the node's
containerd (namespace k8s.io). A writable snapshot of the image (`ctr images mount --rw`) is the container's root;
a shim (shim.py) runs `[ip netns exec <pod netns>] unshare --pid --mount --uts python3 -m ...launch` (launch.py) and
records the exit. Each container keeps its state in `<state>/<pod uid>/<container>/` (record.json, pid, exit.json,
logs), so a restarted kubelet finds its containers again, as the kubelet does through containerd.

All commands go through `Host`, the one seam to root-only operations (the suite passes a fake)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ..network.runner import Runner
from . import images
from .status import now_stamp

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
STARTED = "running"
EXITED = "exited"


class Host(Runner):
    """Commands (`run`) plus the process operations the runtime needs."""

    def spawn(self, argv: list[str]) -> int:
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return process.pid

    def alive(self, pid: int) -> bool:
        """Running and not a zombie (a shim the kubelet started and has not reaped yet)."""
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            os.waitpid(pid, os.WNOHANG)
            return False
        return True

    def execute(self, argv: list[str], env: dict, timeout: float) -> int:
        """A command with its own environment; its exit code (-1 on timeout or when it cannot run)."""
        try:
            return subprocess.run(argv, env=env, capture_output=True, timeout=timeout, check=False).returncode
        except (OSError, subprocess.TimeoutExpired):
            return -1

    def children(self, pid: int) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def signal(self, pid: int, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)


class Runtime:
    def __init__(self, host: Host, state_dir: Path, socket: Path):
        self.host, self.state_dir = host, state_dir
        self.ctr = ("ctr", "--address", str(socket), "-n", "k8s.io")
        self.configs: dict[str, dict] = {}

    # -- images ---------------------------------------------------------------------------------------------------
    def images(self) -> dict[str, str]:
        rc, out = self.host.run(*self.ctr, "images", "ls")
        return images.parse_listing(out) if rc == 0 else {}

    def image_config(self, digest: str) -> dict:
        """The image's config ({"id": config digest, "config": {Entrypoint, Cmd, Env, WorkingDir, User}})."""
        if digest not in self.configs:
            manifest = self.content(digest)
            if "manifests" in manifest:  # an index: the linux/amd64 manifest
                entry = next(
                    m
                    for m in manifest["manifests"]
                    if (m.get("platform") or {}).get("architecture", "amd64") == "amd64"
                    and (m.get("platform") or {}).get("os", "linux") == "linux"
                )
                manifest = self.content(entry["digest"])
            config_digest = manifest["config"]["digest"]
            self.configs[digest] = {"id": config_digest, "config": self.content(config_digest).get("config") or {}}
        return self.configs[digest]

    def content(self, digest: str) -> dict:
        rc, out = self.host.run(*self.ctr, "content", "get", digest)
        if rc:
            raise OSError(f"content {digest} not found")
        return json.loads(out)

    # -- containers -----------------------------------------------------------------------------------------------
    def directory(self, uid: str, name: str) -> Path:
        return self.state_dir / uid / name

    def record(self, uid: str, name: str) -> dict | None:
        path = self.directory(uid, name) / "record.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save(self, uid: str, name: str, record: dict) -> None:
        path = self.directory(uid, name) / "record.json"
        path.with_suffix(".tmp").write_text(json.dumps(record))
        path.with_suffix(".tmp").rename(path)

    def containers(self, uid: str) -> list[str]:
        pod_dir = self.state_dir / uid
        return sorted(p.name for p in pod_dir.iterdir() if (p / "record.json").exists()) if pod_dir.is_dir() else []

    def pod_uids(self) -> list[str]:
        return sorted(p.name for p in self.state_dir.iterdir()) if self.state_dir.is_dir() else []

    def start(self, uid: str, name: str, ref: str, launch: dict, netns: str | None, record: dict) -> dict:
        """Start (or restart) a container from the image `ref` with launch.py's spec (argv, env, workdir, hostname,
        binds, uid, gid); returns the updated record (containerID, startedAt, restartCount)."""
        where = self.directory(uid, name)
        where.mkdir(parents=True, exist_ok=True)
        root = where / "rootfs"
        self.release_rootfs(root)
        root.mkdir()
        rc, _out = self.host.run(*self.ctr, "images", "mount", "--rw", ref, str(root))
        if rc:
            raise OSError(f"cannot mount image {ref}")
        for stale in ("exit.json", "pid", "start_error"):
            (where / stale).unlink(missing_ok=True)
        restarts = record.get("restartCount", -1) + 1 if record.get("containerID") else 0
        spec = dict(launch, root=str(root), start_error=str(where / "start_error"))
        (where / "launch.json").write_text(json.dumps(spec))
        command = ["unshare", "--pid", "--mount", "--uts", sys.executable, "-P", "-m", "microk8s_double.kubelet.launch"]
        command.append(str(where / "launch.json"))
        if netns:
            command = ["ip", "netns", "exec", netns, *command]
        log = where / f"{restarts}.log"
        (where / "shim.json").write_text(json.dumps({"argv": command, "log": str(log)}))
        shim = self.host.spawn([sys.executable, "-P", "-m", "microk8s_double.kubelet.shim", str(where)])
        updated = dict(record, containerID=secrets.token_hex(32), startedAt=now_stamp(), restartCount=restarts)
        updated.update(shim=shim, log=str(log), stopping=None)
        self.save(uid, name, updated)
        return updated

    def state(self, uid: str, name: str, record: dict) -> dict:
        """{"state": running|exited, exitCode, finishedAt, startError} of the container's current process."""
        where = self.directory(uid, name)
        exit_file = where / "exit.json"
        if exit_file.exists():
            ended = json.loads(exit_file.read_text())
            error_file = where / "start_error"
            start_error = error_file.read_text() if error_file.exists() else ""
            return dict(ended, state=EXITED, startError=start_error)
        if record.get("shim") and self.host.alive(record["shim"]):
            return {"state": STARTED}
        # the shim is gone without a word (node rebooted, killed): containerd reports exit 255, reason Unknown
        return {"state": EXITED, "exitCode": 255, "finishedAt": now_stamp(), "lost": True, "startError": ""}

    def init_pid(self, uid: str, name: str) -> int | None:
        """The container's first process (pid 1 of its namespace): the launcher's child."""
        pid_file = self.directory(uid, name) / "pid"
        if not pid_file.exists():
            return None
        launcher = int(pid_file.read_text())
        return next(iter(self.host.children(launcher)), None)

    def stop(self, uid: str, name: str, force: bool) -> None:
        """SIGTERM to the container's init (it may ignore it, as pid 1 does without a handler), SIGKILL when forced."""
        init = self.init_pid(uid, name)
        if init:
            self.host.signal(init, signal.SIGKILL if force else signal.SIGTERM)

    def exec(self, uid: str, name: str, argv: list[str], timeout: float) -> int:
        """Run a command in the container (its namespaces, root, working directory and environment)."""
        init = self.init_pid(uid, name)
        if not init:
            return -1
        variables = json.loads((self.directory(uid, name) / "launch.json").read_text())["env"]
        command = ["nsenter", "-t", str(init), "-m", "-u", "-n", "-p", "-r", "-w", *argv]
        return self.host.execute(command, variables, timeout)

    def remove(self, uid: str) -> None:
        """Drop a pod's containers (their writable snapshots) once none runs."""
        pod_dir = self.state_dir / uid
        for root in pod_dir.glob("*/rootfs"):
            self.release_rootfs(root)
        shutil.rmtree(pod_dir, ignore_errors=True)

    def release_rootfs(self, root: Path) -> None:
        if root.exists():
            self.host.run(*self.ctr, "images", "unmount", "--rm", str(root))
            root.rmdir()
