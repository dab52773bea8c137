# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy, iptables mode: each new connection to a service goes to one ready endpoint chosen at random, with no
retry and no health checking of its own; the endpoints change only when the Endpoints objects do.

On the nodes (pod network `netns`) this is done as kube-proxy does it, in the kernel: `ruleset()` turns services and
endpoints into one nf_tables table `ip kube-proxy` (the chains of kube-proxy's iptables rules, in nft), loaded by
`KernelProxy` whenever it changes. Per service port a chain picks endpoint k of n with `numgen random mod (n-k) == 0`
(iptables' `statistic --mode random --probability 1/(n-k)`: uniform), and an endpoint chain DNATs to pod ip:port.
Only the first packet of a connection meets these rules (conntrack does the rest), so a connection whose endpoint
does not answer waits on that endpoint, SYN after SYN, until the client gives up. Masquerade (mark 0x4000, as
KUBE-MARK-MASQ) for traffic to a cluster IP from outside the pod network (the node's own processes included), for
NodePort/LoadBalancer traffic with externalTrafficPolicy Cluster and for hairpin (a pod reaching itself); with
externalTrafficPolicy Local, external traffic goes to this node's endpoints only, unmasqueraded, and is dropped when
there is none. A service port without endpoints is rejected (ICMP port unreachable: "connection refused").
NodePorts answer on every address of the node (`fib daddr type local`), LoadBalancer addresses on every node.

In the contract suite (pod network `host`, no root) `Proxy` plays it in userspace: one listener per cluster IP:port,
`bind_address`:NodePort and LoadBalancer IP:port (IP_FREEBIND: an address the speaker adds later is served at once),
each accepted connection piped to one endpoint chosen at random, never another: an endpoint that refuses closes the
client at once, one that does not answer leaves the client hanging (as an unanswered SYN would) until it gives up."""

from __future__ import annotations

import contextlib
import random
import socket
import sys
import threading

from ..controllers import nodeipam
from . import nftables as nft

IP_FREEBIND = 15
SYN_GIVE_UP = 130.0  # what Linux waits for a SYN-ACK by default (tcp_syn_retries 6) before connect() fails
TABLE = "kube-proxy"
MASQ_BIT = 0x4000
CLUSTER_CIDR = str(nodeipam.CLUSTER_CIDR)
Address = tuple[str, int]
Endpoint = tuple[str, int, str | None]  # ip, port, nodeName


def endpoint_port(service_port: dict, endpoint_ports: list[dict]) -> int | None:
    name = service_port.get("name", "")
    return next((p["port"] for p in endpoint_ports if p.get("name", "") == name), None)


def ready_endpoints(service_port: dict, endpoints: dict | None) -> list[Endpoint]:
    """Ready addresses of the service's Endpoints for one service port, with the node each is on."""
    found = []
    for subset in (endpoints or {}).get("subsets") or []:
        port = endpoint_port(service_port, subset.get("ports") or [])
        if port is not None:
            found += [(a["ip"], port, a.get("nodeName")) for a in subset.get("addresses") or []]
    return found


def backends(service_port: dict, endpoints: dict | None) -> list[Address]:
    """Ready addresses of the service's Endpoints for one service port."""
    return [(ip, port) for ip, port, _node in ready_endpoints(service_port, endpoints)]


def service_ports(services: list[dict], endpoints: list[dict]):
    """(service, port, ready endpoints, LoadBalancer addresses) for every port of every service with a cluster IP."""
    by_name = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
    for service in services:
        spec = service.get("spec", {})
        if spec.get("clusterIP") in (None, "", "None"):
            continue
        meta = service["metadata"]
        ingress = (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        external = [i["ip"] for i in ingress if i.get("ip")] if spec.get("type") == "LoadBalancer" else []
        for port in spec.get("ports", []):
            yield service, port, ready_endpoints(port, by_name.get((meta["namespace"], meta["name"]))), external


def listeners(services: list[dict], endpoints: list[dict], node_address: str) -> dict[Address, list[Address]]:
    """The userspace proxy's (listen address, port) -> backends for every TCP service port."""
    wanted: dict[Address, list[Address]] = {}
    for service, port, ready, external in service_ports(services, endpoints):
        if port.get("protocol", "TCP") != "TCP":
            continue
        spec = service["spec"]
        targets = [(ip, number) for ip, number, _node in ready]
        wanted[(spec["clusterIP"], port["port"])] = targets
        if port.get("nodePort") and spec.get("type") in ("NodePort", "LoadBalancer"):
            wanted[(node_address, port["nodePort"])] = targets
        for ip in external:
            wanted[(ip, port["port"])] = targets
    return wanted


# -- in the kernel -------------------------------------------------------------------------------------------------


def ruleset(services: list[dict], endpoints: list[dict], node_name: str) -> nft.Table:
    """The node's table `ip kube-proxy` for these services and endpoints."""
    table = nft.Table(TABLE)
    services_chain, reject_chain = "services", "no-endpoints"
    for hook in ("prerouting", "output"):
        table.add(table.chain(f"nat-{hook}", ("nat", hook, -100)), nft.verdict("jump", services_chain))
    table.add(table.chain("nat-postrouting", ("nat", "postrouting", 100)), nft.mark_is(MASQ_BIT), nft.masquerade())
    for hook in ("input", "forward", "output"):
        table.add(table.chain(f"filter-{hook}", ("filter", hook, 0)), nft.verdict("jump", reject_chain))
    table.chain(services_chain)
    table.chain(reject_chain)
    for service, port, ready, external in service_ports(services, endpoints):
        protocol = port.get("protocol", "TCP")
        if protocol not in nft.PROTOCOLS:
            continue
        spec, meta = service["spec"], service["metadata"]
        label = f"{meta['namespace']}/{meta['name']}/{port.get('name') or port['port']}"
        l4, cluster_port = nft.l4proto(protocol), nft.dport(port["port"], protocol)
        cluster = nft.address("daddr", spec["clusterIP"])
        entries = [(cluster, cluster_port)] + [(nft.address("daddr", ip), cluster_port) for ip in external]
        if port.get("nodePort") and spec.get("type") in ("NodePort", "LoadBalancer"):
            entries.append((nft.local("daddr"), nft.dport(port["nodePort"], protocol)))
        if not ready:
            for destination, number in entries:
                table.add(reject_chain, l4, destination, number, nft.reject_port_unreachable())
            continue
        service_chain = endpoint_chains(table, f"svc-{label}", ready, label)
        table.add(services_chain, l4, cluster, cluster_port, nft.address("saddr", CLUSTER_CIDR, negate=True),
                  nft.set_mark_bit(MASQ_BIT))  # fmt: skip
        table.add(services_chain, l4, cluster, cluster_port, nft.verdict("jump", service_chain))
        if len(entries) > 1:
            external_chain = table.chain(f"ext-{label}")
            if spec.get("externalTrafficPolicy") == "Local":
                local_ready = [e for e in ready if e[2] == node_name]
                table.add(external_chain, nft.address("saddr", CLUSTER_CIDR), nft.verdict("jump", service_chain))
                table.add(external_chain, nft.local("saddr"), nft.set_mark_bit(MASQ_BIT))
                table.add(external_chain, nft.local("saddr"), nft.verdict("jump", service_chain))
                if local_ready:
                    local_chain = endpoint_chains(table, f"svl-{label}", local_ready, label)
                    table.add(external_chain, nft.verdict("jump", local_chain))
                else:
                    table.add(external_chain, nft.verdict("drop"))
            else:
                table.add(external_chain, nft.set_mark_bit(MASQ_BIT))
                table.add(external_chain, nft.verdict("jump", service_chain))
            for destination, number in entries[1:]:
                table.add(services_chain, l4, destination, number, nft.verdict("jump", external_chain))
    return table


def endpoint_chains(table: nft.Table, name: str, ready: list[Endpoint], label: str) -> str:
    """A chain choosing one of `ready` at random (uniformly), and one chain per endpoint that DNATs to it."""
    chain = table.chain(name)
    for k, (ip, port, _node) in enumerate(ready):
        endpoint = f"sep-{label}/{ip}:{port}"
        if endpoint not in table.chains:
            table.chain(endpoint)
            table.add(endpoint, nft.address("saddr", ip), nft.set_mark_bit(MASQ_BIT))  # hairpin
            table.add(endpoint, nft.dnat(ip, port))
        left = len(ready) - k
        pick = [nft.random_one_in(left)] if left > 1 else []
        table.add(chain, *pick, nft.verdict("jump", endpoint))
    return chain


class KernelProxy:
    """Keeps the node's table in line with the API's view; loads it only when it changed."""

    def __init__(self, node_name: str, kernel: nft.Kernel | None = None):
        self.node_name, self.kernel = node_name, kernel or nft.Kernel()
        self.loaded: str | None = None
        self.reported: str | None = None

    def sync(self, services: list[dict], endpoints: list[dict]) -> None:
        table = ruleset(services, endpoints, self.node_name)
        text = nft.describe(table)
        if text == self.loaded:
            return
        try:
            self.kernel.replace(table)
        except OSError as error:
            if str(error) != self.reported:  # once per distinct failure; retried every round
                print(f"proxy: {error}", file=sys.stderr, flush=True)
                self.reported = str(error)
            return
        self.loaded, self.reported = text, None


# -- in userspace (the contract suite) -------------------------------------------------------------------------------


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def reset(sock: socket.socket) -> None:
    """Close with an RST (linger 0), as a refused connection ends."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    sock.close()


class Listener:
    def __init__(self, address: Address, give_up: float = SYN_GIVE_UP):
        self.address, self.give_up = address, give_up
        self.backends: list[Address] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        self.sock.bind(address)
        self.sock.listen(128)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _peer = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client: socket.socket) -> None:
        current = list(self.backends)
        if not current:
            reset(client)  # no endpoints: refused
            return
        target = random.choice(current)  # load spreading, not security
        try:
            upstream = socket.create_connection(target, timeout=self.give_up)
        except OSError:  # refused at once, or unanswered until give_up: the client saw the same wait
            reset(client)
            return
        upstream.settimeout(None)
        with client, upstream:
            reverse = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
            reverse.start()
            pipe(client, upstream)
            reverse.join()

    def close(self) -> None:
        """Stop listening now (shutdown wakes the thread blocked in accept; close alone would not)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Proxy:
    """The node's listeners, brought in line with `listeners()` on every sync."""

    def __init__(self, give_up: float = SYN_GIVE_UP):
        self.give_up = give_up
        self.open: dict[Address, Listener] = {}
        self.refused: set[Address] = set()  # reported once

    def sync(self, wanted: dict[Address, list[Address]]) -> None:
        for address in [a for a in self.open if a not in wanted]:
            self.open.pop(address).close()
        for address, targets in wanted.items():
            if address not in self.open:
                try:
                    self.open[address] = Listener(address, self.give_up)
                except OSError as error:
                    if address not in self.refused:
                        print(f"proxy cannot listen on {address[0]}:{address[1]}: {error}", file=sys.stderr, flush=True)
                    self.refused.add(address)
                    continue
            self.open[address].backends = targets
