# SPDX-License-Identifier: GPL-3.0-or-later
"""The pod network, Calico-style with host-gateway routes (MicroK8s runs Calico; no encapsulation here).

Each node owns the /24 of the cluster CIDR in its `Node.spec.podCIDR`. A pod gets the lowest free address of it, a
netns `pod-<uid8>` and a veth pair: `eth0` in the pod with the address as /32 and a default route via 169.254.1.1,
the host end `cali<uid8>` with proxy ARP and a /32 route to the pod (proxy ARP answers for 169.254.1.1 only
because the node routes it elsewhere, by its default route, as on Calico nodes). Between nodes: one route per other
node's /24 via its InternalIP (`proto 80`, so the sync knows its own routes). Cluster IPs are local on every node
(`local 10.152.183.0/24 dev lo`) so the userspace proxy answers them.

Double setting `pod_network`: "netns" (default) as above; "host" (the contract suite, no root) gives pods the
node's own IP and runs no command here.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from .runner import Runner

GATEWAY = "169.254.1.1"
ROUTE_PROTO = "80"
SERVICE_CIDR = "10.152.183.0/24"


def netns(uid: str) -> str:
    return f"pod-{uid[:8]}"


def host_veth(uid: str) -> str:
    return f"cali{uid[:8]}"


def uses_netns(settings: dict) -> bool:
    return settings.get("pod_network", "netns") == "netns"


def attach_commands(uid: str, ip: str) -> list[tuple[str, ...]]:
    ns, veth = netns(uid), host_veth(uid)
    inside = ("ip", "netns", "exec", ns)
    return [
        ("ip", "netns", "add", ns),
        ("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns),
        ("sysctl", "-qw", f"net.ipv4.conf.{veth}.proxy_arp=1", f"net.ipv4.neigh.{veth}.proxy_delay=0"),
        ("ip", "link", "set", veth, "up"),
        ("ip", "route", "replace", f"{ip}/32", "dev", veth),
        (*inside, "ip", "link", "set", "lo", "up"),
        (*inside, "ip", "addr", "add", f"{ip}/32", "dev", "eth0"),
        (*inside, "ip", "link", "set", "eth0", "up"),
        (*inside, "ip", "route", "add", GATEWAY, "dev", "eth0", "scope", "link"),
        (*inside, "ip", "route", "add", "default", "via", GATEWAY, "dev", "eth0"),
    ]


def detach_commands(uid: str, ip: str) -> list[tuple[str, ...]]:
    """Deleting the netns deletes the veth pair and, with the host end, the /32 route."""
    return [("ip", "route", "del", f"{ip}/32"), ("ip", "netns", "del", netns(uid))]


def node_routes(my_name: str, nodes: list[dict]) -> dict[str, str]:
    """Other nodes' pod /24 -> their InternalIP."""
    routes = {}
    for node in nodes:
        cidr = node.get("spec", {}).get("podCIDR")
        addresses = {a["type"]: a["address"] for a in node.get("status", {}).get("addresses", [])}
        if node["metadata"]["name"] != my_name and cidr and addresses.get("InternalIP"):
            routes[cidr] = addresses["InternalIP"]
    return routes


def route_commands(current: str, wanted: dict[str, str]) -> list[tuple[str, ...]]:
    """From `ip -4 -o route show proto 80` output to the wanted routes."""
    have = {}
    for line in current.splitlines():
        fields = line.split()
        if "via" in fields:
            have[fields[0]] = fields[fields.index("via") + 1]
    commands = [("ip", "route", "del", dest, "proto", ROUTE_PROTO) for dest in sorted(have) if dest not in wanted]
    commands += [
        ("ip", "route", "replace", dest, "via", via, "proto", ROUTE_PROTO)
        for dest, via in sorted(wanted.items())
        if have.get(dest) != via
    ]
    return commands


class PodNetwork:
    """This node's side: pod addresses (remembered in `state_file` across restarts), veths and routes."""

    def __init__(self, runner: Runner, state_file: Path, netns_dir: Path = Path("/run/netns")):
        self.runner, self.state_file, self.netns_dir = runner, state_file, netns_dir
        self.prepared = False

    def allocations(self) -> dict[str, str]:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def save(self, allocations: dict[str, str]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(allocations))

    def attach(self, uid: str, pod_cidr: str) -> str:
        """The pod's IP, with its netns and veth set up (again, if it has one already: idempotent)."""
        allocations = self.allocations()
        ip, network = allocations.get(uid), ipaddress.ip_network(pod_cidr)
        if ip is None or ipaddress.ip_address(ip) not in network:  # new, or the node got another pod CIDR
            used = set(allocations.values())
            ip = next(str(a) for a in network.hosts() if str(a) not in used)
            self.save(dict(allocations, **{uid: ip}))
        ready = (self.netns_dir / netns(uid)).exists() and not self.runner.run(
            "ip", "netns", "exec", netns(uid), "ip", "-4", "-o", "addr", "show", "dev", "eth0"
        )[0]
        if not ready:  # first start, or /run/netns emptied by a reboot, or a setup cut short
            for command in attach_commands(uid, ip):
                self.runner.run(*command)
        return ip

    def detach(self, uid: str) -> None:
        allocations = self.allocations()
        ip = allocations.pop(uid, None)
        if ip is not None:
            for command in detach_commands(uid, ip):
                self.runner.run(*command)
            self.save(allocations)

    def sync_node(self, my_name: str, nodes: list[dict]) -> None:
        """Forwarding on and cluster IPs local (once), a route to every other node's pods."""
        if not self.prepared:
            self.runner.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            self.runner.run("ip", "route", "replace", "local", SERVICE_CIDR, "dev", "lo")
            self.prepared = True
        current = self.runner.run("ip", "-4", "-o", "route", "show", "proto", ROUTE_PROTO)[1]
        for command in route_commands(current, node_routes(my_name, nodes)):
            self.runner.run(*command)


def for_node(node, runner: Runner | None = None) -> PodNetwork:
    """The node's pod network (`$SNAP_DATA/var/double/podnet.json` keeps pod addresses across restarts)."""
    return PodNetwork(runner or Runner(), node.paths.state / "podnet.json")
