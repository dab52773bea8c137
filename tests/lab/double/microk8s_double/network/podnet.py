# SPDX-License-Identifier: GPL-3.0-or-later
"""The pod network, as Calico in VXLAN mode (MicroK8s' default CNI) lays it out.

Each node owns the /24 of the cluster CIDR in its `Node.spec.podCIDR`. A pod gets the lowest free address of it, a
netns `pod-<uid8>` and a veth pair (MTU 1450, as Calico sets it for VXLAN): `eth0` in the pod with the address as
/32 and a default route via 169.254.1.1, the host end `cali<uid8>` with proxy ARP and a /32 route to the pod (proxy
ARP answers for 169.254.1.1 only because the node routes it elsewhere, by its default route, as on Calico nodes).

Between nodes: a VXLAN device `vxlan.calico` (VNI 4096, UDP 4789, MTU 1450) whose address is the first address of
the node's podCIDR (the tunnel address) and whose MAC is derived from the node's InternalIP (Calico keeps a random
one in its Node resource; deriving it lets every node know every other's without an API of its own). For every
other node: a route to its podCIDR via its tunnel address `onlink` (`proto 80`, so the sync knows its own routes),
a permanent neighbour entry for that tunnel address and a permanent FDB entry sending its MAC to its InternalIP, as
Calico's Felix programs them. Static entries never fail, so traffic to a pod on a powered-off node is encapsulated
and lost on the wire: the sender sees no error, its SYNs go unanswered (no EHOSTUNREACH after a failed ARP). The
nodes' own traffic (API server, dqlite, ...) goes by their addresses as before, with ordinary ARP.

Leaving the pod network: MicroK8s' Calico IPPool has `natOutgoing: true` (and its flanneld runs with `--ip-masq`),
so a pod's traffic to an address outside the cluster CIDR (another node, a LAN host, the internet) is masqueraded
to its node's address, as Felix's `cali-nat-outgoing` chain does: the table `ip calico-nat-outgoing` (`NatOutgoing`),
postrouting `ip saddr 10.1.0.0/16 ip daddr != 10.1.0.0/16 masquerade`. Pod to pod stays untranslated.

Double setting `pod_network`: "netns" (default) as above; "host" (the contract suite, no root) gives pods the
node's own IP and runs no command here.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

from ..controllers import nodeipam
from . import nftables as nft
from .runner import Runner

GATEWAY = "169.254.1.1"
ROUTE_PROTO = "80"
SERVICE_CIDR = "10.152.183.0/24"
VXLAN = "vxlan.calico"
VXLAN_ID, VXLAN_PORT, MTU = "4096", "4789", "1450"
NAT_TABLE = "calico-nat-outgoing"


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
        ("ip", "link", "add", veth, "mtu", MTU, "type", "veth", "peer", "name", "eth0", "mtu", MTU, "netns", ns),
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


def tunnel_address(pod_cidr: str) -> str:
    """The node's VXLAN address: the first address of its pod CIDR (pods get the ones after it)."""
    return str(ipaddress.ip_network(pod_cidr).network_address)


def ingress_source(pod_cidr: str) -> str:
    """The last address of the node's pod CIDR, never given to a pod: the double's ingress controller (which runs
    in the node's namespace, not as a pod) connects to backends from it, as the real one does from its pod's."""
    return str(ipaddress.ip_network(pod_cidr).broadcast_address - 1)


def vtep_mac(node_ip: str) -> str:
    """The node's VXLAN MAC, from its InternalIP: locally administered, unicast (66:6b:<the four bytes>)."""
    return ":".join(["66", "6b", *(f"{b:02x}" for b in ipaddress.IPv4Address(node_ip).packed)])


def node_address(node: dict) -> str | None:
    return {a["type"]: a["address"] for a in node.get("status", {}).get("addresses", [])}.get("InternalIP")


def node_routes(my_name: str, nodes: list[dict]) -> dict[str, str]:
    """Other nodes' pod /24 -> their InternalIP."""
    routes = {}
    for node in nodes:
        cidr, address = node.get("spec", {}).get("podCIDR"), node_address(node)
        if node["metadata"]["name"] != my_name and cidr and address:
            routes[cidr] = address
    return routes


def vxlan_commands(node_ip: str, pod_cidr: str, exists: bool) -> list[tuple[str, ...]]:
    """This node's VTEP (the device created unless it `exists`, e.g. after a restart of the daemon)."""
    create = ("ip", "link", "add", VXLAN, *f"type vxlan id {VXLAN_ID} dstport {VXLAN_PORT} local {node_ip}".split())
    return [
        *([] if exists else [(*create, "nolearning")]),
        ("ip", "link", "set", VXLAN, "address", vtep_mac(node_ip), "mtu", MTU, "up"),
        # Only the current tunnel address: a node gets another pod CIDR when it joins a cluster, and the old address
        # left behind (the first /24, another node's tunnel address now) would take that node's route and traffic.
        ("ip", "-4", "addr", "flush", "dev", VXLAN),
        ("ip", "addr", "add", f"{tunnel_address(pod_cidr)}/32", "dev", VXLAN),
        # A pod's traffic to another node's own address leaves by eth0 and its answer comes back through the tunnel
        # (the pod CIDR's route): no reverse-path check on the tunnel, or the answer would be dropped.
        ("sysctl", "-qw", f"net/ipv4/conf/{VXLAN}/rp_filter=0"),
    ]


def peer_commands(cidr: str, node_ip: str) -> list[tuple[str, ...]]:
    """Route, neighbour and FDB entry for another node's pods (all static, as Felix writes them)."""
    tunnel, mac = tunnel_address(cidr), vtep_mac(node_ip)
    return [
        ("ip", "neigh", "replace", tunnel, "lladdr", mac, "dev", VXLAN, "nud", "permanent"),
        ("bridge", "fdb", "replace", mac, "dev", VXLAN, "dst", node_ip, "self", "permanent"),
        ("ip", "route", "replace", cidr, "via", tunnel, "dev", VXLAN, "onlink", "proto", ROUTE_PROTO),
    ]


def route_commands(current: str, wanted: dict[str, str], known: dict[str, str]) -> list[tuple[str, ...]]:
    """From `ip -4 -o route show proto 80` output and the peers set up so far (`known`, pod CIDR -> InternalIP) to
    the wanted peers: their entries (re)written when new or changed, those of peers gone removed."""
    have = {}
    for line in current.splitlines():
        fields = line.split()
        if "via" in fields:
            have[fields[0]] = fields[fields.index("via") + 1]
    commands = []
    for dest in sorted(set(have) - set(wanted)):
        commands.append(("ip", "route", "del", dest, "proto", ROUTE_PROTO))
        if dest in known:
            commands.append(("ip", "neigh", "del", tunnel_address(dest), "dev", VXLAN))
            commands.append(("bridge", "fdb", "del", vtep_mac(known[dest]), "dev", VXLAN, "self"))
    for dest, node_ip in sorted(wanted.items()):
        if have.get(dest) != tunnel_address(dest) or known.get(dest) != node_ip:
            commands += peer_commands(dest, node_ip)
    return commands


class PodNetwork:
    """This node's side: pod addresses (remembered in `state_file` across restarts), veths and routes."""

    def __init__(self, runner: Runner, state_file: Path, netns_dir: Path = Path("/run/netns")):
        self.runner, self.state_file, self.netns_dir = runner, state_file, netns_dir
        self.prepared = False
        self.vtep: tuple[str, str] | None = None  # (node IP, pod CIDR) this node's VXLAN device was set up for
        self.peers: dict[str, str] = {}  # other nodes' pod CIDR -> InternalIP, as set up

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
            used = {*allocations.values(), ingress_source(pod_cidr)}
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
        """Forwarding on (once), this node's VXLAN device, the other nodes' pod CIDRs through it."""
        if not self.prepared:
            self.runner.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            # Cluster IPs are no local addresses (kube-proxy DNATs them): drop what an older double added.
            if "local" in self.runner.run("ip", "-4", "-o", "route", "show", "table", "local", SERVICE_CIDR)[1]:
                self.runner.run("ip", "route", "del", "local", SERVICE_CIDR, "dev", "lo", "table", "local")
            self.prepared = True
        me = next((n for n in nodes if n["metadata"]["name"] == my_name), None)
        vtep = (node_address(me), me.get("spec", {}).get("podCIDR")) if me else None
        if not vtep or not all(vtep):
            return  # no pod CIDR yet: nothing to tunnel from
        if vtep != self.vtep:
            exists = self.runner.run("ip", "-o", "link", "show", "dev", VXLAN)[0] == 0
            for command in vxlan_commands(*vtep, exists):
                self.runner.run(*command)
            self.vtep = vtep
        current = self.runner.run("ip", "-4", "-o", "route", "show", "proto", ROUTE_PROTO)[1]
        wanted = node_routes(my_name, nodes)
        for command in route_commands(current, wanted, self.peers):
            self.runner.run(*command)
        self.peers = wanted


def nat_outgoing_table(cluster_cidr: str = str(nodeipam.CLUSTER_CIDR)) -> nft.Table:
    """Masquerade what pods send out of the pod network (Calico's natOutgoing)."""
    table = nft.Table(NAT_TABLE)
    chain = table.chain("postrouting", ("nat", "postrouting", 100))
    table.add(chain, nft.address("saddr", cluster_cidr), nft.address("daddr", cluster_cidr, negate=True),
              nft.masquerade())  # fmt: skip
    return table


class NatOutgoing:
    """Loads the natOutgoing table into the node's kernel once (again after a failure, reported once)."""

    def __init__(self, kernel: nft.Kernel | None = None):
        self.kernel, self.loaded, self.reported = kernel or nft.Kernel(), False, None

    def sync(self) -> None:
        if self.loaded:
            return
        try:
            self.kernel.replace(nat_outgoing_table())
        except OSError as error:
            if str(error) != self.reported:
                print(f"podnet: natOutgoing: {error}", file=sys.stderr, flush=True)
                self.reported = str(error)
            return
        self.loaded = True


def for_node(node, runner: Runner | None = None) -> PodNetwork:
    """The node's pod network (`$SNAP_DATA/var/double/podnet.json` keeps pod addresses across restarts)."""
    return PodNetwork(runner or Runner(), node.paths.state / "podnet.json")
