# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommands the real snap has but the double does not model (helm, reset, refresh-certs ...).

Each runs its real wrapper's guards (canonical/microk8s `microk8s-resources/wrappers/microk8s-<name>.wrapper`, 1.28)
with their real texts, so `microk8s istioctl` on a node without the istio addon answers as the real one does; where
the real wrapper would go on to run a tool the double does not ship, it says so on stderr and exits 1 instead of
pretending.
"""

from __future__ import annotations

import sys

from microk8s_double.commands.common import NODE_IN_CLUSTER, Context, exit_if_no_permissions, exit_if_stopped

# name -> (tool under $SNAP_DATA/bin the addon installs, text when it is missing, to stderr?)
ADDON_TOOLS = {
    "istioctl": ("istioctl", "Istio not available, try enabling is with 'microk8s enable istio'", False),
    "linkerd": (
        "linkerd",
        "Linkerd not available, try enabling Linkerd. 'microk8s enable linkerd' or "
        "'microk8s enable linkerd:--proxy-auto-inject' ",
        False,
    ),
    "cilium": ("cilium", "Cilium not available, try enabling it with 'microk8s enable cilium'", True),
}
# name -> the tool a worker is pointed at on the control plane (clustered.lock: message, rc 0)
ON_THE_MASTER = {"helm": "helm", "helm3": "helm", "istioctl": "istioctl", "linkerd": "linkerd"}
REFRESH_CERTS_ON_WORKER = (
    f"{NODE_IN_CLUSTER} Please use the microk8s refresh-certs command on the master\n"
    "and then return to this node to perform a microk8s leave and re-join."
)


def not_modelled(command: str) -> int:
    print(f"microk8s test double: `microk8s {command}` is not modelled by the double.", file=sys.stderr)
    return 1


def run(ctx: Context, command: str, args: list[str]) -> int:
    tool = ADDON_TOOLS.get(command)
    if tool and command == "cilium" and not (ctx.paths.snap_data / "bin" / tool[0]).exists():
        print(tool[1], file=sys.stderr)
        return 0
    if command == "linkerd" and ctx.worker:  # linkerd checks the lock before the tool, istioctl after
        print(f"{NODE_IN_CLUSTER} Please use the microk8s linkerd on the master.")
        return 0
    if tool and not (ctx.paths.snap_data / "bin" / tool[0]).exists():
        print(tool[1], file=sys.stderr if tool[2] else sys.stdout)
        return 0
    if command in ON_THE_MASTER and ctx.worker:
        print(f"{NODE_IN_CLUSTER} Please use the microk8s {ON_THE_MASTER[command]} on the master.")
        return 0
    if command == "refresh-certs" and ctx.worker:
        print(REFRESH_CERTS_ON_WORKER)
        return 0
    if command == "dashboard-proxy":
        exit_if_no_permissions(ctx)
    if command in ("helm", "helm3", "juju", "istioctl", "linkerd", "cilium"):
        exit_if_stopped(ctx)
    return not_modelled(command)
