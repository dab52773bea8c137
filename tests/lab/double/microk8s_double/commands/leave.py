# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s leave` and `microk8s remove-node NODE [--force]` (contract section 7); the work is D2's datastore."""

from __future__ import annotations

import sys

from microk8s_double import datastore, kubelite
from microk8s_double.commands import cluster, setup
from microk8s_double.commands.common import (
    NOT_RUNNING,
    Context,
    exit_if_no_permissions,
    exit_if_stopped,
    exit_if_worker,
    fail,
    script_sleep,
)

NOT_CLUSTERED = "This MicroK8s deployment is not acting as a node in a cluster."


def clustered(ctx: Context) -> bool:
    """1.28+ needs the no-cert-reissue lock a join leaves; before, any dqlite node counts (a lone node is wiped)."""
    member = ctx.worker or ctx.paths.backend.exists()
    return member and (ctx.paths.lock("no-cert-reissue").exists() or not ctx.profile.since(28))


def leave(ctx: Context, args: list[str]) -> int:
    """The wrapper's guards, then leave.py (1.20-1.22 `join.py reset`): the node is reset to a fresh single node,
    whether it leaves a cluster or was alone (1.20-1.27 let a lone dqlite node through: its data is wiped)."""
    if not ctx.profile.since(23) and any("help" in arg for arg in args):
        print("Usage: microk8s leave\n\nWith microk8s leave the node will depart from the cluster it is in.")
        return 0
    exit_if_stopped(ctx)
    exit_if_no_permissions(ctx)
    if not clustered(ctx):
        fail(NOT_CLUSTERED, err=False)
    if args and not ctx.profile.since(23):
        fail("This command will remove the node from the cluster. No arguments are needed.", err=False)
    if args and args[0] not in ("-h", "--help"):
        fail(
            f"Usage: microk8s leave [OPTIONS]\nTry 'microk8s leave -h' for help.\n\n"
            f"Error: Got unexpected extra argument ({args[0]})",
            2,
        )
    if args:
        print("Usage: microk8s leave [OPTIONS]\n\n  The node will depart from the cluster it is in.\n")
        print("Options:\n  -h, --help  Show this message and exit.")
        return 0
    worker = ctx.worker
    code, text = datastore.leave(ctx)
    if code:
        fail(text, code, err=False)
    setup.restrict(ctx)
    if worker:
        print("Configuring services.")
    print("Generating new cluster certificates.")
    wait_for_node(ctx)
    return 0


def wait_for_node(ctx: Context) -> None:
    """leave.py `apply_cni`: `Waiting for node to start. `, sleep 10, then `. ` per try until the API server serves
    (at most 10 tries, 5 s apart), then ` ` and the newline."""
    print("Waiting for node to start.", end=" ", flush=True)
    script_sleep(ctx, 10)
    for _attempt in range(10):
        try:
            kubelite.list_nodes(ctx)
            break
        except cluster.UNREACHABLE:
            print(".", end=" ", flush=True)
            script_sleep(ctx, 5)
    print(" ")


def remove_node(ctx: Context, args: list[str]) -> int:
    """The wrapper's guards (no stopped check: the kubectl calls of remove_node.py fail instead), then the removal."""
    exit_if_no_permissions(ctx)
    exit_if_worker(ctx, " Please use microk8s leave.")
    if not args:
        fail("Please provide the node you want to remove.", err=False)
    ha = ctx.paths.lock("ha-cluster").exists()
    if ha and len(args) == 2 and args[1] != "--force":
        fail("Please provide the node and the optional --force flag.", err=False)
    force = "--force" in args[1:]
    if ctx.stopped:
        print(NOT_RUNNING, file=sys.stderr)  # the kubectl wrapper's guard
        print(f"Node {args[0]} does not exist in Kubernetes.")
        return 1
    code, text = datastore.remove_node(ctx, args[0], force)
    if text.startswith(f"Node {args[0]} does not exist in Kubernetes."):
        print(f'Error from server (NotFound): nodes "{args[0]}" not found', file=sys.stderr)
    if text:
        print(text)
    return code


def run(ctx: Context, command: str, args: list[str]) -> int:
    return leave(ctx, args) if command == "leave" else remove_node(ctx, args)
