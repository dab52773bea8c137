# SPDX-License-Identifier: GPL-3.0-or-later
"""microk8s_token: exact add-node argv per version, parsing of every format, refusals, secret masking."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from ansible_collections.onprem.microk8s.plugins.modules import microk8s_token
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import Call, run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures", "add-node")
TOKEN = "5f1a0c3e9b7d42a6c8e0f3b1d9a7c5e2"
FP = "2f3bd07a6f1e"


def output(name):
    with open(os.path.join(FIXTURES, name + ".txt")) as handle:
        return handle.read()


def add_node(version, ttl=None, token=TOKEN):
    """add-node as the module calls it: without --token-ttl for a single-use token (the default)."""
    argv = ["microk8s", "add-node", "--token", token] + (["--token-ttl", ttl] if ttl else [])
    return argv + (["--format", "json"] if version not in ("1.20", "1.21", "1.22", "1.23") else [])


# version, fixture, expected join_url host (the default, no address given), fingerprint
DEFAULTS = [
    ("1.20", "1.20-pretty", "10.77.0.11", None),
    ("1.22", "1.22-pretty", "10.77.0.11", FP),
    ("1.23", "1.23-pretty", "10.77.0.11", FP),
    ("1.24", "1.28-json", "10.77.1.11", FP),
    ("1.28", "1.28-json", "10.77.1.11", FP),
    ("1.32", "1.28-json", "10.77.1.11", FP),
]


@pytest.mark.parametrize("version, fixture, host, fingerprint", DEFAULTS, ids=["%s-%s" % c[:2] for c in DEFAULTS])
def test_creates_token_and_returns_first_url(version, fixture, host, fingerprint):
    outcome = run(microk8s_token.main, {"token": TOKEN}, [Call(add_node(version), 0, output(fixture))], version=version)
    assert not outcome.failed
    result = outcome.result
    expected = "%s:25000/%s" % (host, TOKEN) + ("/" + fingerprint if fingerprint else "")
    assert result["changed"] is True
    assert result["join_url"] == expected
    assert (result["address"], result["port"], result["fingerprint"]) == (host, 25000, fingerprint)
    assert result["token"] == TOKEN and result["ttl"] == -1
    assert sorted(result["urls"]) == sorted(
        "%s:25000/%s" % (ip, expected.split("/", 1)[1]) for ip in ("10.77.0.11", "10.77.1.11")
    )


@pytest.mark.parametrize("version, fixture", [("1.20", "1.20-pretty"), ("1.28", "1.28-json")])
def test_address_picks_its_url(version, fixture):
    args = {"token": TOKEN, "address": "10.77.1.11", "ttl": 900}
    outcome = run(microk8s_token.main, args, [Call(add_node(version, "900"), 0, output(fixture))], version=version)
    assert outcome.result["join_url"].startswith("10.77.1.11:25000/" + TOKEN)
    assert outcome.result["ttl"] == 900


def test_unknown_address_fails_listing_the_offered_ones():
    args = {"token": TOKEN, "address": "10.99.0.1"}
    outcome = run(microk8s_token.main, args, [Call(add_node("1.28"), 0, output("1.28-json"))], version="1.28")
    assert outcome.failed
    assert "10.99.0.1" in outcome.result["msg"]
    assert "10.77.1.11, 10.77.0.11" in outcome.result["msg"]
    assert TOKEN not in outcome.output


def test_generates_a_random_hex_token_when_none_is_given():
    generated = "0123456789abcdef0123456789abcdef"
    with mock.patch.object(microk8s_token.secrets, "token_hex", return_value=generated) as token_hex:
        outcome = run(
            microk8s_token.main,
            {},
            [Call(add_node("1.28", token=generated), 0, output("1.28-json").replace(TOKEN, generated))],
            version="1.28",
        )
    token_hex.assert_called_once_with(16)
    assert outcome.result["token"] == generated
    assert generated in outcome.result["join_url"]


def test_generated_token_is_masked_when_add_node_fails():
    generated = "fedcba9876543210fedcba9876543210"
    echo = "Traceback ...\nValueError: %s\n" % generated
    with mock.patch.object(microk8s_token.secrets, "token_hex", return_value=generated):
        outcome = run(microk8s_token.main, {}, [Call(add_node("1.23", token=generated), 1, echo, echo)], version="1.23")
    assert outcome.failed and outcome.result["stderr"].startswith("Traceback")
    assert generated not in outcome.output


@pytest.mark.parametrize(
    "args, words",
    [
        ({"token": "tooshort"}, "at least 32"),
        ({"token": TOKEN[:16] + "/" + TOKEN[16:]}, "without '/'"),
        ({"token": TOKEN, "ttl": 0}, "ttl must be"),
        ({"token": TOKEN, "ttl": -5}, "ttl must be"),
    ],
    ids=["short-token", "slash-in-token", "ttl-zero", "ttl-below-minus-one"],
)
def test_invalid_options_fail_before_any_command(args, words):
    outcome = run(microk8s_token.main, args, [])
    assert outcome.failed and outcome.calls == []
    assert words in outcome.result["msg"]
    assert args["token"] not in outcome.output


def test_check_mode_runs_nothing_that_changes_state():
    outcome = run(microk8s_token.main, {"token": TOKEN}, [], check_mode=True, version="1.28")
    assert outcome.result["changed"] is True
    assert outcome.calls == [["snap", "list", "microk8s"]]
    assert "join_url" not in outcome.result and TOKEN not in outcome.output


# version, rc, stdout, stderr, words in msg
REFUSALS = [
    ("1.28", 1, output("1.28-worker"), "", "control-plane node"),
    ("1.20", 1, "", output("1.20-stopped"), "microk8s start"),
    ("1.28", 1, output("1.28-fresh-install"), "", "reinstall MicroK8s"),
    ("1.24", 1, "", "Insufficient permissions to access MicroK8s.", "as root"),
    ("1.28", 1, "", "Traceback ...\nValueError: bad token %s\n" % TOKEN, "see its output"),
    ("1.28", 0, "", "", "see its output"),
]


@pytest.mark.parametrize(
    "version, rc, stdout, stderr, words",
    REFUSALS,
    ids=["worker", "stopped", "fresh-install", "no-permission", "echoes-token", "no-urls"],
)
def test_refusals_fail_with_advice_and_mask_the_token(version, rc, stdout, stderr, words):
    outcome = run(microk8s_token.main, {"token": TOKEN}, [Call(add_node(version), rc, stdout, stderr)], version=version)
    assert outcome.failed
    assert words in outcome.result["msg"]
    assert outcome.result["rc"] == rc
    assert outcome.result["cmd"].startswith("microk8s add-node --token ********")
    assert TOKEN not in outcome.output


def test_microk8s_not_installed():
    outcome = run(microk8s_token.main, {"token": TOKEN}, [Call(["snap", "list", "microk8s"], 1, "", "error: no snap")])
    assert outcome.failed and "not installed" in outcome.result["msg"]


def test_default_token_is_single_use_add_node_without_token_ttl():
    # contract section 5: add-node without --token-ttl stores the token with no expiry, deleted at its first use
    outcome = run(
        microk8s_token.main, {"token": TOKEN}, [Call(add_node("1.28"), 0, output("1.28-json"))], version="1.28"
    )
    assert not outcome.failed
    assert outcome.calls[-1][:4] == ["microk8s", "add-node", "--token", TOKEN]
    assert "--token-ttl" not in outcome.calls[-1]
    assert outcome.result["ttl"] == -1


def test_explicit_minus_one_is_the_same_single_use_call():
    args = {"token": TOKEN, "ttl": -1}
    outcome = run(microk8s_token.main, args, [Call(add_node("1.23"), 0, output("1.23-pretty"))], version="1.23")
    assert not outcome.failed and outcome.result["ttl"] == -1
