# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s leave` and `microk8s remove-node NODE [--force]` (contract section 7); the work is D2's datastore."""

from __future__ import annotations

from microk8s_double import datastore
from microk8s_double.commands.common import Context, exit_if_no_permissions, exit_if_stopped, exit_if_worker, fail

NOT_CLUSTERED = "This MicroK8s deployment is not acting as a node in a cluster."


def clustered(ctx: Context) -> bool:
    """1.28+ needs the no-cert-reissue lock a join leaves; before, any dqlite node counts (a lone node is wiped)."""
    member = ctx.worker or ctx.paths.backend.exists()
    return member and (ctx.paths.lock("no-cert-reissue").exists() or not ctx.profile.since(28))


def leave(ctx: Context, args: list[str]) -> int:
    if args and not ctx.profile.since(21):
        fail("This command will remove the node from the cluster. No arguments are needed.", err=False)
    exit_if_no_permissions(ctx)
    exit_if_stopped(ctx)
    if not clustered(ctx):
        fail(NOT_CLUSTERED, err=False)
    worker = ctx.worker
    code, text = datastore.leave(ctx)
    if code:
        fail(text, code, err=False)
    if worker:
        print("Configuring services.")
    print("Generating new cluster certificates.")
    if not worker:
        print("Waiting for node to start. . .")
    return 0


def remove_node(ctx: Context, args: list[str]) -> int:
    exit_if_worker(ctx, "\nPlease use microk8s leave.")
    exit_if_no_permissions(ctx)
    exit_if_stopped(ctx)
    if not args:
        fail("Please provide the node you want to remove.", err=False)
    if len(args) > 2 or (len(args) == 2 and args[1] != "--force"):
        fail("Please provide the node and the optional --force flag.", err=False)
    code, text = datastore.remove_node(ctx, args[0], args[1:] == ["--force"])
    if text:
        print(text)
    return code


def run(ctx: Context, command: str, args: list[str]) -> int:
    return leave(ctx, args) if command == "leave" else remove_node(ctx, args)
