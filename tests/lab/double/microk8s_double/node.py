# SPDX-License-Identifier: GPL-3.0-or-later
"""Who this node is for the cluster daemons: its address, name, ports, profile and snap paths."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass

from . import paths as paths_module
from . import profiles, settings

DEFAULT_PORTS = {"cluster_agent": 25000, "dqlite": 19001, "apiserver": 16443, "io_engine": 8420}


@dataclass(frozen=True)
class Node:
    settings: dict
    paths: paths_module.Paths
    profile: profiles.Profile
    ip: str
    hostname: str

    def port(self, name: str) -> int:
        return int(self.settings.get("ports", {}).get(name, DEFAULT_PORTS[name]))

    @property
    def bind_address(self) -> str:
        """Where the TCP daemons listen: all interfaces as the real ones, or one address when sharing a host."""
        return self.settings.get("bind_address") or "0.0.0.0"

    def setting(self, name: str, default: float) -> float:
        return float(self.settings.get(name, default))


def current() -> Node:
    conf = settings.load()
    where = paths_module.resolve(conf)
    return Node(
        settings=conf,
        paths=where,
        profile=profiles.load(where.snap),
        ip=conf.get("node_ip") or default_ip(),
        hostname=conf.get("hostname") or socket.gethostname(),
    )


def default_ip() -> str:
    """The address of the default-route interface, else the first global address (as `hostname -I` lists)."""
    route = subprocess.run(
        ["ip", "-4", "-o", "route", "show", "default"], capture_output=True, text=True, check=False
    ).stdout
    device = route.split(" dev ")[1].split()[0] if " dev " in route else None
    command = ["ip", "-4", "-o", "addr", "show", "scope", "global"] + (["dev", device] if device else [])
    lines = subprocess.run(command, capture_output=True, text=True, check=False).stdout.splitlines()
    return lines[0].split(" inet ")[1].split("/")[0] if lines else "127.0.0.1"
