# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s status` (contract section 3)."""

from __future__ import annotations

import argparse

from microk8s_double import addons
from microk8s_double.commands import cluster
from microk8s_double.commands.common import NODE_IN_CLUSTER, Context, exit_if_no_permissions, fail

NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection."
LOW_MEMORY = (
    "This node does not have enough RAM to host the Kubernetes control plane services\n"
    "and has been configured as a worker node. Use 'microk8s start --disable-low-memory-guard' to override."
)


def parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Microk8s cluster status check.", prog="microk8s status")
    parser.add_argument("--format", default="pretty", choices={"pretty", "yaml", "short"})
    parser.add_argument("-w", "--wait-ready", action="store_true", help="wait until the cluster is in ready state")
    parser.add_argument("-t", "--timeout", type=int, default=0, help="specify a timeout in seconds when waiting")
    parser.add_argument("-a", "--addon", default="all", help="check the status of a specific addon")
    parser.add_argument("--yaml", action="store_true", help="DEPRECATED, use '--format yaml' instead")
    return parser.parse_args(args)


def run(ctx: Context, command: str, args: list[str]) -> int:
    options = parse(args)
    exit_if_no_permissions(ctx)
    if ctx.worker and ctx.profile.since(24):
        fail(f"{NODE_IN_CLUSTER}\nPlease use the control plane node.", 0, err=False)
    if ctx.profile.since(24) and ctx.paths.lock("low-memory-guard.lock").exists():
        fail(LOW_MEMORY, err=False)
    if ctx.stopped:
        fail("microk8s is not running, try microk8s start", 0, err=False)
    if ctx.worker:
        fail(f"{NODE_IN_CLUSTER}\nPlease use the master node.", err=False)
    is_ready = cluster.wait_ready(ctx, options.timeout) if options.wait_ready else cluster.ready(ctx)
    states = addon_states(ctx) if is_ready else []
    if options.addon != "all":
        matches = [on for addon, on in states if options.addon in (addon.name, addon.full_name)]
        print("enabled" if is_ready and any(matches) else "disabled")
    elif options.yaml:
        print_short_yaml(ctx, is_ready, states)
    elif options.format == "yaml":
        print_yaml(ctx, is_ready, states)
    elif options.format == "short":
        print_short(ctx, is_ready, states)
    else:
        print_pretty(ctx, is_ready, states)
    return 1 if ctx.profile.since(28) and not is_ready else 0


def addon_states(ctx: Context) -> list[tuple[addons.Addon, bool]]:
    """(addon, enabled), the enabled ones first, as `get_status` sorts them."""
    try:
        enabled = addons.enabled_set(ctx)
    except cluster.UNREACHABLE:
        return []
    states = [(addon, addons.is_enabled(ctx, addon, enabled)) for addon in addons.catalog(ctx.paths, ctx.profile)]
    return [state for state in states if state[1]] + [state for state in states if not state[1]]


def label(ctx: Context, addon: addons.Addon) -> str:
    return addon.full_name if ctx.profile.since(24) else addon.name


def print_pretty(ctx: Context, is_ready: bool, states: list) -> None:
    if not is_ready:
        print(NOT_RUNNING)
        return
    print("microk8s is running")
    if not ctx.paths.lock("ha-cluster").exists():
        print("high-availability: no")
    else:
        members = cluster.datastore_nodes(ctx)
        print(f"high-availability: {'yes' if cluster.ha_formed(members) else 'no'}")
        for title, role in (("datastore master nodes:", "voter"), ("datastore standby nodes:", "standby")):
            addresses = [member["address"] for member in members if member["role"] == role]
            print(f"  {title} {' '.join(addresses) or 'none'}")
    print("addons:")
    for title, wanted in (("enabled:", True), ("disabled:", False)):
        group = [addon for addon, on in states if on == wanted]
        if group:
            print(f"  {title}")
        for addon in group:
            repository = f"({addon.repository}) " if ctx.profile.since(24) else ""
            print("{:>3} {:<20} # {}{}".format("", addon.name, repository, addon.description))


def print_short(ctx: Context, is_ready: bool, states: list) -> None:
    if not is_ready:
        print(NOT_RUNNING)
        return
    print("microk8s is running")
    print("addons:")
    for addon, on in states:
        print(f"{label(ctx, addon)}: {'enabled' if on else 'disabled'}")


def print_yaml(ctx: Context, is_ready: bool, states: list) -> None:
    print("microk8s:")
    print(f"  running: {is_ready}")
    print("high-availability:")
    # `enabled` is the ha-cluster addon (its lock file), not a formed HA cluster: a lone node lists itself.
    enabled = ctx.paths.lock("ha-cluster").exists()
    print(f"  enabled: {enabled}")
    if enabled:
        print("  nodes:")
        for member in cluster.datastore_nodes(ctx):
            print(f"    - address: {member['address']}")
            print(f"      role: {member['role']}")
    if not is_ready:
        print(f"  message: {NOT_RUNNING}")
        return
    print("addons:")
    for addon, on in states:
        print(f"  - name: {addon.name}")
        if ctx.profile.since(24):
            print(f"    repository: {addon.repository}")
        print(f"    description: {addon.description}")
        print(f"    version: {addon.version}")
        print(f"    status: {'enabled' if on else 'disabled'}")


def print_short_yaml(ctx: Context, is_ready: bool, states: list) -> None:
    print("microk8s:")
    print(f"  running: {is_ready}")
    if not is_ready:
        print(f"  message: {NOT_RUNNING}")
        return
    print("addons:")
    for addon, on in states:
        print(f"  {label(ctx, addon)}: {'enabled' if on else 'disabled'}")
