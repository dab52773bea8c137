# SPDX-License-Identifier: GPL-3.0-or-later
"""`add-node` and `join` output parsing against the recorded outputs in fixtures/add-node and fixtures/join."""

from __future__ import annotations

import os

import pytest

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
TOKEN = "5f1a0c3e9b7d42a6c8e0f3b1d9a7c5e2"
FP = "2f3bd07a6f1e"


def fixture(command, name):
    with open(os.path.join(FIXTURES, command, name + ".txt")) as handle:
        return handle.read()


def url(host, fingerprint=FP):
    return "%s:25000/%s" % (host, TOKEN) + ("/" + fingerprint if fingerprint else "")


# fixture, expected urls in order, fingerprint, worker hint
ADD_NODE = [
    ("1.20-pretty", [url("10.77.0.11", None), url("10.77.1.11", None)], None, False),
    ("1.22-pretty", [url("10.77.0.11"), url("10.77.1.11")], FP, False),
    ("1.23-pretty", [url("10.77.0.11"), url("10.77.1.11")], FP, True),
    ("1.28-json", [url("10.77.1.11"), url("10.77.0.11")], FP, False),
]


@pytest.mark.parametrize(
    "name, urls, fingerprint, worker_hint", ADD_NODE, ids=["add-node-%s" % case[0] for case in ADD_NODE]
)
def test_parse_add_node(name, urls, fingerprint, worker_hint):
    parsed = parsers.parse_add_node(fixture("add-node", name))
    assert parsed == {"urls": urls, "token": TOKEN, "fingerprint": fingerprint, "worker_hint": worker_hint}


@pytest.mark.parametrize("name", ["1.28-worker", "1.20-stopped", "1.28-fresh-install"])
def test_add_node_refusals_have_no_urls(name):
    assert parsers.parse_add_node(fixture("add-node", name))["urls"] == []


# fixture, rc, stream, expected kind
JOIN_FAILURES = [
    ("1.20-invalid-token", 1, "stdout", "invalid_token"),
    ("1.28-invalid-token", 6, "stdout", "invalid_token"),
    ("1.28-already-known", 6, "stdout", "already_member"),
    ("1.32-already-known", 6, "stdout", "already_member"),
    ("1.28-same-ip", 6, "stdout", "same_ip"),
    ("1.28-hostname-unresolved", 6, "stdout", "hostname_unresolved"),
    ("1.28-not-ha", 6, "stdout", "not_ha"),
    ("1.28-fingerprint", 4, "stdout", "fingerprint"),
    ("1.32-invalid-connection", 1, "stdout", "invalid_connection"),
    ("1.28-low-memory", 1, "stdout", "low_memory"),
    ("1.27-version-skew", 6, "stdout", "version_skew"),
    ("1.28-unreachable-traceback", 1, "stderr", "unreachable"),
    ("1.20-unreachable", 1, "stdout", "unreachable"),
    ("1.20-worker-option", 2, "stdout", "unknown_option"),
    ("1.28-unknown-auth-mode", 7, "stdout", "unknown"),
]


@pytest.mark.parametrize("name, rc, stream, kind", JOIN_FAILURES, ids=["join-%s" % case[0] for case in JOIN_FAILURES])
def test_classify_join_failure(name, rc, stream, kind):
    text = fixture("join", name)
    out, err = (text, "") if stream == "stdout" else ("", text)
    assert not parsers.join_succeeded(rc, out)
    found, advice = parsers.classify_join_failure(rc, out, err)
    assert found == kind
    assert advice and TOKEN not in advice


@pytest.mark.parametrize(
    "name",
    ["1.20-success-control-plane", "1.28-success-control-plane", "1.28-success-worker", "1.32-success-control-plane"],
)
def test_join_success_outputs(name):
    assert parsers.join_succeeded(0, fixture("join", name))


@pytest.mark.parametrize(
    "text, parts",
    [
        (
            "10.77.0.11:25000/%s/%s" % (TOKEN, FP),
            {"host": "10.77.0.11", "port": 25000, "token": TOKEN, "fingerprint": FP},
        ),
        ("pc1:25001/%s" % TOKEN, {"host": "pc1", "port": 25001, "token": TOKEN, "fingerprint": None}),
        ("10.77.0.11/%s" % TOKEN, None),
        ("10.77.0.11:25000/%s/XYZ" % TOKEN, None),
    ],
    ids=["ip-port-token-fp", "host-port-token", "no-port", "bad-fingerprint"],
)
def test_parse_join_url(text, parts):
    assert parsers.parse_join_url(text) == parts
