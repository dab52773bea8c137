# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s images import [FILE|-]` and `images export-local [OUT|-] [IMAGE...]` (1.25+, contract section 7)."""

from __future__ import annotations

import os
import ssl
import sys

from microk8s_double import wire
from microk8s_double.commands import cluster
from microk8s_double.commands.add_node import agent_port
from microk8s_double.commands.common import Context, exit_if_no_permissions, exit_if_stopped, fail
from microk8s_double.commands.passthrough import ctr_argv

IMPORT_PATH = "/cluster/api/v2.0/image/import"


def import_images(ctx: Context, source: str) -> int:
    """Push the archive to every node's cluster agent; failures are printed, the exit code stays 0."""
    data = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()  # noqa: SIM115
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for node in cluster.nodes(ctx):
        endpoint = f"{node['internal_ip']}:{agent_port(ctx)}"
        print(f"Pushing OCI images to {endpoint}")
        try:
            wire.call(node["internal_ip"], agent_port(ctx), "POST", IMPORT_PATH, data, timeout=300, context=context)
        except wire.RemoteError as error:
            print(f"Failed to import images on {endpoint}: {error.message}", file=sys.stderr)
        except OSError as error:
            print(f"Failed to reach {endpoint}: {error}", file=sys.stderr)
    return 0


def run(ctx: Context, command: str, args: list[str]) -> int:
    exit_if_no_permissions(ctx)
    exit_if_stopped(ctx)
    if not args or args[0] not in ("import", "export-local"):
        fail("Usage: microk8s images [import|export-local] ...")
    if args[0] == "import":
        return import_images(ctx, args[1] if len(args) > 1 else "-")
    out = args[1] if len(args) > 1 else "-"
    argv = ctr_argv(ctx, ["images", "export", out, *args[2:]])
    os.execv(argv[0], argv)
    return 1
