# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/home, as Ansible reads it: become only on the nodes, a current channel, MetalLB outside DHCP."""

from __future__ import annotations

import ipaddress
import pathlib

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.onprem.microk8s.plugins.filter.cluster_checks import metallb_range_problems
from ansible_collections.onprem.microk8s.plugins.filter.microk8s_checks import channel_minor, channel_problems

HOME = pathlib.Path(__file__).parents[3] / "inventories" / "home"
#: The seed's router hands out these addresses (inventories/home/group_vars/all.yml says so).
DHCP_POOL = (ipaddress.ip_address("192.168.0.100"), ipaddress.ip_address("192.168.0.199"))


@pytest.fixture(scope="module")
def home():
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(HOME)])
    return inventory, VariableManager(loader=loader, inventory=inventory)


def _vars(home, name):
    inventory, variables = home
    host = inventory.get_host(name) or inventory.localhost or inventory.get_host("localhost")
    return variables.get_vars(host=host)


def test_become_reaches_the_nodes_but_not_the_controller(home):
    inventory, _variables = home
    for node in inventory.get_groups_dict()["masters"] + inventory.get_groups_dict().get("workers", []):
        assert _vars(home, node).get("ansible_become") is True, node
    # delegate_to: localhost tasks run on the controller's implicit localhost, which inherits `all`'s variables
    assert not _vars(home, "localhost").get("ansible_become")
    assert not _vars(home, "raspberrypi").get("ansible_become")


def test_the_channel_is_current(home):
    channel = _vars(home, "node-100")["microk8s_node_channel"]
    assert channel_problems(channel) == []
    assert channel_minor(channel) >= 32, "1.20 is end of life and cannot check the join fingerprint"


def test_the_metallb_range_is_usable_and_outside_the_dhcp_pool(home):
    variables = _vars(home, "node-100")
    pools = variables["ha_join_metallb_range"]
    nodes = [_vars(home, n)["ansible_host"] for n in home[0].get_groups_dict()["masters"]]
    assert metallb_range_problems(pools, "192.168.0.0/24", nodes, "192.168.0.1") == []
    for pool in pools.split(","):
        first, last = (ipaddress.ip_address(a) for a in pool.split("-"))
        assert last < DHCP_POOL[0] or first > DHCP_POOL[1], pool
