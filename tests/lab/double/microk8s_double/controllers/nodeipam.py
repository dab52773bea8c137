# SPDX-License-Identifier: GPL-3.0-or-later
"""The node IPAM controller: each Node gets a /24 of the cluster CIDR 10.1.0.0/16 in `spec.podCIDR` (the lowest
free one, oldest node first), which the pod network routes between nodes."""

from __future__ import annotations

import ipaddress

CLUSTER_CIDR = ipaddress.ip_network("10.1.0.0/16")


def assignments(nodes: list[dict]) -> dict[str, str]:
    """node name -> the /24 to give it, for nodes that have none yet."""
    used = {n.get("spec", {}).get("podCIDR") for n in nodes}
    free = (str(net) for net in CLUSTER_CIDR.subnets(new_prefix=24) if str(net) not in used)
    waiting = sorted(
        (n for n in nodes if not n.get("spec", {}).get("podCIDR")),
        key=lambda n: (n["metadata"].get("creationTimestamp", ""), n["metadata"]["name"]),
    )
    return {n["metadata"]["name"]: next(free) for n in waiting}


def sync(client) -> None:
    for name, cidr in assignments(client.list("nodes")).items():
        client.patch("nodes", name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
