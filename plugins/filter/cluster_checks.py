# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure checks of the cluster's network settings that the roles run before they change anything (preflight), and the
firewall rules derived from the same addresses."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

#: Ports only the cluster's own nodes use: kubelet (10250, read-only 10255: no authentication), the legacy etcd
#: client port (12379), the API server (16443; apiserver-proxy on workers), dqlite (19001), the cluster agent
#: (25000, joins), and calico's VXLAN (4789/udp).
NODE_TCP_PORTS = "10250,10255,12379,16443,19001,25000"
NODE_UDP_PORTS = "4789"
API_PORT = "16443"
COMMENT = "onprem.microk8s"


def _address(text):
    """An IP address, or None when text is empty or not one (an `omit` placeholder, an undefined fact)."""
    try:
        return ipaddress.ip_address(str(text).strip()) if text else None
    except ValueError:
        return None


def _parse_pool(item):
    """`10.0.0.10-10.0.0.20` or `10.0.0.16/28` -> (first, last) addresses."""
    item = item.strip()
    if "-" in item:
        first, last = (ipaddress.ip_address(part.strip()) for part in item.split("-", 1))
    else:
        network = ipaddress.ip_network(item, strict=False)
        first, last = network[0], network[-1]
    if first.version != last.version:
        raise ValueError("%s mixes IPv4 and IPv6" % item)
    if first > last:
        raise ValueError("%s: the first address must come before the last" % item)
    return first, last


def _subnet(subnet):
    try:
        return ipaddress.ip_network(str(subnet), strict=False), None
    except ValueError as exc:
        return None, "the nodes' subnet %r is not a network: %s" % (subnet, exc)


def _reserved(network):
    """The network and broadcast addresses of an IPv4 subnet that has them (not /31, /32)."""
    if network.version == 4 and network.prefixlen < 31:
        return {network.network_address: "network address", network.broadcast_address: "broadcast address"}
    return {}


def _taken(network, node_addresses, gateway):
    taken = dict(_reserved(network))
    for text in node_addresses or ():
        address = _address(text)
        if address is not None:
            taken[address] = "node address"
    if _address(gateway) is not None:
        taken[_address(gateway)] = "gateway"
    return taken


def _pools(pools):
    """[(text, first, last)] of the parsable pools and [problems] of the others."""
    parsed, problems = [], []
    for item in [p for p in str(pools or "").split(",") if p.strip()] or [""]:
        try:
            first, last = _parse_pool(item)
        except ValueError as exc:
            problems.append("MetalLB range %r is not FIRST-LAST or a CIDR: %s" % (item.strip(), exc))
            continue
        parsed.append((item.strip(), first, last))
    return parsed, problems


def metallb_range_problems(pools, subnet, node_addresses=(), gateway=None):
    """Problems with a MetalLB range: unparsable, another IP version or outside the nodes' subnet, holding the
    subnet's network or broadcast address, a node or the gateway, or pools that overlap."""
    network, problem = _subnet(subnet)
    if problem:
        return [problem]
    parsed, problems = _pools(pools)
    taken = _taken(network, node_addresses, gateway)
    for item, first, last in parsed:
        if first.version != network.version:
            problems.append(
                "MetalLB range %s is IPv%d but the nodes' subnet %s is IPv%d"
                % (item, first.version, network, network.version)
            )
            continue
        if first not in network or last not in network:
            problems.append("MetalLB range %s is not inside the nodes' subnet %s" % (item, network))
        for address, what in sorted(taken.items()):
            if address.version == first.version and first <= address <= last:
                problems.append("MetalLB range %s contains the %s %s" % (item, what, address))
    for index, (item, first, last) in enumerate(parsed):
        for other, other_first, other_last in parsed[index + 1 :]:
            if first.version == other_first.version and first <= other_last and other_first <= last:
                problems.append("MetalLB ranges %s and %s overlap" % (item, other))
    return problems


def api_vip_problems(vip, subnet, node_addresses=(), pools="", gateway=None):
    """Problems with the API virtual IP: not an IPv4 address on the nodes' subnet, the subnet's network or broadcast
    address, a node's or the gateway's address, or inside the MetalLB range. Empty vip: no VIP, no problem."""
    vip = str(vip or "").strip()
    if not vip:
        return []
    address = _address(vip)
    if address is None or address.version != 4:
        return ["onprem_api_vip %r is not an IPv4 address (one address, written without a prefix length)" % vip]
    network, problem = _subnet(subnet)
    if problem:
        return [problem]
    if address not in network:
        return ["onprem_api_vip %s is not on the nodes' subnet %s" % (address, network)]
    problems = []
    what = _taken(network, node_addresses, gateway).get(address)
    if what:
        problems.append("onprem_api_vip %s is the subnet's %s" % (address, what))
    for item, first, last in _pools(pools)[0] if str(pools or "").strip() else []:
        if first.version == 4 and first <= address <= last:
            problems.append("onprem_api_vip %s is inside the MetalLB range %s" % (address, item))
    return problems


def hostname_problems(names):
    """Problems with node names: upper case, a label that is not a DNS label, too long, or used twice."""
    problems = []
    seen = {}
    for name in names:
        name = str(name)
        if name != name.lower():
            problems.append("hostname %s has upper-case letters: Kubernetes node names must be lower case" % name)
        elif len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
            problems.append(
                "hostname %s is not a valid DNS name (labels of a-z, 0-9 and '-', not starting or ending with '-', "
                "separated by single dots)" % name
            )
        if name.lower() in seen:
            problems.append("hostname %s is used by more than one node" % name)
        seen[name.lower()] = True
    return problems


def _port(spec):
    port, _slash, proto = str(spec).partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp") or not re.match(r"^\d+(:\d+)?$", port):
        raise ValueError("firewall port %r is not PORT/tcp, PORT/udp or FIRST:LAST/tcp" % spec)
    return port, proto


def firewall_rules(node_addresses, admin_sources=(), lan_ports=()):
    """The ufw rules a node needs, as community.general.ufw parameters.

    The cluster's own ports are opened to each node's address only (not the LAN, where the IoT devices are); the
    Kubernetes API to the admin sources (CIDRs or addresses); lan_ports (`80/tcp`, `443/tcp`, `8081/tcp` ...) to
    everyone."""
    rules = []
    for text in node_addresses or ():
        address = _address(text)
        if address is None:
            raise ValueError("node address %r is not an IP address" % (text,))
        for ports, proto in ((NODE_TCP_PORTS, "tcp"), (NODE_UDP_PORTS, "udp")):
            rules.append(
                {"rule": "allow", "proto": proto, "port": ports, "from_ip": str(address), "comment": COMMENT + " node"}
            )
    for source in admin_sources or ():
        network = ipaddress.ip_network(str(source).strip(), strict=False)
        rules.append(
            {"rule": "allow", "proto": "tcp", "port": API_PORT, "from_ip": str(network), "comment": COMMENT + " api"}
        )
    for spec in lan_ports or ():
        port, proto = _port(spec)
        rules.append({"rule": "allow", "proto": proto, "port": port, "from_ip": "any", "comment": COMMENT + " lan"})
    unique = []
    for rule in rules:
        if rule not in unique:
            unique.append(rule)
    return unique


class FilterModule:
    def filters(self):
        return {
            "metallb_range_problems": metallb_range_problems,
            "api_vip_problems": api_vip_problems,
            "hostname_problems": hostname_problems,
            "firewall_rules": firewall_rules,
        }
