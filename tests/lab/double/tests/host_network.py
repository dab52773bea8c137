# SPDX-License-Identifier: GPL-3.0-or-later
"""What the double's network loops add to the host during the suite, and its removal afterwards: recorded by the
first pytest-xdist worker in, removed by the last one out (a JSON record under an exclusive lock, shared by the run's
workers)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from microk8s_double.network import podnet

# What a double node's network loop creates in the namespace it runs in (kube-proxy, Calico), by name: only these are
# removed from the host after the suite, so a lab brought up meanwhile (its bridge, veths, LXD's table) is left alone.
DOUBLE_TABLES = ("ip kube-proxy", "ip calico-filter", f"ip {podnet.NAT_TABLE}")
DOUBLE_LINKS = (podnet.VXLAN, "cali")


def _names(*argv: str, pick) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return sorted({pick(line) for line in done.stdout.splitlines() if line.strip()})


def record() -> dict:
    """The host's nftables tables, links, network namespaces (names) and the service CIDR's local route."""
    local_route = subprocess.run(["ip", "-4", "-o", "route", "show", "table", "local", podnet.SERVICE_CIDR],
                                 capture_output=True, text=True, check=False).stdout  # fmt: skip
    return {
        "tables": _names("nft", "list", "tables", pick=lambda line: line.split(None, 1)[1]),
        "links": _names("ip", "-o", "link", "show", pick=lambda line: line.split(":")[1].strip().split("@")[0]),
        "namespaces": _names("ip", "netns", "list", pick=lambda line: line.split()[0]),
        "local_route": local_route,
    }


def remove_added(before: dict) -> None:
    """Remove what the double's network loops added since `before` (a record()), nothing else."""
    now = record()
    for table in sorted(set(now["tables"]) - set(before["tables"])):
        if table in DOUBLE_TABLES:
            subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True, check=False)
    for link in sorted(set(now["links"]) - set(before["links"])):
        if link.startswith(DOUBLE_LINKS):
            subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)
    for namespace in sorted(set(now["namespaces"]) - set(before["namespaces"])):
        if namespace.startswith("pod-"):
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, check=False)
    if not before["local_route"].strip():
        subprocess.run(["ip", "route", "del", "local", podnet.SERVICE_CIDR, "dev", "lo", "table", "local"],
                       capture_output=True, check=False)  # fmt: skip


@contextlib.contextmanager
def _locked(shared: Path):
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(shared.read_text()) if shared.exists() else {"users": 0}
        yield state
        shared.write_text(json.dumps(state))


def first_in(shared: Path, take: Callable[[], dict]) -> None:
    """Count this worker in; the first one in (of those running now) takes the host's record."""
    with _locked(shared) as state:
        if state["users"] == 0:
            state["before"] = take()
        state["users"] += 1


def last_out(shared: Path) -> dict | None:
    """Count this worker out: the record to clean up against if it was the last one running, else None."""
    with _locked(shared) as state:
        state["users"] -= 1
        return state["before"] if state["users"] == 0 else None
