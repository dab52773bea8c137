#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""The onprem.microk8s lab: LXD containers with real snapd and the microk8s test double, in one command.

lab.py up [--nodes N] [--masters M | --workers W] [--profile 1.28]   bring the lab up (safe to re-run)
          [--inference]                                              ... with the inference service on in site.yml
lab.py down [--purge]                                                remove everything the lab made in LXD
lab.py status                                                        the lab's containers and addresses
lab.py exec NODE -- CMD...                                           run a command in a container
lab.py facts NODE [--hugepages N] [--module NAME]...                 a node's HugePages / loaded modules
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys

from images import build as images_build
from labkit import access, acme_lab, core_snap, double, facts, image, lxd, nodes, offload, plan, real
from labkit.shell import LabError, run, say, step

LAB_DIR = pathlib.Path(__file__).resolve().parent
REPO = LAB_DIR.parents[1]
BUILD_DIR = LAB_DIR / ".build"
INVENTORY_DIR = REPO / "inventories" / "lab"
KEY = INVENTORY_DIR / ".ssh" / "id_ed25519"
KNOWN_HOSTS = INVENTORY_DIR / ".ssh" / "known_hosts"
LXD_LOG = pathlib.Path("/var/log/lxd/lxd.log")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lab.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="create or start the lab and write inventories/lab/hosts.yml")
    up.add_argument("--nodes", type=int, default=4, help=f"cluster nodes node1..nodeN (1-{plan.MAX_NODES}, default 4)")
    up.add_argument("--masters", type=int, help="how many nodes are masters, the first ones (default: all)")
    up.add_argument("--workers", type=int, help="how many nodes are workers, the last ones (default: the rest)")
    up.add_argument("--profile", default="1.28", help="microk8s version profile of the double (default 1.28)")
    up.add_argument("--backend", choices=("double", "real"), default="double", help="see tests/lab/README.md")
    up.add_argument(
        "--inference",
        action="store_true",
        default=os.environ.get("LAB_INFERENCE", "") == "1",
        help="build the inference server image, train the digits v1 model and enable the inference service in the\n"
        "inventory, so site.yml deploys it (make lab; default: LAB_INFERENCE=1)",
    )
    down = commands.add_parser("down", help="delete the lab's containers, image, profile, bridge and pool")
    down.add_argument("--purge", action="store_true", help="also delete the image and snap build caches")
    commands.add_parser("status", help="list the lab's containers")
    execute = commands.add_parser("exec", help="run a command in a lab container: exec NODE -- CMD...")
    execute.add_argument("node")
    execute.add_argument("cmd", nargs=argparse.REMAINDER)
    node_facts = commands.add_parser("facts", help="give a node HugePages / loaded modules (labkit/facts.py)")
    node_facts.add_argument("node")
    node_facts.add_argument("--hugepages", type=int, help="HugePages_Total (2 MiB pages) the node reports")
    node_facts.add_argument("--module", action="append", default=[], help="a module lsmod lists (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "facts" and args.hugepages is None and not args.module:
        parser.error("facts needs --hugepages and/or --module")
    if args.command == "up":
        try:
            args.machines = plan.machines(args.nodes, args.masters, args.workers)
        except ValueError as exc:
            parser.error(str(exc))
    if args.command == "exec":
        args.cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not args.cmd:
            parser.error("exec needs a command: exec NODE -- CMD...")
    return args


def up(args: argparse.Namespace) -> None:
    if args.backend == "real":
        raise LabError(real.NOT_HERE)
    with step("host: packages, lxd daemon, bridge, pool, profile"):
        lxd.ensure_host_packages()
        lxd.ensure_daemon(LXD_LOG)
        lxd.ensure_network()
        lxd.ensure_forwarding_guard()
        lxd.ensure_pool()
        lxd.ensure_profile()
    rootfs_tar = image.ensure(BUILD_DIR / "image")
    with step("building the hello app image offline (hello:local)"):
        app_image = images_build.build(rootfs_tar, BUILD_DIR / "images", "hello:local")
    inference = None
    if args.inference:
        with step("the inference service's inputs: its server image (offline) and the digits v1 model"):
            inference = offload.prepare(rootfs_tar)
    with step(f"building the microk8s double, profile {args.profile}"):
        kit = Payload(
            public_key=access.ensure_key(KEY),
            snaps=double.build_snaps(args.profile, BUILD_DIR / "snaps" / args.profile),
            core=core_snap.build(BUILD_DIR / "snaps"),
            settings=double.settings(),
        )
    existing = {container["name"]: container["status"] for container in lxd.lab_containers()}
    with step(f"{len(args.machines)} containers up and reachable by SSH"):
        _in_parallel(lambda machine: _prepare(machine, existing.get(machine.name), kit), args)
    for extra in sorted(set(existing) - {machine.name for machine in args.machines}):
        say(f"note: {extra} is not in this plan and was left as it is (lab.py down removes it)")
    inventory = access.render_inventory(
        args.machines, KEY, KNOWN_HOSTS, kit.snaps, args.profile, app_image, inference=inference
    )
    (INVENTORY_DIR / "hosts.yml").write_text(inventory)
    say(f"inventory written: {INVENTORY_DIR / 'hosts.yml'}")


@dataclasses.dataclass(frozen=True)
class Payload:
    """What every container gets on each `up`."""

    public_key: str
    snaps: dict[str, pathlib.Path]
    core: pathlib.Path
    settings: str


def _prepare(machine: plan.Machine, state: str | None, kit: Payload) -> None:
    if state is None:
        nodes.forget_host_key(machine, KNOWN_HOSTS)
    nodes.ensure_running(machine, state)
    nodes.push_text(machine.name, "/root/.ssh/authorized_keys", kit.public_key, mode="0600")
    admin_keys = f"/home/{image.ADMIN_USER}/.ssh/authorized_keys"
    nodes.push_text(machine.name, admin_keys, kit.public_key, mode="0600", owner=image.ADMIN_UID)
    if machine.group != "clients":
        nodes.push_text(machine.name, double.SETTINGS_PATH, kit.settings)
        run(["lxc", "exec", machine.name, "--", "rm", "-rf", double.NODE_SNAP_DIR], timeout=60)
        for path in kit.snaps.values():
            nodes.push_file(machine.name, path, f"{double.NODE_SNAP_DIR}/{path.name}")
        core_snap.ensure_installed(machine.name, kit.core)
    else:  # the outside machine: an ACME server (pebble) and a DNS server taking RFC 2136 updates
        acme_lab.provision(machine.name, str(machine.address))
    nodes.wait_for_ssh(machine, KEY, KNOWN_HOSTS)


def _in_parallel(task, args: argparse.Namespace) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(args.machines)) as pool:
        futures = {pool.submit(task, machine): machine for machine in args.machines}
        errors = [f"{futures[f].name}: {f.exception()}" for f in futures if f.exception()]
    if errors:
        raise LabError("\n".join(errors))


def down(args: argparse.Namespace) -> None:
    if shutil.which("lxd"):  # after a reboot or a killed session the daemon is down but the containers are not gone
        lxd.ensure_daemon(LXD_LOG)
    lxd.teardown()
    (INVENTORY_DIR / "hosts.yml").unlink(missing_ok=True)
    KNOWN_HOSTS.unlink(missing_ok=True)
    if args.purge:
        shutil.rmtree(BUILD_DIR, ignore_errors=True)
        say(f"purged {BUILD_DIR}")


def status(_args: argparse.Namespace) -> None:
    containers = lxd.lab_containers() if lxd.is_running() else []
    for container in sorted(containers, key=lambda entry: entry["name"]):
        print(f"{container['name']:10} {container['status']:8} {' '.join(lxd.ipv4_addresses(container))}")
    if not containers:
        print("no lab containers")


def execute(args: argparse.Namespace) -> int:
    return subprocess.run(["lxc", "exec", args.node, "--", *args.cmd], check=False).returncode


def set_facts(args: argparse.Namespace) -> None:
    bound = facts.apply(args.node, args.hugepages, args.module)
    say(f"{args.node}: bound {', '.join(facts.PATHS[key] for key in bound)}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        with step(f"lab {args.command}") if args.command in ("up", "down") else contextlib.nullcontext():
            result = {"up": up, "down": down, "status": status, "exec": execute, "facts": set_facts}[args.command](args)
    except LabError as exc:
        print(f"lab {args.command} failed: {exc}", file=sys.stderr)
        return 1
    return result or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
