# SPDX-License-Identifier: GPL-3.0-or-later
"""The node image: a Debian bookworm rootfs built offline-capable with debootstrap, cached by recipe hash."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import time

from . import lxd, plan
from .shell import LabError, run, say, step

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BOOTSTRAP_PACKAGES = ("systemd", "systemd-sysv", "dbus")
PACKAGES = (
    "snapd",
    "containerd",
    "runc",
    "python3",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "iputils-arping",
    "curl",
    "openssl",
    "ca-certificates",
    "sudo",
    "kubernetes-client",
    "netbase",
    "procps",
    "less",
    # VRRP for a virtual IP in front of the Kubernetes API (the collection configures it; the image only has it).
    "keepalived",
    # Ubuntu server (the seed's OS) ships python3-apt; Ansible's apt/package modules need it on the node, and the
    # lab's nodes cannot fetch it (no mirror): third-party roles use `package:` (tests/lab/third_party.sh).
    "python3-apt",
)
# The lab's non-root administrator: Ansible logs in as this user with the lab's key and becomes root with sudo,
# as on the users' PCs (Ubuntu's first user). Root keeps its key login (lxc exec needs none).
ADMIN_USER = "labadmin"
ADMIN_UID = 1000
# Ubuntu's PATH for every session, /snap/bin included: pam_env reads /etc/environment for SSH logins, so
# non-interactive `ssh node microk8s.status` finds snap apps as on Ubuntu (Debian's file has no PATH line).
ENVIRONMENT = (
    'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"\n'
)
# ... and Ubuntu's sudo keeps /snap/bin in secure_path (Debian's default leaves it out), so `sudo microk8s.status`
# and Ansible's become find snap apps too.
SUDO_SNAP_PATH = 'Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"\n'
SUDO_ADMIN = f"{ADMIN_USER} ALL=(ALL) NOPASSWD:ALL\n"
_HOSTKEYS_UNIT = """\
[Unit]
Description=Generate this node's own SSH host keys (the lab image ships none)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target ssh.service
"""
_UDEVADM_WRAPPER = """\
#!/bin/sh
# Lab image: udevd cannot run in an LXD container (read-only /sys), so reloading rules and triggering
# events are no-ops here (snapd calls them when it installs a snap); everything else goes to the real udevadm.
case "$1" in control|trigger|settle) exit 0 ;; esac
exec /usr/bin/udevadm.real "$@"
"""
_LOOP_UNIT = """\
[Unit]
Description=Loop device nodes for snapd (LXD gives a container none; the lab profile allows major 7 and loop-control)
DefaultDependencies=no
Before=sysinit.target snapd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-loop-devices

[Install]
WantedBy=sysinit.target
"""
_LOOP_SCRIPT = """\
#!/bin/sh
# Squashfs snaps are mounted through loop devices, which the kernel shares between all containers of the host.
[ -e /dev/loop-control ] || mknod -m 660 /dev/loop-control c 10 237
for i in $(seq 0 127); do [ -e /dev/loop$i ] || mknod -m 660 /dev/loop$i b 7 $i; done
chgrp disk /dev/loop-control /dev/loop[0-9]*
"""
DIVERSIONS = ("/usr/bin/udevadm",)  # moved to <path>.real, replaced by the file of the same path below
FILES = {
    "etc/systemd/system/lab-ssh-hostkeys.service": _HOSTKEYS_UNIT,
    "etc/ssh/sshd_config.d/lab.conf": "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
    "etc/resolv.conf": "# No DNS in the lab: a node knows itself from /etc/hosts; the rest is the collection's job.\n",
    "etc/fstab": "",
    "usr/bin/udevadm": _UDEVADM_WRAPPER,
    "etc/systemd/system/lab-loop-devices.service": _LOOP_UNIT,
    "usr/local/sbin/lab-loop-devices": _LOOP_SCRIPT,
    # With the store's catalog files missing, snapd fetches them at every start and blocks its state engine for
    # ~30 s of retries against the unreachable store; present (empty), the fetch waits a day.
    "var/cache/snapd/names": "",
    "var/cache/snapd/sections": "",
    "var/cache/snapd/commands.db": "",
    # `snap run` puts an app into a scope of root's user manager when one runs (after any SSH login); that manager
    # stops ~10 s after the last session ends and takes such apps with it, e.g. a `microk8s join` started by
    # `lxc exec`. Lingering keeps root's manager up for the container's life.
    "var/lib/systemd/linger/root": "",
    "etc/environment": ENVIRONMENT,
    "etc/sudoers.d/lab-snap-path": SUDO_SNAP_PATH,
    "etc/sudoers.d/lab-admin": SUDO_ADMIN,
}
# Written with this mode instead of 0644/0755 (sudo ignores files in sudoers.d that others can write or read).
MODES = {"etc/sudoers.d/lab-snap-path": 0o440, "etc/sudoers.d/lab-admin": 0o440}
CHROOT_COMMANDS = (
    ("systemctl", "enable", "systemd-networkd", "lab-ssh-hostkeys.service", "lab-loop-devices.service"),
    # The double runs containerd itself (as the real snap does); the distribution's service stays off.
    ("systemctl", "disable", "containerd.service"),
    ("systemctl", "mask", "apt-daily.timer", "apt-daily-upgrade.timer", "systemd-binfmt.service"),
    # '*' = no password to log in with, but not a locked account (sshd refuses keys of locked ones without PAM).
    (
        "useradd",
        "--create-home",
        "--uid",
        str(ADMIN_UID),
        "--user-group",
        "--shell",
        "/bin/bash",
        "-p",
        "*",
        ADMIN_USER,
    ),
    ("install", "-d", "-m", "0700", "-o", ADMIN_USER, "-g", ADMIN_USER, f"/home/{ADMIN_USER}/.ssh"),
    ("visudo", "--check", "--strict"),
)
CLEANUP = ("var/lib/apt/lists/*_*", "usr/sbin/policy-rc.d", "var/lib/dbus/machine-id", "etc/ssh/ssh_host_*")


def recipe_hash() -> str:
    """Hash of everything that decides the image's content: change the recipe and the image is rebuilt."""
    recipe = [SUITE, MIRROR, BOOTSTRAP_PACKAGES, PACKAGES, DIVERSIONS, FILES, MODES, CHROOT_COMMANDS, CLEANUP]
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure(cache_root: pathlib.Path) -> pathlib.Path:
    """Make the LXD image alias point at an image of the current recipe, building the tarballs if not cached.

    Returns the cached rootfs tarball, which the app image is also built from: a checkout whose cache is empty (a
    fresh clone on a machine whose LXD already has the image) builds the tarballs again without re-importing them.
    """
    digest = recipe_hash()
    cached = cache_root.resolve() / digest
    current = lxd.image_by_alias(plan.IMAGE_ALIAS)
    if current and current.get("properties", {}).get("recipe") == digest:
        say(f"image {plan.IMAGE_ALIAS} (recipe {digest}) already in LXD")
        if not (cached / "rootfs.tar").exists():
            _build(cached, digest)
        return cached / "rootfs.tar"
    if current:
        with step(f"dropping stale image {plan.IMAGE_ALIAS} (recipe changed)"):
            run(["lxc", "image", "delete", current["fingerprint"]])
    if not (cached / "rootfs.tar").exists():
        _build(cached, digest)
    with step(f"importing image {plan.IMAGE_ALIAS} from {cached}"):
        tarballs = [str(cached / "meta.tar"), str(cached / "rootfs.tar")]
        run(["lxc", "image", "import", *tarballs, "--alias", plan.IMAGE_ALIAS], timeout=900)
    return cached / "rootfs.tar"


# debootstrap and apt download from the Debian mirror on a fresh machine: one failed download must not end the run.
BUILD_ATTEMPTS = 2


def _build(target: pathlib.Path, digest: str) -> None:
    for attempt in range(1, BUILD_ATTEMPTS + 1):
        try:
            return build(target, digest)
        except LabError as exc:
            if attempt == BUILD_ATTEMPTS:
                raise
            say(f"building the node image failed ({str(exc).splitlines()[0]}); once more (a mirror download may fail)")


def build(target: pathlib.Path, digest: str) -> None:
    """debootstrap + apt in a chroot (the host's network), then pack rootfs.tar and meta.tar into target."""
    work = target.with_name(target.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    root = work / "rootfs"
    with step(f"debootstrap {SUITE} minbase into {root}"):
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(BOOTSTRAP_PACKAGES)}", SUITE, str(root)]
        run([*argv, MIRROR], timeout=1800)
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    env = ["env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"]
    with step(f"apt-get install {len(PACKAGES)} packages in the chroot"):
        retries = ["-o", "Acquire::Retries=3"]
        run(["chroot", str(root), *env, "apt-get", *retries, "update"], timeout=600)
        install = ["apt-get", *retries, "install", "-y", "--no-install-recommends", *PACKAGES]
        run(["chroot", str(root), *env, *install], timeout=1800)
        run(["chroot", str(root), *env, "apt-get", "clean"])
    for path in DIVERSIONS:
        run(["chroot", str(root), "dpkg-divert", "--local", "--rename", "--divert", f"{path}.real", "--add", path])
    for relative, text in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).unlink(missing_ok=True)
        (root / relative).write_text(text)
        (root / relative).chmod(MODES.get(relative, 0o755 if text.startswith("#!") else 0o644))
    for argv in CHROOT_COMMANDS:
        run(["chroot", str(root), *argv])
    _clean(root)
    with step("packing rootfs.tar"):
        tar = ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*"]
        run([*tar, "-C", str(root), "-cf", str(work / "rootfs.tar"), "."], timeout=900)
        (work / "metadata.yaml").write_text(_metadata(digest))
        run(["tar", "-C", str(work), "-cf", str(work / "meta.tar"), "metadata.yaml"])
    shutil.rmtree(root)
    for stale in set(target.parent.iterdir()) - {work}:  # earlier recipes
        shutil.rmtree(stale)
    work.rename(target)


def _clean(root: pathlib.Path) -> None:
    for pattern in CLEANUP:
        for path in root.glob(pattern):
            path.unlink()
    (root / "etc/machine-id").write_text("")


def _metadata(digest: str) -> str:
    return (
        "architecture: x86_64\n"
        f"creation_date: {int(time.time())}\n"
        "properties:\n"
        "  os: debian\n"
        f"  release: {SUITE}\n"
        f"  description: onprem.microk8s lab node (Debian {SUITE}, snapd, recipe {digest})\n"
        f"  recipe: {digest}\n"
    )
