# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s <subcommand> ...`: the dispatcher of the real `microk8s.wrapper`."""

from __future__ import annotations

import importlib
import sys

from microk8s_double.commands.common import Exit, current

# subcommand -> (module under commands/, first minor that has it)
SUBCOMMANDS = {
    "add-node": ("add_node", 20),
    "addons": ("repos", 24),
    "config": ("config", 20),
    "ctr": ("passthrough", 20),
    "dbctl": ("dbctl", 20),
    "disable": ("xable", 20),
    "enable": ("xable", 20),
    "images": ("images", 25),
    "inspect": ("inspect", 20),
    "join": ("join", 20),
    "kubectl": ("passthrough", 20),
    "leave": ("leave", 20),
    "refresh-certs": ("refresh_certs", 20),
    "remove-node": ("leave", 20),
    "start": ("service", 20),
    "status": ("status", 20),
    "stop": ("service", 20),
    "version": ("version", 25),
}


def show_help(available: list[str]) -> None:
    print("Available subcommands are:")
    for name in available:
        print(f"\t{name}")


def main(argv: list[str]) -> int:
    ctx = current()
    available = [name for name, (_handler, since) in SUBCOMMANDS.items() if ctx.profile.since(since)]
    if not argv or argv[0] in ("-h", "--help", "help"):
        show_help(available)
        return 0
    if argv[0] not in available:
        print(f"'{argv[0]}' is not a valid MicroK8s subcommand.")
        show_help(available)
        return 1
    module = importlib.import_module(f"microk8s_double.commands.{SUBCOMMANDS[argv[0]][0]}")
    try:
        return module.run(ctx, argv[0], argv[1:])
    except Exit as leave:
        return leave.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
