# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of the api_vip role: the address checks before anything changes, and the csr.conf.template line."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.onprem.microk8s.plugins.filter.cluster_checks import _parse_pool

_IP_LINE = re.compile(r"^IP\.(\d+)\s*=\s*(\S+)\s*$", re.MULTILINE)


def api_vip_problems(vip, subnet, node_addresses=(), gateway=None, metallb_range=""):
    """Problems with the API's virtual IP: not an address, outside the nodes' subnet, taken, or in MetalLB's pool."""
    try:
        address = ipaddress.ip_address(str(vip).strip())
    except ValueError:
        return ["onprem_api_vip %r is not an IP address" % (vip,)]
    try:
        network = ipaddress.ip_network(subnet, strict=False)
    except ValueError as exc:
        return ["the nodes' subnet %r is not a network: %s" % (subnet, exc)]
    problems = []
    if address not in network:
        problems.append("onprem_api_vip %s is not inside the nodes' subnet %s" % (address, network))
    elif network.num_addresses > 2 and address in (network.network_address, network.broadcast_address):
        problems.append("onprem_api_vip %s is the subnet's network or broadcast address" % address)
    taken = {str(a): "a node's address" for a in node_addresses if a}
    if gateway:
        taken[str(gateway)] = "the gateway"
    if str(address) in taken:
        problems.append("onprem_api_vip %s is %s" % (address, taken[str(address)]))
    for item in [p for p in str(metallb_range or "").split(",") if p.strip()]:
        try:
            first, last = _parse_pool(item)
        except ValueError:
            continue  # the MetalLB range check reports it
        if first.version == address.version and first <= address <= last:
            problems.append("onprem_api_vip %s is inside the MetalLB range %s" % (address, item.strip()))
    return problems


def csr_ip_line(template, vip):
    """The `IP.<n> = <vip>` line for MicroK8s' csr.conf.template: the id it already has, else the next free one."""
    used = {}
    for number, value in _IP_LINE.findall(str(template)):
        used.setdefault(value, int(number))
    if vip in used:
        return "IP.%d = %s" % (used[vip], vip)
    return "IP.%d = %s" % (max([2, *used.values()]) + 1, vip)


class FilterModule:
    def filters(self):
        return {"api_vip_problems": api_vip_problems, "csr_ip_line": csr_ip_line}
