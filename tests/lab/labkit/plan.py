# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's fixed names and address plan, and which machine plays which role."""

from __future__ import annotations

import dataclasses
import ipaddress

BRIDGE = "onpremlab0"
POOL = "onprem-lab"
PROFILE = "onprem-lab"
IMAGE_ALIAS = "onprem-lab-bookworm"
NETWORK = ipaddress.ip_network("10.77.0.0/24")
GATEWAY = NETWORK[1]
CLIENT_NAME = "client1"
CLIENT_ADDRESS = NETWORK[200]
METALLB_RANGE = (NETWORK[240], NETWORK[250])
MAX_NODES = 16
NODE_PREFIX = "node"


@dataclasses.dataclass(frozen=True)
class Machine:
    name: str
    address: ipaddress.IPv4Address
    group: str  # masters | workers | clients


def node_address(index: int) -> ipaddress.IPv4Address:
    """Node k (1-based) lives at 10.77.0.(10+k)."""
    return NETWORK[10 + index]


def machines(nodes: int, masters: int | None = None, workers: int | None = None) -> list[Machine]:
    """The lab's machines: node1..nodeN split into masters then workers, and the client.

    Only one of masters/workers needs giving; with neither, every node is a master (as in the seed).
    """
    if not 1 <= nodes <= MAX_NODES:
        raise ValueError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    if masters is None:
        masters = nodes - (workers or 0)
    if workers is None:
        workers = nodes - masters
    if masters < 1 or workers < 0 or masters + workers != nodes:
        raise ValueError(f"--masters {masters} + --workers {workers} must add up to --nodes {nodes} (masters >= 1)")
    lab = [
        Machine(f"{NODE_PREFIX}{k}", node_address(k), "masters" if k <= masters else "workers")
        for k in range(1, nodes + 1)
    ]
    return [*lab, Machine(CLIENT_NAME, CLIENT_ADDRESS, "clients")]
