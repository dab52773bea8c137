# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure checks the roles run before they change anything (preflight)."""

from __future__ import annotations

import ipaddress
import re

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _parse_pool(item):
    """`10.0.0.10-10.0.0.20` or `10.0.0.16/28` -> (first, last) addresses."""
    item = item.strip()
    if "-" in item:
        first, last = (ipaddress.ip_address(part.strip()) for part in item.split("-", 1))
    else:
        network = ipaddress.ip_network(item, strict=False)
        first, last = network[0], network[-1]
    if first.version != last.version or first > last:
        raise ValueError("%s: the first address must come before the last" % item)
    return first, last


def metallb_range_problems(pools, subnet, node_addresses=(), gateway=None):
    """Problems with a MetalLB range: unparsable, outside the nodes' subnet, or overlapping nodes or the gateway."""
    problems = []
    try:
        network = ipaddress.ip_network(subnet, strict=False)
    except ValueError as exc:
        return ["the nodes' subnet %r is not a network: %s" % (subnet, exc)]
    taken = {str(a): "node address" for a in node_addresses if a}
    if gateway:
        taken[str(gateway)] = "gateway"
    for item in [p for p in str(pools or "").split(",") if p.strip()] or [""]:
        try:
            first, last = _parse_pool(item)
        except ValueError as exc:
            problems.append("MetalLB range %r is not FIRST-LAST or a CIDR: %s" % (item, exc))
            continue
        if first not in network or last not in network:
            problems.append("MetalLB range %s is not inside the nodes' subnet %s" % (item.strip(), network))
        for address, what in sorted(taken.items()):
            if first <= ipaddress.ip_address(address) <= last:
                problems.append("MetalLB range %s contains the %s %s" % (item.strip(), what, address))
    return problems


def hostname_problems(names):
    """Problems with node names: upper case, not a DNS label, or used twice."""
    problems = []
    seen = {}
    for name in names:
        if name != name.lower():
            problems.append("hostname %s has upper-case letters: Kubernetes node names must be lower case" % name)
        elif not _HOSTNAME.match(name.split(".", 1)[0]):
            problems.append("hostname %s is not a valid DNS label (a-z, 0-9, '-')" % name)
        if name.lower() in seen:
            problems.append("hostname %s is used by more than one node" % name)
        seen[name.lower()] = True
    return problems


class FilterModule:
    def filters(self):
        return {"metallb_range_problems": metallb_range_problems, "hostname_problems": hostname_problems}
