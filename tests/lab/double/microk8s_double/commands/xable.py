# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s enable|disable ADDON...` (contract section 4: `enable.py`/`disable.py` and `xable()`)."""

from __future__ import annotations

import fcntl
import os
import sys

from microk8s_double import addons, datastore
from microk8s_double.commands import addon_scripts
from microk8s_double.commands.common import (
    NOT_RUNNING,
    Context,
    Exit,
    exit_if_no_permissions,
    exit_if_worker,
    fail,
)

# stdout, after `Addon X was not found in any repository` (stderr), only when X is one of the community addons
# the snap bundles ($SNAP/addons/community/addons.yaml, `is_community_addon`).
COMMUNITY_HINT = (
    "To use the community maintained flavor enable the respective repository:\n\n    microk8s enable community\n"
)
MULTIPLE_WARNING = (
    "WARNING: Do not enable or disable multiple addons in one command.\n"
    "         This form of chained operations on addons will be DEPRECATED in the future.\n"
    "         Please, {action} one addon at a time: 'microk8s {action} <addon>'"
)


def run(ctx: Context, action: str, args: list[str]) -> int:
    if not args:
        fail(
            f"Usage: microk8s {action} [OPTIONS] ADDONS...\nTry 'microk8s {action} -h' for help.\n\n"
            "Error: Missing argument 'ADDONS...'.",
            2,
        )
    if "-h" in args or "--help" in args:
        print(f"Addon {args[0]} does not yet have a help message.")
        print("For more information about it, visit https://microk8s.io/docs/addons")
        return 0
    exit_if_worker(ctx, "\nPlease use the master node.")
    exit_if_no_permissions(ctx)
    if ctx.stopped:
        fail(NOT_RUNNING)
    if not ctx.profile.since(27) or os.environ.get("MICROK8S_ADDONS_SKIP_LOCK") == "1":
        return xable(ctx, action, args)
    ctx.paths.lock(".microk8s-addon-lock").parent.mkdir(parents=True, exist_ok=True)
    with ctx.paths.lock(".microk8s-addon-lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return xable(ctx, action, args)


def split(ctx: Context, action: str, args: list[str], known: set[str]) -> list[tuple[str, list[str]]]:
    """Several known addons (`a b:x`), or one addon with colon arguments or with flag arguments, never both."""
    if len(args) > 1 and all(arg.split(":")[0] in known for arg in args):
        return [(arg.split(":")[0], arg.split(":")[1:]) for arg in args]
    name, *colon_args = args[0].split(":")
    if colon_args and len(args) > 1:
        if ctx.profile.since(24):
            style, example = "Enable or disable addons", "enable"
        else:
            style, example = f"{action.title()} an addon", action
        fail(
            f"Can't pass string arguments and flag arguments simultaneously!\n{style} with only one argument style at "
            f"a time:\n\n    microk8s {example} foo:'bar'\nor\n    microk8s {example} foo --bar\n",
            err=False,
        )
    return [(name, colon_args + args[1:])]


def xable(ctx: Context, action: str, args: list[str]) -> int:
    """1.24+ `unprotected_xable`: every name is resolved first (`Infer repository ...`), then the warning about
    several addons (1.27+), then each addon in turn; 1.20-1.23 run the built-in actions scripts."""
    catalog = addons.catalog(ctx.paths, ctx.profile)
    known = {addon.name for addon in catalog} | {addon.full_name for addon in catalog}
    requests = split(ctx, action, args, known)
    if ctx.profile.since(24):
        requests = [(qualify(ctx, name, catalog), addon_args) for name, addon_args in requests]
    if len(requests) > 1 and ctx.profile.since(27):
        print(MULTIPLE_WARNING.format(action=action))
    for name, addon_args in requests:
        if ctx.profile.since(24):
            addon = next((addon for addon in catalog if addon.full_name == name), None)
            if addon is None:
                print(f"Addon {name} not found")
                continue
        else:
            addon = resolve_builtin(name, catalog)
        code = xable_one(ctx, action, addon, addon_args)
        if code:
            return code
    return 0


def qualify(ctx: Context, name: str, catalog: list[addons.Addon]) -> str:
    """1.24+ `parse_xable_single_arg`: `repo/name` as given, or a bare name inferred from the one repository that
    has it."""
    if name.count("/") > 1:
        fail(f"Invalid addon name {name}", err=False)
    if "/" in name:
        return name
    match = [addon for addon in catalog if addon.name == name]
    if not match:
        print(f"Addon {name} was not found in any repository", file=sys.stderr)
        if name in addons.community(ctx.profile.minor):
            print(COMMUNITY_HINT)
        raise Exit(1)
    if len(match) > 1:
        print(
            f"Addon {name} exists in more than repository. Please explicitly specify\nthe repository using any of:\n",
            file=sys.stderr,
        )
        for addon in match:
            print(f"    {addon.full_name}", file=sys.stderr)
        print("", file=sys.stderr)
        raise Exit(1)
    print(f"Infer repository {match[0].repository} for addon {name}", file=sys.stderr)
    return match[0].full_name


def resolve_builtin(name: str, catalog: list[addons.Addon]) -> addons.Addon:
    """1.20-1.23: one built-in set of actions scripts."""
    match = [addon for addon in catalog if addon.name == name]
    if not match:
        fail(f"Nothing to do for `{name}`.")
    return match[0]


def xable_one(ctx: Context, action: str, addon: addons.Addon, args: list[str]) -> int:
    wanted = action == "enable"
    try:
        enabled = addons.is_enabled(ctx, addon, addons.enabled_set(ctx))
    except datastore.DatastoreError:
        enabled = not wanted  # the real check reads a failed kubectl call as "not in that state yet"
    if enabled == wanted:
        if ctx.profile.since(24):
            print(f"Addon {addon.full_name} is already {action}d")
        else:
            print(f"Addon {addon.name} is already {action}d.")
        return 0
    code = addon_scripts.run(ctx, action, addon, args)
    return code if ctx.profile.since(21) else 0
