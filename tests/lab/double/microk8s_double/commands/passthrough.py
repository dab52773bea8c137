# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s kubectl ARGS` and `microk8s ctr ARGS`: kubectl on the snap's kubeconfig, and the snap's own
`$SNAP/bin/ctr` on the snap's containerd socket (the real wrapper runs `${SNAP}/bin/ctr`, never the host's)."""

from __future__ import annotations

import os

from microk8s_double.commands.common import Context, exit_if_no_permissions, exit_if_stopped, exit_if_worker

KUBECTL = "/usr/bin/kubectl"


def kubectl_argv(ctx: Context, args: list[str]) -> list[str]:
    extra = ctx.paths.args("kubectl").read_text().split() if ctx.paths.args("kubectl").exists() else []
    return [KUBECTL, f"--kubeconfig={ctx.paths.credentials('client.config')}", *extra, *args]


def ctr_argv(ctx: Context, args: list[str]) -> list[str]:
    client = str(ctx.paths.snap / "bin" / "ctr")
    return [client, f"--address={ctx.paths.containerd_socket}", "--namespace", "k8s.io", *args]


def run(ctx: Context, command: str, args: list[str]) -> int:
    if command == "ctr":
        exit_if_no_permissions(ctx)
        argv = ctr_argv(ctx, args)
    else:
        if not any(arg.startswith("--kubeconfig") for arg in args):
            exit_if_no_permissions(ctx)
        exit_if_stopped(ctx)
        exit_if_worker(ctx, " Please use the microk8s kubectl on the master.", 0)
        argv = kubectl_argv(ctx, args)
    os.execv(argv[0], argv)
    return 1
