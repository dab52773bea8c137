# SPDX-License-Identifier: GPL-3.0-or-later
"""MetalLB layer-2 failover for real, in network namespaces on one bridge (opt-in: root and
MICROK8S_DOUBLE_NETNS=1, since it changes the host's namespaces; the lab's demo does the same with LXD).

Three nodes run their real network loop (netns_node.py); a client namespace curls the LoadBalancer address; the
announcing node is cut off (process killed, link down) and the address must answer again from another node."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_fixtures import wait_for

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.skipif(
    os.environ.get("MICROK8S_DOUBLE_NETNS") != "1" or os.geteuid() != 0, reason="opt-in: root, MICROK8S_DOUBLE_NETNS=1"
)


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=20).stdout


def curl(namespace: str, url: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "curl", "-s", "-m", "1", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return done.stdout


def holder(namespaces: dict[str, str]) -> str | None:
    held = [n for n, ns in namespaces.items() if "10.99.0.240/32" in sh("ip", "netns", "exec", ns, "ip", "-o", "addr")]
    return held[0] if len(held) == 1 else None


def test_the_load_balancer_address_moves_to_a_live_node_within_seconds(tmp_path):
    tag = f"{random.randint(0, 0xFFFF):04x}"
    switch, client = f"w3sw{tag}", f"w3c{tag}"
    nodes = {f"n{k}": f"w3n{k}{tag}" for k in (1, 2, 3)}
    created, processes = [], {}
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    try:
        for namespace in [switch, client, *nodes.values()]:
            sh("ip", "netns", "add", namespace)
            created.append(namespace)
        sh("ip", "netns", "exec", switch, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", switch, "ip", "link", "set", "br0", "up")
        hosts = [(ns, f"10.99.0.1{k + 1}") for k, ns in enumerate(nodes.values())] + [(client, "10.99.0.200")]
        for port, (namespace, ip) in enumerate(hosts):
            sh(
                "ip",
                "link",
                "add",
                "eth0",
                "netns",
                namespace,
                "type",
                "veth",
                "peer",
                "name",
                f"p{port}",
                "netns",
                switch,
            )
            sh("ip", "netns", "exec", switch, "ip", "link", "set", f"p{port}", "master", "br0", "up")
            for command in (
                ["addr", "add", f"{ip}/24", "dev", "eth0"],
                ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"],
                ["route", "add", "default", "via", "10.99.0.1"],
            ):
                sh("ip", "netns", "exec", namespace, "ip", *command)
        for name, namespace in nodes.items():
            log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            processes[name] = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    namespace,
                    sys.executable,
                    str(HERE / "netns_node.py"),
                    name,
                    str(tmp_path / name),
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        first = wait_for(lambda: holder(nodes), timeout=20, what="one announcer")
        assert wait_for(lambda: curl(client, "http://10.99.0.240:8081/"), what="an answer").startswith("hello from")
        cut = time.monotonic()
        processes.pop(first).kill()
        sh("ip", "netns", "exec", nodes[first], "ip", "link", "set", "eth0", "down")
        answer = wait_for(lambda: curl(client, "http://10.99.0.240:8081/"), timeout=10, what="an answer after the cut")
        assert answer.startswith("hello from") and time.monotonic() - cut < 10
        assert holder({n: ns for n, ns in nodes.items() if n != first}) is not None
    finally:
        for process in processes.values():
            process.kill()
        for namespace in created:
            subprocess.run(["ip", "netns", "del", namespace], check=False)
