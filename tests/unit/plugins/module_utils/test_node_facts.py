# SPDX-License-Identifier: GPL-3.0-or-later
"""The host facts node_info returns instead of a setup run: read as setup's Linux collectors read them (the lab test
tests/lab/scenarios/test_node_facts.py compares both on every lab node)."""

from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.module_utils import _node_facts as facts
from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers

# A PC on a home LAN: Wi-Fi with the default route, a second address on it (keepalived's VIP), a Docker bridge
# without a broadcast address, Calico's VXLAN device and loopback.
ADDR = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "2: enp3s0    inet 192.168.0.21/24 brd 192.168.0.255 scope global dynamic noprefixroute enp3s0\\"
    "       valid_lft 86109sec preferred_lft 86109sec\n"
    "2: enp3s0    inet 192.168.0.10/32 scope global enp3s0:vip\\       valid_lft forever preferred_lft forever\n"
    "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever\n"
    "7: vxlan.calico    inet 10.1.0.0/32 scope global vxlan.calico\\       valid_lft forever preferred_lft forever\n"
)
ROUTE = "8.8.8.8 via 192.168.0.1 dev enp3s0 src 192.168.0.21 uid 0 \n    cache \n"


def test_the_default_route_and_its_address_as_setup_reads_them():
    read = facts.host_facts("pc1.home.arpa", "Linux", "x86_64", ["lo", "enp3s0", "docker0"], ROUTE, ADDR)
    assert read["hostname"] == "pc1"
    assert read["system"] == "Linux" and read["architecture"] == "x86_64"
    assert read["default_ipv4"] == {
        "interface": "enp3s0",
        "address": "192.168.0.21",
        "gateway": "192.168.0.1",
        "netmask": "255.255.255.0",
        "network": "192.168.0.0",
        "prefix": "24",
        "broadcast": "192.168.0.255",
        "alias": "enp3s0",
    }
    assert read["all_ipv4_addresses"] == ["192.168.0.21", "192.168.0.10", "172.17.0.1", "10.1.0.0"]
    assert read["interfaces"] == ["docker0", "enp3s0", "lo"]


def test_a_route_from_a_secondary_address_takes_that_addresss_network():
    route = "8.8.8.8 via 172.17.0.254 dev docker0 src 172.17.0.1 uid 0\n"
    read = facts.host_facts("pc1", "Linux", "x86_64", [], route, ADDR)
    assert read["default_ipv4"]["network"] == "172.17.0.0" and read["default_ipv4"]["netmask"] == "255.255.0.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("RTNETLINK answers: Network is unreachable\n", {}),
        ("8.8.8.8 dev wg0 src 10.6.0.2 uid 0\n", {"interface": "wg0", "address": "10.6.0.2"}),
        ("8.8.8.8 via 8.8.8.8 dev eth0 src 10.0.0.5\n", {"interface": "eth0", "address": "10.0.0.5"}),
    ],
    ids=["nothing", "no-route", "no-gateway", "via-the-probe"],
)
def test_route_get_is_read_as_setup_reads_it(text, expected):
    assert facts.parse_route_get(text) == expected


def test_no_default_route_gives_no_default_ipv4():
    assert facts.host_facts("pc1", "Linux", "aarch64", [], "", ADDR)["default_ipv4"] == {}


@pytest.mark.parametrize(("machine", "expected"), [("i686", "i386"), ("aarch64", "aarch64"), ("armv7l", "armv7l")])
def test_architecture_as_setup_names_it(machine, expected):
    assert facts.architecture(machine) == expected


def test_the_names_of_a_marked_hosts_block():
    marker = "# {mark} onprem.microk8s cluster nodes"
    text = (
        "127.0.0.1 localhost\n127.0.1.1 node2\n"
        "# BEGIN onprem.microk8s cluster nodes\n10.77.0.11 node1\n10.77.0.12 node2 node2.lan\n"
        "# END onprem.microk8s cluster nodes\n10.0.0.9 other\n"
    )
    assert parsers.parse_hosts_block_names(text, marker) == ["node1", "node2", "node2.lan"]
    assert parsers.parse_hosts_block_names("127.0.0.1 localhost\n", marker) == []
    # an unclosed block counts as none (blockinfile would write it again)
    assert parsers.parse_hosts_block_names("# BEGIN onprem.microk8s cluster nodes\n10.77.0.11 node1\n", marker) == []
