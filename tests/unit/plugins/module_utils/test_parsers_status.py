# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s status` parsing against the recorded outputs in fixtures/status (provenance in PROVENANCE.md)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "status")

V1 = "10.77.0.11:19001"
THREE_VOTERS = [V1, "10.77.0.12:19001", "10.77.0.13:19001"]

# fixture, rc, stream the text arrives on, expected: state, high_availability, datastore, enabled addons
CASES = [
    ("1.20-yaml-running-single", 0, "stdout", "running", False, ([V1], [], []), ["dns", "ha-cluster"]),
    ("1.20-pretty-running-single", 0, "stdout", "running", False, ([V1], [], []), ["dns", "ha-cluster"]),
    ("1.20-yaml-not-running", 0, "stdout", "not_running", False, ([V1], [], []), []),
    ("1.20-worker", 1, "stdout", "worker", False, ([], [], []), []),
    (
        "1.24-yaml-running-2-nodes",
        0,
        "stdout",
        "running",
        False,
        ([V1, "10.77.0.12:19001"], [], []),
        ["core/dns", "core/ha-cluster"],
    ),
    (
        "1.24-pretty-running-2-nodes",
        0,
        "stdout",
        "running",
        False,
        ([V1, "10.77.0.12:19001"], [], []),
        ["core/dns", "core/ha-cluster"],
    ),
    ("1.24-short-running-2-nodes", 0, "stdout", "running", False, ([], [], []), ["core/dns", "core/ha-cluster"]),
    ("1.24-worker", 0, "stdout", "worker", False, ([], [], []), []),
    ("1.24-stopped", 0, "stdout", "stopped", False, ([], [], []), []),
    (
        "1.28-yaml-running-ha-4-nodes",
        0,
        "stdout",
        "running",
        True,
        (THREE_VOTERS, ["10.77.0.14:19001"], []),
        ["core/dns", "core/ha-cluster", "core/metallb"],
    ),
    (
        "1.28-pretty-running-ha-4-nodes",
        0,
        "stdout",
        "running",
        True,
        (THREE_VOTERS, ["10.77.0.14:19001"], []),
        ["core/dns", "core/ha-cluster", "core/metallb"],
    ),
    ("1.28-yaml-not-ready", 1, "stdout", "not_running", True, (THREE_VOTERS, ["10.77.0.14:19001"], []), []),
    ("1.28-no-permission", 1, "stderr", "no_permission", False, ([], [], []), []),
    (
        "1.32-yaml-running-ha-spare",
        0,
        "stdout",
        "running",
        True,
        (THREE_VOTERS, ["10.77.0.14:19001"], ["10.77.0.15:19001"]),
        ["core/community", "core/dns", "core/ha-cluster", "community/openebs"],
    ),
    (
        "1.32-short-running-ha-spare",
        0,
        "stdout",
        "running",
        False,
        ([], [], []),
        ["core/community", "core/dns", "core/ha-cluster", "community/openebs"],
    ),
]


def read(name):
    with open(os.path.join(FIXTURES, name + ".txt")) as handle:
        return handle.read()


def parse(name, rc, stream):
    text = read(name)
    return parsers.parse_status(text if stream == "stdout" else "", text if stream == "stderr" else "", rc)


@pytest.mark.parametrize(
    "name, rc, stream, state, high_availability, datastore, enabled",
    CASES,
    ids=["status-" + case[0] for case in CASES],
)
def test_status_fixture(name, rc, stream, state, high_availability, datastore, enabled):
    status = parse(name, rc, stream)
    assert status["state"] == state
    assert status["running"] is status["ready"] is (state == "running")
    assert status["high_availability"] is high_availability
    assert (status["datastore"]["voters"], status["datastore"]["standby"], status["datastore"]["spare"]) == datastore
    assert [parsers.qualified_name(a) for a in status["addons"] if a["status"] == "enabled"] == enabled


def test_yaml_and_pretty_agree_on_addons():
    """The same node printed in both formats gives the same addons (descriptions included), versions aside."""
    for version, case in (("1.20", "running-single"), ("1.24", "running-2-nodes"), ("1.28", "running-ha-4-nodes")):
        from_yaml = parse("%s-yaml-%s" % (version, case), 0, "stdout")
        from_pretty = parse("%s-pretty-%s" % (version, case), 0, "stdout")
        strip = [{k: v for k, v in addon.items() if k != "version"} for addon in from_yaml["addons"]]
        assert strip == [{k: v for k, v in addon.items() if k != "version"} for addon in from_pretty["addons"]]
        assert from_yaml["datastore"] == from_pretty["datastore"]


@pytest.mark.parametrize("name", ["1.20-yaml-running-single", "1.20-pretty-running-single"])
def test_before_1_24_addons_have_no_repository(name):
    status = parse(name, 0, "stdout")
    assert {addon["repository"] for addon in status["addons"]} == {None}


def test_empty_version_field_is_an_empty_string():
    addons = {a["name"]: a for a in parse("1.32-yaml-running-ha-spare", 0, "stdout")["addons"]}
    assert addons["rbac"]["version"] == ""
    assert addons["community"]["version"] == ""
    assert addons["nvidia"]["version"] == "gpu=22.9.1/network=23.7.0/microk8s-1"
    assert addons["openebs"]["repository"] == "community"


@pytest.mark.parametrize("name, rc", [("1.20-yaml-not-running", 0), ("1.28-yaml-not-ready", 1)])
def test_message_printed_under_high_availability_is_found(name, rc):
    """The `message:` key comes after the HA block, indented like its keys (contract §3)."""
    status = parse(name, rc, "stdout")
    assert status["message"] == parsers.NOT_RUNNING
    assert status["addons"] == []


@pytest.mark.parametrize(
    "name, text",
    [
        ("1.20-worker", "Please use the master node."),
        ("1.24-worker", "Please use the control plane node."),
        ("1.24-stopped", "try microk8s start"),
        ("1.28-no-permission", "sudo usermod -a -G microk8s"),
    ],
)
def test_non_report_outputs_keep_their_text_as_message(name, text):
    status = parse(name, 1 if name == "1.28-no-permission" else 0, "stderr" if "permission" in name else "stdout")
    assert text in status["message"]


def test_ha_enabled_with_two_voters_is_not_high_availability():
    """yaml `enabled: True` only means the ha-cluster addon is on; HA needs more than two voters."""
    text = read("1.24-yaml-running-2-nodes")
    assert "enabled: True" in text
    assert parsers.parse_status(text)["high_availability"] is False


@pytest.mark.parametrize(
    "name, addon, state",
    [
        ("1.20-yaml-running-single", "dns", "enabled"),
        ("1.20-yaml-running-single", "metallb", "disabled"),
        ("1.24-yaml-running-2-nodes", "core/dns", "enabled"),
        ("1.24-yaml-running-2-nodes", "community/dns", None),
        ("1.24-yaml-running-2-nodes", "openebs", None),
        ("1.32-yaml-running-ha-spare", "community/openebs", "enabled"),
        ("1.32-yaml-running-ha-spare", "openebs", "enabled"),
    ],
)
def test_addon_state(name, addon, state):
    assert parsers.addon_state(parse(name, 0, "stdout"), addon) == state


# fixture, rc: is this node in a multi-node cluster, and how many voters its cluster should keep (contract section 6)
MEMBERSHIP = [
    ("1.20-yaml-running-single", 0, False, 1),  # a lone node: itself, one voter
    ("1.28-yaml-running-lone-node", 0, False, 1),  # a lone node before any join: 127.0.0.1:19001
    ("1.24-yaml-running-2-nodes", 0, True, 1),  # two control-plane nodes keep one voter
    ("1.28-yaml-running-2-nodes-spare", 0, True, 1),  # the second node as a spare: still a member
    ("1.28-yaml-running-ha-4-nodes", 0, True, 3),  # three voters and a standby
    ("1.32-yaml-running-ha-spare", 0, True, 3),  # five control-plane nodes: still three voters
    ("1.20-worker", 1, True, None),  # a worker is a member, but sees no datastore
    ("1.24-worker", 0, True, None),
    ("1.24-stopped", 0, False, None),  # a stopped node says nothing about its datastore
]


@pytest.mark.parametrize(("name", "rc", "member", "voters"), MEMBERSHIP, ids=[c[0] for c in MEMBERSHIP])
def test_membership_and_expected_voters(name, rc, member, voters):
    with open(os.path.join(FIXTURES, name + ".txt")) as handle:
        status = parsers.parse_status(handle.read(), "", rc)
    assert parsers.member(status) is member
    assert parsers.expected_voters(status) == voters
