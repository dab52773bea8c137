# SPDX-License-Identifier: GPL-3.0-or-later
"""A container's process: run by the shim as `[ip netns exec POD] unshare --pid --mount --uts python3 -m
microk8s_double.kubelet.launch SPEC`, it forks the container's init (pid 1 of the new pid namespace), which mounts
/proc, a minimal /dev and the volumes into the image's writable rootfs, sets the pod's hostname, chroots there and
executes the container's command with its environment (what runc does for containerd; nested runc does not work in
the lab's containers). The launcher waits and exits with the init's code (128+signal when killed, as runc reports).
Exit 128 when the command cannot start, with the reason in the spec's `start_error` file (containerd's StartError).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}


def mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True)


def prepare(root: Path, binds: list[dict]) -> None:
    """Mounts inside the container's own mount namespace (private: nothing leaks to the node)."""
    for name in ("proc", "dev"):
        (root / name).mkdir(exist_ok=True)
    mount("-t", "proc", "proc", str(root / "proc"))
    mount("-t", "tmpfs", "-o", "nosuid,mode=755", "tmpfs", str(root / "dev"))
    for device in DEVICES:
        (root / "dev" / device).touch()
        mount("--bind", f"/dev/{device}", str(root / "dev" / device))
    for name, target in LINKS.items():
        (root / "dev" / name).symlink_to(target)
    (root / "dev" / "shm").mkdir()
    mount("-t", "tmpfs", "-o", "nosuid,nodev", "shm", str(root / "dev" / "shm"))
    for bind in binds:
        target = root / bind["target"].lstrip("/")
        source = Path(bind["source"])
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        mount("--bind", str(source), str(target))
        if bind.get("readOnly"):
            mount("-o", "remount,bind,ro", str(target))


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    child = os.fork()
    if child == 0:
        os._exit(run_init(spec))
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    return 128 - code if code < 0 else code


def run_init(spec: dict) -> int:
    """In the child (pid 1 of the new namespace): mounts, hostname, chroot, exec; 128 when exec fails."""
    root = Path(spec["root"])
    prepare(root, spec.get("binds", []))
    if spec.get("hostname"):
        socket.sethostname(spec["hostname"])
    with open(spec["start_error"], "w") as errors:  # opened before chroot: the node's path (close-on-exec)
        os.chroot(root)
        try:
            os.chdir(spec.get("workdir") or "/")
            if spec.get("gid") is not None:
                os.setgroups([])
                os.setgid(spec["gid"])
            if spec.get("uid") is not None:
                os.setuid(spec["uid"])
            os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
        except OSError as error:
            reason = "executable file not found in $PATH" if error.errno == 2 else error.strerror
            errors.write(f'exec: "{spec["argv"][0]}": {reason}')
    return 128


if __name__ == "__main__":
    sys.exit(main())
