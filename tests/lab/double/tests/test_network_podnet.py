# SPDX-License-Identifier: GPL-3.0-or-later
"""The pod network's commands (run through a recording runner: no root needed) and its address bookkeeping."""

from __future__ import annotations

from microk8s_double.network import podnet
from network_fakes import FakeRunner

UID = "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
NO_NETNS = {("ip", "netns", "exec"): (1, "")}


def node(name, ip, cidr=None):
    spec = {"podCIDR": cidr} if cidr else {}
    return {"metadata": {"name": name}, "spec": spec, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def test_a_pod_gets_the_lowest_free_address_a_netns_and_a_calico_style_veth(tmp_path):
    runner = FakeRunner(NO_NETNS)
    network = podnet.PodNetwork(runner, tmp_path / "podnet.json")
    assert network.attach(UID, "10.1.3.0/24") == "10.1.3.1"
    assert ("ip", "netns", "add", "pod-0f1e2d3c") in runner.commands
    assert (
        "ip",
        "link",
        "add",
        "cali0f1e2d3c",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        "pod-0f1e2d3c",
    ) in runner.commands
    assert ("ip", "route", "replace", "10.1.3.1/32", "dev", "cali0f1e2d3c") in runner.commands
    inside = [c[4:] for c in runner.commands if c[:4] == ("ip", "netns", "exec", "pod-0f1e2d3c")]
    assert ("ip", "addr", "add", "10.1.3.1/32", "dev", "eth0") in inside
    assert ("ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0") in inside
    assert network.attach("another-uid", "10.1.3.0/24") == "10.1.3.2"


def test_attach_is_idempotent_and_addresses_survive_a_restart(tmp_path):
    state = tmp_path / "podnet.json"
    podnet.PodNetwork(FakeRunner(NO_NETNS), state, tmp_path).attach(UID, "10.1.3.0/24")
    (tmp_path / "pod-0f1e2d3c").touch()  # what `ip netns add` leaves
    ready = FakeRunner()  # the pod's eth0 answers: nothing to set up
    again = podnet.PodNetwork(ready, state, tmp_path)
    assert again.attach(UID, "10.1.3.0/24") == "10.1.3.1"
    assert all(c[:3] != ("ip", "netns", "add") for c in ready.commands)
    (tmp_path / "pod-0f1e2d3c").unlink()  # a reboot empties /run/netns: set up again, same address
    rebooted = FakeRunner()
    assert podnet.PodNetwork(rebooted, state, tmp_path).attach(UID, "10.1.3.0/24") == "10.1.3.1"
    assert ("ip", "netns", "add", "pod-0f1e2d3c") in rebooted.commands
    assert again.attach(UID, "10.1.9.0/24") == "10.1.9.1"  # the node's pod CIDR changed


def test_detach_removes_the_netns_and_frees_the_address(tmp_path):
    runner = FakeRunner(NO_NETNS)
    network = podnet.PodNetwork(runner, tmp_path / "podnet.json")
    network.attach(UID, "10.1.3.0/24")
    network.detach(UID)
    assert runner.commands[-2:] == [("ip", "route", "del", "10.1.3.1/32"), ("ip", "netns", "del", "pod-0f1e2d3c")]
    assert network.allocations() == {}
    assert network.attach("next", "10.1.3.0/24") == "10.1.3.1"
    network.detach("unknown")  # nothing to undo
    assert runner.commands[-1][:3] != ("ip", "netns", "del")


def test_routes_to_the_other_nodes_pod_cidrs_are_brought_in_line(tmp_path):
    nodes = [
        node("node1", "10.77.0.11", "10.1.0.0/24"),
        node("node2", "10.77.0.12", "10.1.1.0/24"),
        node("node3", "10.77.0.13", "10.1.2.0/24"),
        node("node4", "10.77.0.14"),
    ]
    assert podnet.node_routes("node1", nodes) == {"10.1.1.0/24": "10.77.0.12", "10.1.2.0/24": "10.77.0.13"}
    current = (
        "10.1.1.0/24 via 10.77.0.12 dev eth0 proto 80\n10.1.2.0/24 via 10.77.0.99 dev eth0 proto 80\n"
        "10.1.7.0/24 via 10.77.0.17 dev eth0 proto 80\n"
    )
    runner = FakeRunner({("ip", "-4", "-o", "route", "show"): (0, current)})
    network = podnet.PodNetwork(runner, tmp_path / "podnet.json")
    network.sync_node("node1", nodes)
    assert runner.commands[:2] == [
        ("sysctl", "-qw", "net.ipv4.ip_forward=1"),
        ("ip", "route", "replace", "local", "10.152.183.0/24", "dev", "lo"),
    ]
    assert runner.commands[3:] == [
        ("ip", "route", "del", "10.1.7.0/24", "proto", "80"),
        ("ip", "route", "replace", "10.1.2.0/24", "via", "10.77.0.13", "proto", "80"),
    ]
    network.sync_node("node1", nodes)
    assert ("sysctl", "-qw", "net.ipv4.ip_forward=1") not in runner.commands[5:]


def test_the_suite_mode_is_chosen_by_the_double_setting():
    assert podnet.uses_netns({}) and not podnet.uses_netns({"pod_network": "host"})
