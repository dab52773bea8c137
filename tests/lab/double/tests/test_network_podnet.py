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
        "mtu",
        "1450",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "mtu",
        "1450",
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


def test_other_nodes_pods_are_reached_through_vxlan_with_static_entries_brought_in_line(tmp_path):
    nodes = [
        node("node1", "10.77.0.11", "10.1.0.0/24"),
        node("node2", "10.77.0.12", "10.1.1.0/24"),
        node("node3", "10.77.0.13", "10.1.2.0/24"),
        node("node4", "10.77.0.14"),
    ]
    assert podnet.node_routes("node1", nodes) == {"10.1.1.0/24": "10.77.0.12", "10.1.2.0/24": "10.77.0.13"}
    current = (
        "10.1.1.0/24 via 10.1.1.0 dev vxlan.calico proto 80 onlink\n"
        "10.1.2.0/24 via 10.77.0.13 dev eth0 proto 80\n"  # host-gw, as an older double set it
        "10.1.7.0/24 via 10.1.7.0 dev vxlan.calico proto 80 onlink\n"
    )
    no_vtep = {("ip", "-o", "link", "show", "dev", "vxlan.calico"): (1, "")}
    runner = FakeRunner({("ip", "-4", "-o", "route", "show", "proto"): (0, current), **no_vtep})
    network = podnet.PodNetwork(runner, tmp_path / "podnet.json")
    network.peers = {"10.1.1.0/24": "10.77.0.12", "10.1.7.0/24": "10.77.0.17"}  # set up in an earlier round
    network.sync_node("node1", nodes)
    assert runner.commands[0] == ("sysctl", "-qw", "net.ipv4.ip_forward=1")
    setup = (("ip", "link", "add"), ("ip", "link", "set"), ("ip", "-4", "addr"), ("ip", "addr", "add"))
    vtep = [c for c in runner.commands if "vxlan.calico" in c and c[:3] in setup]
    assert vtep == [
        ("ip", "link", "add", "vxlan.calico", "type", "vxlan", "id", "4096", "dstport", "4789", "local", "10.77.0.11",
         "nolearning"),
        ("ip", "link", "set", "vxlan.calico", "address", "66:6b:0a:4d:00:0b", "mtu", "1450", "up"),
        ("ip", "-4", "addr", "flush", "dev", "vxlan.calico"),  # a tunnel address of an earlier pod CIDR goes
        ("ip", "addr", "add", "10.1.0.0/32", "dev", "vxlan.calico"),
    ]  # fmt: skip
    assert ("sysctl", "-qw", "net/ipv4/conf/vxlan.calico/rp_filter=0") in runner.commands
    changes = runner.commands[runner.commands.index(("ip", "-4", "-o", "route", "show", "proto", "80")) + 1 :]
    assert changes == [
        ("ip", "route", "del", "10.1.7.0/24", "proto", "80"),
        ("ip", "neigh", "del", "10.1.7.0", "dev", "vxlan.calico"),
        ("bridge", "fdb", "del", "66:6b:0a:4d:00:11", "dev", "vxlan.calico", "self"),
        (
            "ip",
            "neigh",
            "replace",
            "10.1.2.0",
            "lladdr",
            "66:6b:0a:4d:00:0d",
            "dev",
            "vxlan.calico",
            "nud",
            "permanent",
        ),
        (
            "bridge",
            "fdb",
            "replace",
            "66:6b:0a:4d:00:0d",
            "dev",
            "vxlan.calico",
            "dst",
            "10.77.0.13",
            "self",
            "permanent",
        ),
        ("ip", "route", "replace", "10.1.2.0/24", "via", "10.1.2.0", "dev", "vxlan.calico", "onlink", "proto", "80"),
    ]  # fmt: skip  (node2 is in place; node3 comes off host-gw; node4 has no pod CIDR yet)
    assert network.peers == {"10.1.1.0/24": "10.77.0.12", "10.1.2.0/24": "10.77.0.13"}
    runner.commands.clear()
    network.sync_node("node1", nodes)  # the VTEP is set up: only the routes are read again
    assert all(c[:3] != ("ip", "link", "add") and c[0] != "sysctl" for c in runner.commands)
    restarted = FakeRunner({("ip", "-4", "-o", "route", "show", "proto"): (0, current)})  # the device is there
    podnet.PodNetwork(restarted, tmp_path / "podnet.json").sync_node("node1", nodes)
    assert all(c[:3] != ("ip", "link", "add") for c in restarted.commands)
    assert ("ip", "addr", "add", "10.1.0.0/32", "dev", "vxlan.calico") in restarted.commands


def test_a_node_without_a_pod_cidr_sets_up_no_tunnel_and_a_stale_local_service_route_goes(tmp_path):
    runner = FakeRunner({("ip", "-4", "-o", "route", "show", "table", "local"): (0, "local 10.152.183.0/24 dev lo\n")})
    network = podnet.PodNetwork(runner, tmp_path / "podnet.json")
    network.sync_node("node4", [node("node4", "10.77.0.14")])
    assert ("ip", "route", "del", "local", "10.152.183.0/24", "dev", "lo", "table", "local") in runner.commands
    assert all("vxlan.calico" not in c for c in runner.commands)


def test_the_suite_mode_is_chosen_by_the_double_setting():
    assert podnet.uses_netns({}) and not podnet.uses_netns({"pod_network": "host"})


def test_traffic_leaving_the_pod_network_is_masqueraded_once_loaded(tmp_path):
    table = podnet.nat_outgoing_table()
    assert [r.text for r in table.rules] == ["ip saddr 10.1.0.0/16 ip daddr != 10.1.0.0/16 masquerade"]
    assert table.chains == {"postrouting": ("nat", "postrouting", 100)}

    class Kernel:
        def __init__(self):
            self.loaded, self.fail = [], True

        def replace(self, loaded):
            if self.fail:
                self.fail = False
                raise OSError("nf_tables not there yet")
            self.loaded.append(loaded.name)

    kernel = Kernel()
    nat = podnet.NatOutgoing(kernel)
    nat.sync()  # refused: retried next round
    nat.sync()
    nat.sync()  # loaded: not again
    assert kernel.loaded == ["calico-nat-outgoing"]
