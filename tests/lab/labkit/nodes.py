# SPDX-License-Identifier: GPL-3.0-or-later
"""Launching the lab's containers with their identity (address, hostname, own /etc/hosts) and SSH access."""

from __future__ import annotations

import pathlib
import tempfile
import time

from . import image, plan
from .shell import LabError, run, say, succeeds, wait_until

_SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=accept-new")


def networkd_config(machine: plan.Machine) -> str:
    """Static address on eth0; the default route points at the host, which forwards nothing out of the lab."""
    return (
        "[Match]\nName=eth0\n\n"
        f"[Network]\nAddress={machine.address}/{plan.NETWORK.prefixlen}\nGateway={plan.GATEWAY}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


def hosts_file(machine: plan.Machine) -> str:
    """The node knows only itself: resolving the other nodes is the collection's job."""
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{machine.address}\t{machine.name}\n"


def identity_files(machine: plan.Machine) -> dict[str, str]:
    """Files written once, when the container is created (the collection may change them later)."""
    return {
        "/etc/systemd/network/10-eth0.network": networkd_config(machine),
        "/etc/hosts": hosts_file(machine),
        "/etc/hostname": f"{machine.name}\n",
    }


def ensure_running(machine: plan.Machine, state: str | None) -> None:
    """Create (with identity files) and start the container; an existing one is only started."""
    if state is None:
        run(["lxc", "init", plan.IMAGE_ALIAS, machine.name, "--profile", plan.PROFILE], timeout=600)
        for path, text in identity_files(machine).items():
            push_text(machine.name, path, text)
    if state != "Running":
        run(["lxc", "start", machine.name], timeout=120)
        say(f"{machine.name} started ({machine.address}, {machine.group})")


def push_text(container: str, path: str, text: str, mode: str = "0644", owner: int = 0) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".lab") as handle:
        handle.write(text)
        handle.flush()
        push_file(container, pathlib.Path(handle.name), path, mode, owner)


def push_file(container: str, source: pathlib.Path, path: str, mode: str = "0644", owner: int = 0) -> None:
    ids = ["--uid", str(owner), "--gid", str(owner)] if owner else []
    argv = ["lxc", "file", "push", "--create-dirs", "--mode", mode, *ids, str(source), f"{container}{path}"]
    for attempt in range(3):
        try:
            run(argv, timeout=300)
            return
        except LabError as error:
            # LXD's file API forks into the container through a socket that is not always there yet just after
            # `lxc start` ("dial unix /proc/self/fd/N/forkfile.sock: ... no such file"): a push is safe to repeat.
            if "forkfile.sock" not in str(error) or attempt == 2:
                raise
            say(f"{container}: LXD's file API was not ready ({path}), pushing again")
            time.sleep(1 + attempt)


def ssh_argv(machine: plan.Machine, key: pathlib.Path, known_hosts: pathlib.Path, user: str = "root") -> list[str]:
    target = f"{user}@{machine.address}"
    return ["ssh", "-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}", *_SSH_OPTIONS, target]


def wait_for_ssh(machine: plan.Machine, key: pathlib.Path, known_hosts: pathlib.Path, timeout: float = 120) -> None:
    """Root's key login, then the administrator's key login and passwordless sudo (what the inventory uses)."""
    argv = [*ssh_argv(machine, key, known_hosts), "true"]
    wait_until(lambda: succeeds(argv, timeout=10), timeout=timeout, what=f"SSH on {machine.name} ({machine.address})")
    admin = [*ssh_argv(machine, key, known_hosts, image.ADMIN_USER), "sudo", "-n", "true"]
    what = f"SSH as {image.ADMIN_USER} with sudo on {machine.name} (an older image has no such user: down, then up)"
    wait_until(lambda: succeeds(admin, timeout=10), timeout=30, what=what)


def forget_host_key(machine: plan.Machine, known_hosts: pathlib.Path) -> None:
    """A freshly created container has new host keys: drop what known_hosts remembers for its address."""
    if known_hosts.exists():
        run(["ssh-keygen", "-R", str(machine.address), "-f", str(known_hosts)], check=False)
