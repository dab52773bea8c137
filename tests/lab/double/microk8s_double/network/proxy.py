# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-proxy in userspace mode: one TCP listener per service address and port (cluster IP, every node's NodePort,
the LoadBalancer ingress IPs), each connection piped to a ready endpoint, trying the next one (1 s connect timeout)
when an endpoint does not answer, as the userspace proxier did. Listeners bind with IP_FREEBIND, so a LoadBalancer
address this node does not hold yet is already served the moment the speaker adds it."""

from __future__ import annotations

import contextlib
import itertools
import socket
import sys
import threading

IP_FREEBIND = 15
CONNECT_TIMEOUT = 1.0
Address = tuple[str, int]


def endpoint_port(service_port: dict, endpoint_ports: list[dict]) -> int | None:
    name = service_port.get("name", "")
    return next((p["port"] for p in endpoint_ports if p.get("name", "") == name), None)


def backends(service_port: dict, endpoints: dict | None) -> list[Address]:
    """Ready addresses of the service's Endpoints for one service port."""
    found = []
    for subset in (endpoints or {}).get("subsets") or []:
        port = endpoint_port(service_port, subset.get("ports") or [])
        if port is not None:
            found += [(a["ip"], port) for a in subset.get("addresses") or []]
    return found


def listeners(services: list[dict], endpoints: list[dict], node_address: str) -> dict[Address, list[Address]]:
    """(listen address, port) -> backends for every TCP service port; NodePorts on `node_address`."""
    by_name = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
    wanted: dict[Address, list[Address]] = {}
    for service in services:
        spec = service.get("spec", {})
        if spec.get("clusterIP") in (None, "", "None"):
            continue
        meta = service["metadata"]
        external = [i["ip"] for i in (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []]
        for port in spec.get("ports", []):
            if port.get("protocol", "TCP") != "TCP":
                continue
            targets = backends(port, by_name.get((meta["namespace"], meta["name"])))
            wanted[(spec["clusterIP"], port["port"])] = targets
            if port.get("nodePort") and spec.get("type") in ("NodePort", "LoadBalancer"):
                wanted[(node_address, port["nodePort"])] = targets
            for ip in external if spec.get("type") == "LoadBalancer" else []:
                wanted[(ip, port["port"])] = targets
    return wanted


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class Listener:
    def __init__(self, address: Address):
        self.address = address
        self.backends: list[Address] = []
        self.turn = itertools.count()
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

    def connect(self) -> socket.socket | None:
        """A connection to the next endpoint that answers (round robin), None when none does."""
        current = list(self.backends)
        if not current:
            return None
        start = next(self.turn)
        for offset in range(len(current)):
            target = current[(start + offset) % len(current)]
            try:
                return socket.create_connection(target, timeout=CONNECT_TIMEOUT)
            except OSError:
                continue
        return None

    def serve(self, client: socket.socket) -> None:
        upstream = self.connect()
        if upstream is None:
            client.close()
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

    def __init__(self):
        self.open: dict[Address, Listener] = {}
        self.refused: set[Address] = set()  # reported once

    def sync(self, wanted: dict[Address, list[Address]]) -> None:
        for address in [a for a in self.open if a not in wanted]:
            self.open.pop(address).close()
        for address, targets in wanted.items():
            if address not in self.open:
                try:
                    self.open[address] = Listener(address)
                except OSError as error:
                    if address not in self.refused:
                        print(f"proxy cannot listen on {address[0]}:{address[1]}: {error}", file=sys.stderr, flush=True)
                    self.refused.add(address)
                    continue
            self.open[address].backends = targets
