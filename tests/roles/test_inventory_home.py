# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/home, as Ansible reads it: become only on the nodes, a current channel, MetalLB outside DHCP."""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import pathlib
import subprocess
import sys

from ansible_collections.onprem.microk8s.plugins.filter.cluster_checks import metallb_range_problems
from ansible_collections.onprem.microk8s.plugins.filter.microk8s_checks import channel_minor, channel_problems

HOME = pathlib.Path(__file__).parents[2] / "inventories" / "home"
#: The seed's router hands out these addresses (inventories/home/group_vars/all.yml says so).
DHCP_POOL = (ipaddress.ip_address("192.168.0.100"), ipaddress.ip_address("192.168.0.199"))


@functools.lru_cache(maxsize=None)
def _inventory(*args):
    """What ansible-inventory says (a separate process: Ansible's inventory machinery keeps global state)."""
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", str(HOME), *args]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def _vars(name):
    return _inventory("--host", name)


def _group(name):
    return _inventory("--list").get(name, {}).get("hosts", [])


def test_become_reaches_the_nodes_but_not_the_controller():
    nodes = _group("masters") + _group("workers")
    assert nodes
    for node in nodes:
        assert _vars(node).get("ansible_become") is True, node
    # delegate_to: localhost tasks run on the controller's implicit localhost, which inherits `all`'s variables
    assert _vars("localhost").get("ansible_connection") == "local"
    assert not _vars("localhost").get("ansible_become")
    assert not _vars("raspberrypi").get("ansible_become")


def test_the_channel_is_current():
    channel = _vars("node-100")["microk8s_node_channel"]
    assert channel_problems(channel) == []
    assert channel_minor(channel) >= 32, "1.20 is end of life and cannot check the join fingerprint"


def test_the_metallb_range_is_usable_and_outside_the_dhcp_pool():
    pools = _vars("node-100")["ha_join_metallb_range"]
    nodes = [_vars(n)["ansible_host"] for n in _group("masters")]
    assert metallb_range_problems(pools, "192.168.0.0/24", nodes, "192.168.0.1") == []
    for pool in pools.split(","):
        first, last = (ipaddress.ip_address(a) for a in pool.split("-"))
        assert last < DHCP_POOL[0] or first > DHCP_POOL[1], pool
