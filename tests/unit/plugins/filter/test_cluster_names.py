# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster_names role's filters: input problems, the CoreDNS block and its place in MicroK8s' Corefile (a re-run
finds it in place; nothing else of the Corefile changes), the router records and dnsmasq's arguments."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.cluster_names import (
    coredns_block,
    corefile_with_block,
    dns_services_plan,
    dnsmasq_args,
    names_problems,
    router_records,
)

# The dns addon's Corefile (canonical/microk8s microk8s-resources/actions/coredns.yaml), upstream filled in.
MICROK8S_COREFILE = """.:53 {
    errors
    health {
      lameduck 5s
    }
    ready
    log . {
      class error
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . 8.8.8.8 8.8.4.4
    cache 30
    loop
    reload
    loadbalance
}
"""


def test_the_block_answers_each_app_with_the_ingress_address():
    block = coredns_block("home.arpa", ["hello", "grafana"], "10.77.0.240")
    assert block.splitlines()[0] == "home.arpa:53 {"
    assert "        10.77.0.240 hello.home.arpa" in block.splitlines()
    assert "        10.77.0.240 grafana.home.arpa" in block.splitlines()
    assert "forward" not in block  # nothing of the domain goes upstream
    assert block.count("{") == block.count("}")


def test_the_block_is_appended_once_and_a_rerun_finds_it_in_place():
    block = coredns_block("home.arpa", ["hello"], "10.77.0.240")
    once = corefile_with_block(MICROK8S_COREFILE, block)
    assert once.startswith(MICROK8S_COREFILE)  # the addon's server block untouched
    assert once.count("home.arpa:53 {") == 1
    assert corefile_with_block(once, block) == once


def test_a_new_address_replaces_the_block_in_place():
    once = corefile_with_block(MICROK8S_COREFILE, coredns_block("home.arpa", ["hello"], "10.77.0.240"))
    moved = corefile_with_block(once, coredns_block("home.arpa", ["hello"], "10.77.0.241"))
    assert "10.77.0.240" not in moved and "10.77.0.241 hello.home.arpa" in moved
    assert moved.count("BEGIN onprem.microk8s cluster_names") == 1
    assert corefile_with_block(moved, "") == MICROK8S_COREFILE  # removed: the addon's Corefile as it was


def test_a_user_edit_after_the_block_is_kept():
    once = corefile_with_block(MICROK8S_COREFILE, coredns_block("home.arpa", ["hello"], "10.77.0.240"))
    edited = once + "lan:53 {\n    forward . 192.0.2.1\n}\n"
    again = corefile_with_block(edited, coredns_block("home.arpa", ["hello", "api"], "10.77.0.240"))
    assert again.endswith("lan:53 {\n    forward . 192.0.2.1\n}\n") and "api.home.arpa" in again


@pytest.mark.parametrize(
    ("domain", "apps", "address", "fragment"),
    [
        ("Home.Arpa", ["hello"], "", "is not a DNS name"),
        ("home..arpa", ["hello"], "", "is not a DNS name"),
        ("home.arpa", [], "", "is empty"),
        ("home.arpa", ["hello_app"], "", "is not a DNS label"),
        ("home.arpa", ["-x"], "", "is not a DNS label"),
        ("home.arpa", ["hello"], "10.0.0.300", "is not an IPv4 address"),
    ],
)
def test_bad_input_is_named(domain, apps, address, fragment):
    problems = names_problems(domain, apps, address)
    assert len(problems) == 1 and fragment in problems[0]


def test_good_input_has_no_problem():
    assert names_problems("home.arpa", ["hello", "my-app2"], "10.77.0.250") == []
    assert names_problems("iot.example.org.", ["hello"], "") == []


def test_router_records_and_dnsmasq_args_name_the_same_hosts():
    records = router_records("home.arpa", ["hello"], "10.77.0.240")
    assert records == ["hello.home.arpa. 300 IN A 10.77.0.240", "host-record=hello.home.arpa,10.77.0.240"]
    args = dnsmasq_args("home.arpa", ["hello"], "10.77.0.240")
    assert "--host-record=hello.home.arpa,10.77.0.240" in args
    assert "--no-resolv" in args and "--local=/home.arpa/" in args  # no upstream: not an open resolver
    assert not [a for a in args if a.startswith("--server")]


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq (Debian dnsmasq-base) is not installed")
def test_dnsmasq_with_these_arguments_answers_the_apps_and_nothing_else():
    pytest.importorskip("dns.message")
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [a for a in dnsmasq_args("home.arpa", ["hello"], "10.77.0.240") if not a.startswith("--port")]
    server = subprocess.Popen(
        ["dnsmasq", *args, f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ask(name, rdtype="A"):
            for _attempt in range(50):
                try:
                    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=0.2)
                except (OSError, dns.exception.Timeout):
                    time.sleep(0.1)
            raise AssertionError("dnsmasq did not answer")

        hello = ask("hello.home.arpa")
        assert [r.to_text() for r in hello.answer] == ["hello.home.arpa. 60 IN A 10.77.0.240"]
        assert ask("other.home.arpa").rcode() == dns.rcode.NXDOMAIN
        assert ask("example.org").rcode() == dns.rcode.REFUSED  # nothing forwarded
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- the LAN DNS server's Services per version ----------------------------------------------------------------------


def lan_service(name, ip=None):
    status = {"loadBalancer": {"ingress": [{"ip": ip}]}} if ip else {}
    return {"metadata": {"name": name}, "status": status}


@pytest.mark.parametrize("version", ["v1.20.15", "v1.23.17", "1.23"])
def test_before_1_24_udp_and_tcp_are_two_services_sharing_one_key(version):
    plan = dns_services_plan([], version)
    assert plan["layout"] == "split" and plan["problems"] == [] and plan["stale"] == [] and plan["address"] == ""
    assert [(s["name"], s["protocols"]) for s in plan["services"]] == [
        ("onprem-names-dns-udp", ["UDP"]),
        ("onprem-names-dns-tcp", ["TCP"]),
    ]
    assert {s["sharing_key"] for s in plan["services"]} == {"onprem-names-dns"}


@pytest.mark.parametrize("version", ["v1.24.17", "v1.32.3", "v1.36.0"])
def test_from_1_24_one_service_carries_both(version):
    plan = dns_services_plan([], version)
    assert plan["layout"] == "mixed" and plan["problems"] == []
    assert plan["services"] == [{"name": "onprem-names-dns", "protocols": ["UDP", "TCP"], "sharing_key": ""}]


def test_an_upgrade_to_1_24_removes_the_split_services_and_keeps_their_address():
    existing = [lan_service("onprem-names-dns-udp", "10.77.0.242"), lan_service("onprem-names-dns-tcp", "10.77.0.242")]
    plan = dns_services_plan(existing, "v1.24.17")
    assert plan["stale"] == ["onprem-names-dns-tcp", "onprem-names-dns-udp"]
    assert plan["address"] == "10.77.0.242"
    assert dns_services_plan(existing, "v1.24.17", "auto", "10.77.0.245")["address"] == "10.77.0.245"  # asked
    assert dns_services_plan(existing, "v1.23.17")["stale"] == []  # same layout: nothing goes, nothing is pinned
    assert dns_services_plan(existing, "v1.23.17")["address"] == ""


def test_a_downgrade_or_forced_split_removes_the_mixed_service():
    existing = [lan_service("onprem-names-dns", "10.77.0.241")]
    plan = dns_services_plan(existing, "v1.32.3", "split")
    assert plan["layout"] == "split" and plan["stale"] == ["onprem-names-dns"] and plan["address"] == "10.77.0.241"
    assert dns_services_plan(existing, "v1.32.3")["stale"] == []


def test_mixed_is_refused_before_1_24_with_the_reason_and_the_way_out():
    problems = dns_services_plan([], "v1.23.17", "mixed")["problems"]
    assert len(problems) == 1
    assert "MixedProtocolLBService" in problems[0] and "use auto" in problems[0] and "v1.23.17" in problems[0]
    assert dns_services_plan([], "v1.24.0", "mixed")["problems"] == []


def test_bad_layouts_and_unknown_versions_are_problems():
    assert "is not one of auto, mixed, split" in dns_services_plan([], "v1.28.1", "both")["problems"][0]
    assert "cannot tell the Kubernetes version" in dns_services_plan([], "", "auto")["problems"][0]
    assert dns_services_plan([], "v1.28.1", "split")["layout"] == "split"
