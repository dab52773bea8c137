# SPDX-License-Identifier: GPL-3.0-or-later
"""The LXD side of the lab: host packages, the daemon, and the bridge, pool and profile the lab owns."""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import shutil
import subprocess

from . import plan
from .shell import run, say, step, succeeds

HOST_PACKAGES = {  # command -> Debian package providing it
    "lxd": "lxd",
    "lxc": "lxd-client",
    "debootstrap": "debootstrap",
    "mksquashfs": "squashfs-tools",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "nft": "nftables",
    "buildah": "buildah",
    # LXD's managed bridge runs dnsmasq even with DHCP and DNS off; it is only a Recommends of lxd, which
    # --no-install-recommends drops ("Failed to check dnsmasq version").
    "dnsmasq": "dnsmasq-base",
    # Let's Encrypt's test ACME server, run on client1 (labkit/acme_lab.py)
    "pebble": "pebble",
}
NFT_TABLE = "onpremlab"
NETWORK_CONFIG = {
    "ipv4.address": f"{plan.GATEWAY}/{plan.NETWORK.prefixlen}",
    "ipv4.nat": "false",
    "ipv4.dhcp": "false",
    "ipv6.address": "none",
    "dns.mode": "none",
}
FORWARDING_GUARD = f"""
table inet {NFT_TABLE}
flush table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
  chain forward {{
    type filter hook forward priority filter - 1; policy accept;
    iifname "{plan.BRIDGE}" oifname != "{plan.BRIDGE}" drop
    oifname "{plan.BRIDGE}" iifname != "{plan.BRIDGE}" drop
  }}
}}
"""
PROFILE_CONFIG = {
    "security.privileged": "true",
    "security.nesting": "true",
    # snapd mounts snaps through loop devices: allow block major 7 and /dev/loop-control (the image makes the nodes)
    "raw.lxc": "lxc.cgroup.devices.allow = b 7:* rwm\nlxc.cgroup.devices.allow = c 10:237 rwm",
}
PROFILE_DEVICES = {
    "root": ["disk", "path=/", f"pool={plan.POOL}"],
    "eth0": ["nic", f"network={plan.BRIDGE}", "name=eth0"],
    # the mayastor double's nexus mounts volumes through FUSE (a kernel facility, as /dev/nvme-fabrics is for real)
    "fuse": ["unix-char", "source=/dev/fuse", "path=/dev/fuse"],
}


def ensure_host_packages() -> None:
    missing = sorted({package for command, package in HOST_PACKAGES.items() if shutil.which(command) is None})
    if not missing:
        return
    with step(f"apt-get install {' '.join(missing)}"):
        run(["apt-get", "update", "-q"], timeout=600)  # a fresh machine has no package lists yet
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], timeout=900)


def is_running() -> bool:
    return succeeds(["lxd", "waitready", "--timeout", "1"], timeout=10)


def ensure_daemon(log_file: pathlib.Path) -> None:
    """Start lxd in the background when it does not answer (no systemd on the host), then wait until ready."""
    if is_running():
        return
    with step(f"starting lxd (log {log_file})"):
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            subprocess.Popen(
                ["lxd", "--group", "root", "--logfile", str(log_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        run(["lxd", "waitready", "--timeout", "30"], timeout=40)


def ensure_network() -> None:
    if not succeeds(["lxc", "network", "show", plan.BRIDGE]):
        with step(f"creating bridge {plan.BRIDGE} ({NETWORK_CONFIG['ipv4.address']}, no NAT, no DHCP)"):
            run(["lxc", "network", "create", plan.BRIDGE, *_pairs(NETWORK_CONFIG)])
        return
    for key, value in NETWORK_CONFIG.items():
        if run(["lxc", "network", "get", plan.BRIDGE, key]).strip() != value:
            run(["lxc", "network", "set", plan.BRIDGE, key, value])


def ensure_forwarding_guard() -> None:
    """The nodes' default route points at the host: make sure the host forwards nothing into or out of the lab."""
    run(["nft", "-f", "-"], stdin=FORWARDING_GUARD)


def ensure_pool() -> None:
    if not succeeds(["lxc", "storage", "show", plan.POOL]):
        run(["lxc", "storage", "create", plan.POOL, "dir"])


def ensure_profile() -> None:
    if not succeeds(["lxc", "profile", "show", plan.PROFILE]):
        run(["lxc", "profile", "create", plan.PROFILE])
    shown = json.loads(run(["lxc", "query", f"/1.0/profiles/{plan.PROFILE}"]))
    for key, value in PROFILE_CONFIG.items():
        if shown["config"].get(key) != value:
            run(["lxc", "profile", "set", plan.PROFILE, key, value])
    for name, spec in PROFILE_DEVICES.items():
        if name not in shown["devices"]:
            run(["lxc", "profile", "device", "add", plan.PROFILE, name, *spec])
    say(f"profile {plan.PROFILE}: privileged, nesting, root on {plan.POOL}, eth0 on {plan.BRIDGE}")


def image_by_alias(alias: str) -> dict | None:
    for image in json.loads(run(["lxc", "image", "list", "--format", "json"])):
        if any(entry["name"] == alias for entry in image.get("aliases") or []):
            return image
    return None


def lab_containers() -> list[dict]:
    """Every container that uses the lab's profile, with its state (lxc list's JSON entries)."""
    listing = json.loads(run(["lxc", "list", "--format", "json"]))
    return [entry for entry in listing if plan.PROFILE in entry.get("profiles", [])]


def ipv4_addresses(container: dict) -> list[str]:
    eth0 = ((container.get("state") or {}).get("network") or {}).get("eth0", {})
    return [entry["address"] for entry in eth0.get("addresses", []) if entry["family"] == "inet"]


def teardown() -> None:
    """Remove what the lab made: containers, image, profile, bridge, pool (each only if present), forwarding guard."""
    if is_running():
        _delete_lxd_objects()
    else:
        say("lxd is not running: nothing to remove in LXD")
    run(["nft", "delete", "table", "inet", NFT_TABLE], check=False)


def _delete_lxd_objects() -> None:
    names = [container["name"] for container in lab_containers()]
    with step(f"deleting containers {' '.join(names) or '(none)'}"), concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: run(["lxc", "delete", "--force", name], timeout=180), names))
    image = image_by_alias(plan.IMAGE_ALIAS)
    if image:
        run(["lxc", "image", "delete", image["fingerprint"]])
    for kind, name in (("profile", plan.PROFILE), ("network", plan.BRIDGE), ("storage", plan.POOL)):
        if succeeds(["lxc", kind, "show", name]):
            with step(f"deleting {kind} {name}"):
                run(["lxc", kind, "delete", name], timeout=120)


def _pairs(config: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in config.items()]
