# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few host facts the roles use, read the way ansible.builtin.setup's Linux collectors read them, so that a
node read (node_info) returns them without a setup run of its own (a module run on every node, about a second of a
no-op run of site.yml on 4 nodes): hostname, system and architecture (setup's platform collector), default_ipv4,
interfaces and all_ipv4_addresses (its network collector: `ip -4 route get 8.8.8.8`, then the addresses of
`ip addr`). Only the keys the roles read; setup's other keys (macaddress, mtu, ...) are left out.
"""

from __future__ import annotations

import ipaddress
import re

#: The address setup asks the kernel the route to (its LinuxNetwork.get_default_interfaces).
ROUTE_PROBE = "8.8.8.8"


def architecture(machine):
    """setup's `architecture`: the machine (`uname -m`), i386 for i386-i686."""
    return "i386" if re.match(r"^i[3456]86$", machine) else machine


def parse_route_get(text):
    """`ip -4 route get 8.8.8.8`: {interface, address, gateway} as setup reads them (the first line, which must start
    with the probed address; the words after dev, src and via). {} without a default route."""
    lines = text.splitlines()
    words = lines[0].split() if lines else []
    if not words or words[0] != ROUTE_PROBE:
        return {}
    route = {}
    for index in range(len(words) - 1):
        word, following = words[index], words[index + 1]
        if word == "dev":
            route["interface"] = following
        elif word == "src":
            route["address"] = following
        elif word == "via" and following != ROUTE_PROBE:
            route["gateway"] = following
    return route


def parse_ipv4_addresses(text):
    """`ip -o -4 addr show`: one {interface, address, prefix, netmask, network, broadcast, alias} per address, in the
    order printed (an alias is the label at the end of the address, e.g. eth0:1)."""
    entries = []
    for line in text.splitlines():
        words = line.split("\\")[0].split()
        if "inet" not in words or words.index("inet") + 1 >= len(words):
            continue
        interface = words[1].rstrip(":").split("@")[0]
        network = ipaddress.IPv4Interface(words[words.index("inet") + 1])
        broadcast = words[words.index("brd") + 1] if "brd" in words[:-1] else ""
        entries.append(
            {
                "interface": interface,
                "address": str(network.ip),
                "prefix": str(network.network.prefixlen),
                "netmask": str(network.netmask),
                "network": str(network.network.network_address),
                "broadcast": broadcast,
                "alias": words[-1],
            }
        )
    return entries


def host_facts(hostname, system, machine, interfaces, route_text, addresses_text):
    """The facts, as setup names them (without its ansible_ prefix): default_ipv4 is the route's interface, address
    and gateway, completed with that address' netmask, network, prefix and broadcast when a device holds it."""
    addresses = parse_ipv4_addresses(addresses_text)
    default_ipv4 = parse_route_get(route_text)
    for entry in addresses:
        if default_ipv4.get("address") == entry["address"]:
            default_ipv4.update({key: entry[key] for key in ("netmask", "network", "prefix", "broadcast", "alias")})
            break
    return {
        "hostname": hostname.split(".")[0],
        "system": system,
        "architecture": architecture(machine),
        "interfaces": sorted(interfaces),
        "default_ipv4": default_ipv4,
        "all_ipv4_addresses": [entry["address"] for entry in addresses if not entry["address"].startswith("127.")],
    }
