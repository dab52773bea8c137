# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s config [-l|--use-loopback]`: the admin kubeconfig, 127.0.0.1 replaced by the node's address."""

from __future__ import annotations

from microk8s_double.commands.common import Context, exit_if_no_permissions, exit_if_worker, fail


def run(ctx: Context, command: str, args: list[str]) -> int:
    exit_if_worker(ctx, " Please use microk8s config on the master.", 0)
    exit_if_no_permissions(ctx)
    unknown = [arg for arg in args if arg not in ("-l", "--use-loopback")]
    if unknown:
        fail(f"microk8s config: invalid option -- {unknown[0].lstrip('-')}")
    text = ctx.paths.credentials("client.config").read_text()
    print(text if args else text.replace("127.0.0.1", ctx.ip))
    return 0
