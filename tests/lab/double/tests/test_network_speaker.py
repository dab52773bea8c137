# SPDX-License-Identifier: GPL-3.0-or-later
"""MetalLB's layer-2 speaker: who announces, what it runs, the ARP frame, and liveness between speakers."""

from __future__ import annotations

import hashlib
import time

from microk8s_double.network import speaker
from network_fakes import FakeRunner, free_port

ADDRESSES = "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 10.77.0.12/24 brd 10.77.0.255 scope global eth0\n"


def lb(name, ip, policy="Cluster"):
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


def test_the_announcer_is_the_first_live_node_by_hash_and_the_next_one_when_it_dies():
    nodes = ["node1", "node2", "node3", "node4"]
    ranked = sorted(nodes, key=lambda n: hashlib.sha256(f"{n}#10.77.0.240".encode()).digest())
    assert speaker.announcer("10.77.0.240", nodes) == ranked[0]
    assert speaker.announcer("10.77.0.240", [n for n in nodes if n != ranked[0]]) == ranked[1]
    assert speaker.announcer("10.77.0.240", []) is None
    spread = {speaker.announcer(f"10.77.0.{n}", nodes) for n in range(240, 251)}
    assert len(spread) > 1  # different addresses land on different nodes


def test_assignments_follow_the_traffic_policy():
    endpoints = {
        "metadata": {"name": "local", "namespace": "default"},
        "subsets": [
            {
                "addresses": [{"ip": "10.1.2.5", "nodeName": "node3"}],
                "notReadyAddresses": [{"ip": "10.1.1.5", "nodeName": "node2"}],
            }
        ],
    }
    services = [lb("cluster", "10.77.0.240"), lb("local", "10.77.0.241", "Local"), lb("pending", None)]
    services[2]["status"] = {}
    alive = {"node1", "node2", "node3"}
    chosen = speaker.assignments(services, [endpoints], alive)
    assert chosen == {"10.77.0.240": speaker.announcer("10.77.0.240", sorted(alive)), "10.77.0.241": "node3"}
    assert speaker.assignments(services, [endpoints], {"node1", "node2"}) == {
        "10.77.0.240": speaker.announcer("10.77.0.240", ["node1", "node2"])
    }


def test_gratuitous_arp_frame():
    mac = bytes.fromhex("00163e000012")
    frame = speaker.gratuitous_arp(mac, "10.77.0.240")
    ip = bytes([10, 77, 0, 240])
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")  # Ethernet/IPv4, request
    assert frame[22:28] == mac and frame[28:32] == ip and frame[32:38] == b"\xff" * 6 and frame[38:42] == ip


def test_announce_adds_its_addresses_with_a_gratuitous_arp_and_drops_the_others():
    held = ADDRESSES.splitlines()[1] + "\n2: eth0    inet 10.77.0.241/32 scope global eth0\n"
    runner = FakeRunner(
        {("ip", "-4", "-o", "addr", "show", "dev"): (0, held), ("ip", "-4", "-o", "addr"): (0, ADDRESSES)}
    )
    sent = []
    node = speaker.Speaker("node2", "10.77.0.12", runner, send=lambda iface, frame: sent.append((iface, frame)))
    node.gratuitous = lambda iface, ip: sent.append((iface, ip))
    wanted = {"10.77.0.240": "node2", "10.77.0.241": "node1", "10.77.0.242": "node2"}
    node.announce(wanted, lambda ip: ip.startswith("10.77.0.24"))
    changes = [c for c in runner.commands if c[:3] in (("ip", "addr", "add"), ("ip", "addr", "del"))]
    assert changes == [
        ("ip", "addr", "del", "10.77.0.241/32", "dev", "eth0"),
        ("ip", "addr", "add", "10.77.0.240/32", "dev", "eth0"),
        ("ip", "addr", "add", "10.77.0.242/32", "dev", "eth0"),
    ]
    assert sent == [("eth0", "10.77.0.240"), ("eth0", "10.77.0.242")]


def held_runner(held):
    answers = {("ip", "-4", "-o", "addr", "show", "dev"): (0, held), ("ip", "-4", "-o", "addr"): (0, ADDRESSES)}
    return FakeRunner(answers)


def test_gratuitous_arps_follow_metallbs_spam_loop_at_once_then_every_1_1_s_for_5_s():
    now = [100.0]
    node = speaker.Speaker("node2", "10.77.0.12", held_runner(ADDRESSES), clock=lambda: now[0])
    sent = []
    node.gratuitous = lambda iface, ip: sent.append(now[0] - 100.0)
    for step in range(25):  # the speak loop's 0.5 s rounds for 12 s
        now[0] = 100.0 + step * 0.5
        node.announce({"10.77.0.240": "node2"}, lambda ip: ip.startswith("10.77.0.24"))
        if step == 0:  # from the second round on, the interface holds it
            node.runner.answers[("ip", "-4", "-o", "addr", "show", "dev")] = (
                0, ADDRESSES.splitlines()[1] + "\n2: eth0    inet 10.77.0.240/32 scope global eth0\n")  # fmt: skip
    assert sent == [0.0, 1.5, 2.5, 3.5, 4.5]  # due at 0, 1.1, 2.2, 3.3, 4.4 (rounds every 0.5 s); none after 5 s


def test_a_restarted_speaker_announces_an_address_the_interface_still_holds():
    """kubelite restarted: the new speaker finds its address on the interface (the old one left it there) while the
    next node took it and turned the LAN's ARP caches to itself meanwhile. MetalLB's speaker starts with no
    address announced and spams gratuitous ARPs for each it takes: so must the double's, or clients keep sending
    to the other node."""
    held = ADDRESSES + "2: eth0    inet 10.77.0.240/32 scope global eth0\n"
    sent = []
    restarted = speaker.Speaker("node2", "10.77.0.12", held_runner(held))
    restarted.gratuitous = lambda iface, ip: sent.append((iface, ip))
    restarted.announce({"10.77.0.240": "node2"}, lambda ip: ip.startswith("10.77.0.24"))
    assert [c for c in restarted.runner.commands if c[1] == "addr" and c[2] in ("add", "del")] == []
    assert sent == [("eth0", "10.77.0.240")]


def test_an_address_lost_and_taken_again_is_announced_again():
    now = [0.0]
    held = ADDRESSES + "2: eth0    inet 10.77.0.240/32 scope global eth0\n"
    node = speaker.Speaker("node2", "10.77.0.12", held_runner(held), clock=lambda: now[0])
    sent = []
    node.gratuitous = lambda iface, ip: sent.append(now[0])

    def pool(ip):
        return ip.startswith("10.77.0.24")

    node.announce({"10.77.0.240": "node2"}, pool)
    now[0] = 10.0  # spam over; then the address goes to node1 and comes back
    node.announce({"10.77.0.240": "node2"}, pool)
    node.runner.answers[("ip", "-4", "-o", "addr", "show", "dev")] = (0, ADDRESSES)
    node.announce({"10.77.0.240": "node1"}, pool)
    now[0] = 11.0
    node.announce({"10.77.0.240": "node2"}, pool)
    assert sent == [0.0, 11.0]


def test_announce_keeps_what_it_holds_and_leaves_foreign_addresses_alone():
    held = "2: eth0    inet 10.77.0.240/32 scope global eth0\n2: eth0    inet 10.9.9.9/32 scope global eth0\n"
    runner = FakeRunner(
        {("ip", "-4", "-o", "addr", "show", "dev"): (0, held), ("ip", "-4", "-o", "addr"): (0, ADDRESSES)}
    )
    node = speaker.Speaker("node2", "10.77.0.12", runner)
    node.announce({"10.77.0.240": "node2"}, lambda ip: ip.startswith("10.77.0.24"))
    assert [c for c in runner.commands if c[1] == "addr" and c[2] in ("add", "del")] == []


def test_members_see_each_other_and_notice_a_silent_one():
    port = free_port()
    first = speaker.Members("127.0.0.1", port, dead_after=0.6)
    second = speaker.Members("127.0.0.2", port, dead_after=0.6)
    try:
        first.set_peers({"node2": "127.0.0.2"})
        second.set_peers({"node1": "127.0.0.1"})
        assert first.alive() == {"node2"}  # a new peer is given time to answer
        for _unused in range(4):
            first.ping()
            second.ping()
            time.sleep(0.1)
        assert first.alive() == {"node2"} and second.alive() == {"node1"}
        second.close()
        deadline = time.monotonic() + 5
        while first.alive() and time.monotonic() < deadline:
            first.ping()
            time.sleep(0.1)
        assert first.alive() == set()
    finally:
        first.close()
        second.close()


HOLDS_240 = "2: eth0    inet 10.77.0.240/32 scope global eth0\n"


def test_the_interface_is_read_again_only_when_the_assignment_changes_or_after_the_reread_interval():
    now = [0.0]
    node = speaker.Speaker("node2", "10.77.0.12", held_runner(ADDRESSES), clock=lambda: now[0])
    node.gratuitous = lambda iface, ip: None

    def reads():
        return len([c for c in node.runner.commands if c[:6] == ("ip", "-4", "-o", "addr", "show", "dev")])

    def pool(ip):
        return ip.startswith("10.77.0.24")

    node.announce({"10.77.0.240": "node2"}, pool)
    node.runner.answers[("ip", "-4", "-o", "addr", "show", "dev")] = (0, ADDRESSES + HOLDS_240)  # as `ip` added it
    for step in range(1, 10):  # the speak loop's 0.5 s rounds, nothing changes
        now[0] = step * 0.5
        node.announce({"10.77.0.240": "node2"}, pool)
    assert reads() == 1
    node.announce({"10.77.0.240": "node1"}, pool)  # the assignment moved: read, and withdraw
    assert reads() == 2 and ("ip", "addr", "del", "10.77.0.240/32", "dev", "eth0") in node.runner.commands
    now[0] = speaker.REREAD_INTERVAL + 5
    node.announce({"10.77.0.240": "node1"}, pool)
    assert reads() == 3
