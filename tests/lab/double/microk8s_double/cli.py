# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s <subcommand> ...`: the dispatcher of the real `microk8s.wrapper`."""

from __future__ import annotations

import importlib
import sys

from microk8s_double.commands.common import Exit, current

# subcommand -> (module under commands/, first minor, last minor): the `microk8s-<name>.wrapper` files of each
# release branch (canonical/microk8s microk8s-resources/wrappers/) plus `inspect`, the one the dispatcher runs itself.
SUBCOMMANDS = {
    "add-node": ("add_node", 20, 99),
    "addons": ("repos", 24, 99),
    "cilium": ("unmodelled", 20, 27),
    "config": ("config", 20, 99),
    "ctr": ("passthrough", 20, 99),
    "dashboard-proxy": ("unmodelled", 20, 99),
    "dbctl": ("dbctl", 20, 99),
    "disable": ("xable", 20, 99),
    "enable": ("xable", 20, 99),
    "helm": ("unmodelled", 20, 99),
    "helm3": ("unmodelled", 20, 99),
    "images": ("images", 25, 99),
    "istioctl": ("unmodelled", 20, 99),
    "join": ("join", 20, 99),
    "juju": ("unmodelled", 20, 23),
    "kubectl": ("passthrough", 20, 99),
    "leave": ("leave", 20, 99),
    "linkerd": ("unmodelled", 20, 99),
    "refresh-certs": ("refresh_certs", 20, 99),
    "remove-node": ("leave", 20, 99),
    "reset": ("unmodelled", 20, 99),
    "start": ("service", 20, 99),
    "status": ("status", 20, 99),
    "stop": ("service", 20, 99),
    "version": ("version", 25, 99),
    "inspect": ("inspect", 20, 99),
}


def available(minor: int) -> list[str]:
    """The subcommands of one version, in the order the real help lists them (wrapper files, then inspect)."""
    return [name for name, (_module, first, last) in SUBCOMMANDS.items() if first <= minor <= last]


def show_help(names: list[str]) -> None:
    print("Available subcommands are:")
    for name in names:
        print(f"\t{name}")


def main(argv: list[str]) -> int:
    ctx = current()
    names = available(ctx.profile.minor)
    if not argv:
        show_help(names)
        return 1
    if argv[0] in ("-h", "--help", "help"):
        show_help(names)
        return 0
    if argv[0] not in names:
        print(f"'{argv[0]}' is not a valid MicroK8s subcommand.")
        show_help(names)
        return 1
    module = importlib.import_module(f"microk8s_double.commands.{SUBCOMMANDS[argv[0]][0]}")
    try:
        return module.run(ctx, argv[0], argv[1:])
    except Exit as leave:
        return leave.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
