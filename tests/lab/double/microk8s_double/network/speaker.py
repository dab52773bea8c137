# SPDX-License-Identifier: GPL-3.0-or-later
"""MetalLB's speaker in layer-2 mode, on every node while MetalLB is configured.

Speakers find each other's liveness as memberlist does: UDP pings on port 7946 of every node's InternalIP, a peer
silent for `speaker_dead_after` seconds (default 3) is dead. For each LoadBalancer address the live speakers (for
externalTrafficPolicy Local only those on nodes with a ready endpoint) are ordered by sha256("<node>#<ip>") and the
first one announces it: the address is added to the interface that carries the node's IP and gratuitous ARPs tell
the segment its new MAC; a node that is no longer the announcer removes it. (Real MetalLB answers ARP for the
address without adding it and lets kube-proxy catch the traffic; the double adds it, so the node takes the traffic
in, where the kube-proxy rules DNAT it, and the suite's userspace proxy can listen on it.)

Gratuitous ARPs as MetalLB's layer-2 announcer sends them (internal/layer2/announcer.go, `SetBalancer` -> `doSpam`
-> `spamLoop`): whenever a speaker process takes an address (its `ips` start empty, so also after the speaker
restarts), one at once, then every 1.1 s until 5 s after. What the interface already holds does not count as
announced: the double's speaker lives in kubelite, so `snap restart microk8s.daemon-kubelite` stops it while the
address stays on the interface; the next announcer took it meanwhile (and turned the LAN's ARP caches to itself),
and the returning speaker must announce it again, or clients keep sending to a node that merely forwards the
traffic (every node's kube-proxy rules DNAT a LoadBalancer address) until that node dies."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .runner import Runner

MEMBERLIST_PORT = 7946
DEAD_AFTER = 3.0
SPAM_SECONDS = 5.0  # MetalLB's spamLoop: gratuitous ARPs until 5 s after the address was taken ...
# The interface's addresses are read again when the assignment changes, else at most this often (the speak loop runs
# every 0.5 s: an `ip` process per round cost an idle node more CPU than its datastore's reads).
REREAD_INTERVAL = 10.0
SPAM_INTERVAL = 1.1  # ... one at once, then one per 1.1 s tick (metallb/metallb#172)


def _log(message: str) -> None:
    """One line per address taken or given up (MetalLB's speaker logs "serviceAnnounced"/"serviceWithdrawn" too)."""
    print(message, file=sys.stderr, flush=True)


def announcer(ip: str, candidates: list[str]) -> str | None:
    ranked = sorted(candidates, key=lambda name: hashlib.sha256(f"{name}#{ip}".encode()).digest())
    return ranked[0] if ranked else None


def local_nodes(endpoints: dict | None) -> set[str]:
    """Nodes hosting a ready endpoint of the service."""
    subsets = (endpoints or {}).get("subsets") or []
    return {a.get("nodeName") for s in subsets for a in s.get("addresses") or []} - {None}


def assignments(services: list[dict], endpoints: list[dict], alive: set[str]) -> dict[str, str]:
    """LoadBalancer address -> the node that announces it."""
    by_name = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
    chosen = {}
    for service in services:
        if service.get("spec", {}).get("type") != "LoadBalancer":
            continue
        meta = service["metadata"]
        candidates = alive
        if service["spec"].get("externalTrafficPolicy") == "Local":
            candidates = alive & local_nodes(by_name.get((meta["namespace"], meta["name"])))
        for ingress in (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []:
            node = announcer(ingress["ip"], sorted(candidates))
            if node and ingress.get("ip"):
                chosen[ingress["ip"]] = node
    return chosen


def gratuitous_arp(mac: bytes, ip: str) -> bytes:
    """A broadcast ARP request with sender and target both `ip` (what `arping -U` sends)."""
    address = ipaddress.IPv4Address(ip).packed
    ethernet = b"\xff" * 6 + mac + struct.pack("!H", 0x0806)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + address + b"\xff" * 6 + address
    return ethernet + arp


def send_frame(interface: str, frame: bytes) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind((interface, 0))
        raw.send(frame)


def interface_of(runner: Runner, ip: str) -> str | None:
    """The interface that carries `ip` (`ip -4 -o addr show` lines: `2: eth0    inet 10.77.0.11/24 ...`)."""
    for line in runner.run("ip", "-4", "-o", "addr", "show")[1].splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet" and fields[3].split("/")[0] == ip:
            return fields[1]
    return None


def held(runner: Runner, interface: str) -> set[str]:
    """/32 addresses on the interface (the announced ones; the node's own address has its subnet's prefix)."""
    lines = runner.run("ip", "-4", "-o", "addr", "show", "dev", interface)[1].splitlines()
    return {f[3].split("/")[0] for f in (line.split() for line in lines) if len(f) > 3 and f[3].endswith("/32")}


class Members:
    """memberlist in miniature: ping every peer each round, note who answers."""

    def __init__(self, bind_ip: str, port: int = MEMBERLIST_PORT, dead_after: float = DEAD_AFTER):
        self.port, self.dead_after = port, dead_after
        self.peers: dict[str, str] = {}  # name -> ip
        self.last_seen: dict[str, float] = {}  # ip -> monotonic time of the last ack (or when first listed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind_ip, port))
        threading.Thread(target=self.receive, daemon=True).start()

    def receive(self) -> None:
        while self.sock.fileno() != -1:
            try:
                data, peer = self.sock.recvfrom(64)
                if data == b"ping":
                    self.sock.sendto(b"ack", peer)
                elif data == b"ack":
                    self.last_seen[peer[0]] = time.monotonic()
            except OSError:
                continue  # closed (the loop ends) or a peer's port unreachable

    def set_peers(self, peers: dict[str, str]) -> None:
        for ip in peers.values():
            self.last_seen.setdefault(ip, time.monotonic())  # a new peer gets one timeout to answer
        self.peers = dict(peers)

    def ping(self) -> None:
        for ip in self.peers.values():
            with contextlib.suppress(OSError):  # unreachable now: it stays silent and turns dead
                self.sock.sendto(b"ping", (ip, self.port))

    def alive(self) -> set[str]:
        now = time.monotonic()
        return {name for name, ip in self.peers.items() if now - self.last_seen.get(ip, 0) <= self.dead_after}

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the receiving thread
        self.sock.close()


class Speaker:
    def __init__(
        self,
        name: str,
        node_ip: str,
        runner: Runner,
        send: Callable[[str, bytes], None] = send_frame,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name, self.node_ip, self.runner, self.send, self.clock = name, node_ip, runner, send, clock
        self.interface: str | None = None
        self.claimed: set[str] = set()  # the addresses this speaker announces (MetalLB's Announce.ips)
        self.spam: dict[str, list[float]] = {}  # address -> [stop at, next gratuitous ARP at]
        self.on_interface: set[str] | None = None  # the /32 addresses last read from the interface, and when
        self.read_at = 0.0

    def announce(self, wanted: dict[str, str], pool: Callable[[str], bool]) -> None:
        """Hold exactly the pool addresses assigned to this node: add or delete them; each address this speaker
        takes (whether or not the interface already held it) gets gratuitous ARPs for SPAM_SECONDS."""
        self.interface = self.interface or interface_of(self.runner, self.node_ip)
        interface = self.interface
        if interface is None:
            return
        mine = {ip for ip, node in wanted.items() if node == self.name}
        now = self.clock()
        if self.on_interface is None or mine != self.claimed or now - self.read_at >= REREAD_INTERVAL:
            self.on_interface, self.read_at = held(self.runner, interface), now  # else nothing changed: no `ip` run
        current = {ip for ip in self.on_interface if pool(ip)}
        for ip in sorted(current - mine):
            self.runner.run("ip", "addr", "del", f"{ip}/32", "dev", interface)
            self.on_interface.discard(ip)
            _log(f"speaker {self.name}: withdrawing {ip} (announcer now {wanted.get(ip) or 'none'})")
        holding = current & mine
        for ip in sorted(mine - current):
            if self.runner.run("ip", "addr", "add", f"{ip}/32", "dev", interface)[0] == 0:
                holding.add(ip)
                self.on_interface.add(ip)
                _log(f"speaker {self.name}: announcing {ip}")
        for ip in sorted(holding - self.claimed):
            self.spam[ip] = [now + SPAM_SECONDS, now]
        self.claimed = holding
        for ip in sorted(self.spam):
            until, due = self.spam[ip]
            if ip not in holding or now > until:
                del self.spam[ip]
            elif now >= due:
                self.gratuitous(interface, ip)
                self.spam[ip][1] = due + SPAM_INTERVAL

    def gratuitous(self, interface: str, ip: str) -> None:
        try:
            mac = bytes.fromhex(Path(f"/sys/class/net/{interface}/address").read_text().strip().replace(":", ""))
            self.send(interface, gratuitous_arp(mac, ip))
        except (OSError, ValueError) as error:
            print(f"gratuitous ARP for {ip} on {interface} failed: {error}", file=sys.stderr, flush=True)
