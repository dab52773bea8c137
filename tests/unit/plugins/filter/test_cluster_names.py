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
