# SPDX-License-Identifier: GPL-3.0-or-later
"""microk8s_join: validation per version, idempotence from status, exact join/leave argv, failure kinds, no secrets."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.onprem.microk8s.plugins.modules import microk8s_join
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import Call, run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures")
TOKEN = "5f1a0c3e9b7d42a6c8e0f3b1d9a7c5e2"
FP = "2f3bd07a6f1e"
URL = "10.77.0.11:25000/%s/%s" % (TOKEN, FP)
URL_NO_FP = "10.77.0.11:25000/%s" % TOKEN
STATUS = ["microk8s", "status", "--format", "yaml", "--wait-ready", "--timeout", "300"]


def output(command, name):
    with open(os.path.join(FIXTURES, command, name + ".txt")) as handle:
        return handle.read()


def status(name, rc=0, stream="stdout"):
    text = output("status", name)
    return Call(STATUS, rc, text, "") if stream == "stdout" else Call(STATUS, rc, "", text)


LONE = status("1.28-yaml-running-lone-node")
LONE_120 = status("1.20-yaml-running-single")
TWO = status("1.28-yaml-running-2-nodes-spare")
WORKER = status("1.24-worker")
WORKER_123 = status("1.20-worker", rc=1)


def join(*flags, url=URL, rc=0, out=None, err=""):
    return Call(
        ["microk8s", "join", url, *flags], rc, output("join", "1.28-success-control-plane") if out is None else out, err
    )


def worker_join(url=URL):
    return join("--worker", url=url, out=output("join", "1.28-success-worker"))


# id: (version, module args, commands after `snap list`, expected role)
JOINS = {
    "1.28-url": ("1.28", {"url": URL}, [LONE, join(), TWO], "control-plane"),
    "1.32-master-token-fp": (
        "1.32",
        {"master": "10.77.0.11", "token": TOKEN, "fingerprint": FP},
        [LONE, join(out=output("join", "1.32-success-control-plane")), status("1.32-yaml-running-ha-spare")],
        "control-plane",
    ),
    "1.20-drops-fingerprint": (
        "1.20",
        {"url": URL},
        [LONE_120, join(url=URL_NO_FP, out=output("join", "1.20-success-control-plane")), TWO],
        "control-plane",
    ),
    "1.28-hostname-master": (
        "1.28",
        {"master": "pc1", "token": TOKEN, "port": 25001},
        [LONE, join(url="pc1:25001/%s" % TOKEN), TWO],
        "control-plane",
    ),
    "1.21-skip-verify": (
        "1.21",
        {"url": URL, "skip_verify": True},
        [LONE_120, join("--skip-verify"), TWO],
        "control-plane",
    ),
    "1.23-worker": ("1.23", {"url": URL, "worker": True}, [LONE_120, worker_join(), WORKER_123], "worker"),
    "1.24-worker": ("1.24", {"url": URL, "worker": True}, [LONE, worker_join(), WORKER], "worker"),
    "1.28-low-memory-worker": (
        "1.28",
        {"url": URL, "worker": True},
        [
            Call(STATUS, 1, "This node does not have enough RAM to host the Kubernetes control plane services"),
            worker_join(),
            WORKER,
        ],
        "worker",
    ),
}


@pytest.mark.parametrize("version, args, calls, role", JOINS.values(), ids=JOINS.keys())
def test_join(version, args, calls, role):
    outcome = run(microk8s_join.main, args, calls, version=version, diff=True)
    assert not outcome.failed, outcome.result
    result = outcome.result
    assert (result["changed"], result["joined"], result["role"]) == (True, True, role)
    assert result["diff"] == {"before": {"role": None}, "after": {"role": role}}
    members = sum(len(nodes) for nodes in result["datastore"].values())
    assert members > 1 if role == "control-plane" else members == 0


def test_check_mode_plans_without_joining():
    outcome = run(microk8s_join.main, {"url": URL}, [LONE], version="1.28", check_mode=True, diff=True)
    assert (outcome.result["changed"], outcome.result["joined"]) == (True, True)
    assert outcome.result["diff"]["after"] == {"role": "control-plane"}
    assert all(call[1] != "join" for call in outcome.calls)


# id: (version, module args, status call) for a node that already is what was asked
ALREADY = {
    "control-plane": ("1.28", {"url": URL}, TWO),
    "control-plane-not-ready": ("1.28", {"url": URL}, status("1.28-yaml-not-ready", rc=1)),
    "worker-1.24": ("1.24", {"url": URL, "worker": True}, WORKER),
    "worker-1.23": ("1.23", {"url": URL, "worker": True}, WORKER_123),
}


@pytest.mark.parametrize("version, args, call", ALREADY.values(), ids=ALREADY.keys())
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_already_joined_is_unchanged(version, args, call, check_mode):
    with mock.patch.object(basic.AnsibleModule, "warn") as warn:
        outcome = run(microk8s_join.main, args, [call], version=version, check_mode=check_mode)
    assert not outcome.failed
    assert (outcome.result["changed"], outcome.result["joined"]) == (False, True)
    warn.assert_not_called()


def test_member_that_does_not_list_the_master_warns():
    args = {"master": "10.77.9.9", "token": TOKEN}
    with mock.patch.object(basic.AnsibleModule, "warn") as warn:
        outcome = run(microk8s_join.main, args, [TWO], version="1.28")
    assert outcome.result["changed"] is False
    warning = warn.call_args.args[0]
    assert "10.77.9.9" in warning and "10.77.0.11" in warning and TOKEN not in warning


# id: (version, module args, status call, words in msg): refused after reading status, nothing joined
REFUSED = {
    "control-plane-wants-worker": ("1.28", {"url": URL, "worker": True}, TWO, "already a control-plane member"),
    "worker-wants-control-plane": ("1.24", {"url": URL}, WORKER, "already a worker member"),
    "stopped": ("1.24", {"url": URL}, status("1.24-stopped"), "microk8s start"),
    "no-permission": ("1.28", {"url": URL}, status("1.28-no-permission", rc=1, stream="stderr"), "as root"),
    "low-memory-control-plane": (
        "1.28",
        {"url": URL},
        Call(STATUS, 1, "This node does not have enough RAM to host the Kubernetes control plane services"),
        "worker: true",
    ),
    "not-ready": (
        "1.28",
        {"url": URL},
        Call(STATUS, 1, output("status", "1.20-yaml-not-running")),
        "not ready",
    ),
}


@pytest.mark.parametrize("version, args, call, words", REFUSED.values(), ids=REFUSED.keys())
def test_refused_before_joining(version, args, call, words):
    outcome = run(microk8s_join.main, args, [call], version=version)
    assert outcome.failed
    assert words in outcome.result["msg"]


# id: (version, module args, words in msg): invalid before any command but `snap list`
INVALID = {
    "not-a-url": ("1.28", {"url": "10.77.0.11/" + TOKEN}, "MASTER:PORT/TOKEN"),
    "ipv6": ("1.24", {"url": "[fd00::1]:25000/" + TOKEN}, "IPv4 address or host name"),
    "short-token": ("1.28", {"master": "10.77.0.11", "token": "abc"}, "at least 32"),
    "short-fingerprint": ("1.28", {"url": "10.77.0.11:25000/%s/2f3b" % TOKEN}, "at least 12"),
    "port-zero": ("1.28", {"master": "10.77.0.11", "token": TOKEN, "port": 0}, "1-65535"),
    "hostname-1.30": ("1.30", {"master": "pc1", "token": TOKEN}, "must be an IPv4 address"),
    "hostname-1.29": ("1.29", {"url": "pc1:25000/" + TOKEN}, "must be an IPv4 address"),
    "worker-1.22": ("1.22", {"url": URL, "worker": True}, "1.23 or newer"),
    "skip-verify-1.20": ("1.20", {"url": URL, "skip_verify": True}, "1.21 or newer"),
}


@pytest.mark.parametrize("version, args, words", INVALID.values(), ids=INVALID.keys())
def test_invalid_input_fails_before_any_microk8s_command(version, args, words):
    outcome = run(microk8s_join.main, args, [], version=version)
    assert outcome.failed
    assert words in outcome.result["msg"] and version in outcome.result["msg"]
    assert outcome.calls == [["snap", "list", "microk8s"]]


@pytest.mark.parametrize(
    "args",
    [{"url": URL, "master": "10.77.0.11"}, {"master": "10.77.0.11"}, {}],
    ids=["url-and-master", "no-token", "nothing"],
)
def test_argument_rules(args):
    outcome = run(microk8s_join.main, args, [])
    assert outcome.failed and outcome.calls == []


# id: (version, join rc, fixture, stream, kind)
FAILURES = {
    "1.20-invalid-token": ("1.20", 1, "1.20-invalid-token", "stdout", "invalid_token"),
    "1.28-invalid-token": ("1.28", 6, "1.28-invalid-token", "stdout", "invalid_token"),
    "1.28-already-known": ("1.28", 6, "1.28-already-known", "stdout", "already_member"),
    "1.32-already-known": ("1.32", 6, "1.32-already-known", "stdout", "already_member"),
    "1.28-same-ip": ("1.28", 6, "1.28-same-ip", "stdout", "same_ip"),
    "1.28-hostname-unresolved": ("1.28", 6, "1.28-hostname-unresolved", "stdout", "hostname_unresolved"),
    "1.28-not-ha": ("1.28", 6, "1.28-not-ha", "stdout", "not_ha"),
    "1.28-fingerprint": ("1.28", 4, "1.28-fingerprint", "stdout", "fingerprint"),
    "1.32-invalid-connection": ("1.32", 1, "1.32-invalid-connection", "stdout", "invalid_connection"),
    "1.28-low-memory": ("1.28", 1, "1.28-low-memory", "stdout", "low_memory"),
    "1.27-version-skew": ("1.27", 6, "1.27-version-skew", "stdout", "version_skew"),
    "1.28-traceback": ("1.28", 1, "1.28-unreachable-traceback", "stderr", "unreachable"),
    "1.20-unreachable": ("1.20", 1, "1.20-unreachable", "stdout", "unreachable"),
    "1.28-unknown": ("1.28", 7, "1.28-unknown-auth-mode", "stdout", "unknown"),
}


def failing_join(version, rc, fixture, stream):
    text = output("join", fixture)
    out, err = (text, "") if stream == "stdout" else ("", text)
    return join(url=URL_NO_FP if version == "1.20" else URL, rc=rc, out=out, err=err)


@pytest.mark.parametrize("version, rc, fixture, stream, kind", FAILURES.values(), ids=FAILURES.keys())
def test_join_failures_are_classified(version, rc, fixture, stream, kind):
    before = LONE_120 if version == "1.20" else LONE
    outcome = run(
        microk8s_join.main, {"url": URL}, [before, failing_join(version, rc, fixture, stream)], version=version
    )
    assert outcome.failed
    assert outcome.result["msg"].startswith("join failed (%s): " % kind)
    assert outcome.result["rc"] == rc
    assert outcome.result["cmd"].startswith("microk8s join ") and "********" in outcome.result["cmd"]


def test_exit_code_zero_without_membership_fails():
    outcome = run(microk8s_join.main, {"url": URL}, [LONE, join(), LONE], version="1.28")
    assert outcome.failed and "status does not show" in outcome.result["msg"]


def test_connection_failed_text_with_exit_code_zero_is_a_failure():
    bad = join(out=output("join", "1.28-invalid-token"))
    outcome = run(microk8s_join.main, {"url": URL}, [LONE, bad], version="1.28")
    assert outcome.failed and outcome.result["msg"].startswith("join failed (invalid_token)")


def test_join_timeout():
    outcome = run(
        microk8s_join.main, {"url": URL, "timeout": 30}, [LONE, join(rc=124, out="Contacting cluster")], version="1.28"
    )
    assert outcome.failed and "did not finish within 30 seconds" in outcome.result["msg"]


LEAVE = ["microk8s", "leave"]

# id: (version, status call, leave call or None, changed, remove_node_hint expected)
LEAVES = {
    "control-plane": ("1.28", TWO, Call(LEAVE, 0, output("leave", "1.28-success-control-plane")), True, True),
    "worker": ("1.24", WORKER, Call(LEAVE, 0, output("leave", "1.28-success-worker")), True, True),
    "lone-node-untouched": ("1.28", LONE, None, False, False),
    "leave-says-not-clustered": ("1.28", TWO, Call(LEAVE, 1, output("leave", "1.28-not-clustered")), False, False),
    "1.20-not-clustering-mode": (
        "1.20",
        TWO,
        Call(LEAVE, 2, output("leave", "1.20-not-clustering-mode")),
        False,
        False,
    ),
}


@pytest.mark.parametrize("version, before, leave, changed, hint", LEAVES.values(), ids=LEAVES.keys())
def test_leave(version, before, leave, changed, hint):
    with mock.patch.object(microk8s_join.socket, "gethostname", return_value="PC2"):
        outcome = run(microk8s_join.main, {"state": "absent"}, [before] + ([leave] if leave else []), version=version)
    assert not outcome.failed
    assert (outcome.result["changed"], outcome.result["joined"], outcome.result["role"]) == (changed, False, None)
    assert outcome.result["node_name"] == "pc2"
    assert ("remove-node pc2" in outcome.result.get("remove_node_hint", "")) is hint


def test_leave_check_mode():
    outcome = run(microk8s_join.main, {"state": "absent"}, [TWO], version="1.28", check_mode=True, diff=True)
    assert outcome.result["changed"] is True
    assert outcome.result["diff"] == {"before": {"role": "control-plane"}, "after": {"role": None}}
    assert LEAVE not in outcome.calls


@pytest.mark.parametrize(
    "leave, words",
    [(Call(LEAVE, 3, output("leave", "1.28-only-copy")), "only copy"), (Call(LEAVE, 1, "", "boom"), "see its output")],
    ids=["only-copy", "unknown"],
)
def test_leave_failures(leave, words):
    outcome = run(microk8s_join.main, {"state": "absent"}, [TWO, leave], version="1.28")
    assert outcome.failed and words in outcome.result["msg"]
    assert outcome.result["cmd"] == "microk8s leave"


def every_path():
    """(module args, version, calls) of every path above whose input carries the token."""
    for version, args, calls, _role in JOINS.values():
        yield args, version, calls
    for version, args, call in ALREADY.values():
        yield args, version, [call]
    for version, args, call, _words in REFUSED.values():
        yield args, version, [call]
    for version, args, _words in INVALID.values():
        if TOKEN in str(args):
            yield args, version, []
    for version, rc, fixture, stream, _kind in FAILURES.values():
        yield (
            {"url": URL},
            version,
            [LONE_120 if version == "1.20" else LONE, failing_join(version, rc, fixture, stream)],
        )
    yield {"url": URL}, "1.28", [LONE, join(), LONE]
    yield {"url": URL}, "1.28", [LONE, join(rc=124)]


@pytest.mark.parametrize("args, version, calls", list(every_path()))
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_no_output_contains_the_token_or_url(args, version, calls, check_mode):
    if check_mode:
        calls = [call for call in calls if call.argv[1] != "join"][:1]
    outcome = run(microk8s_join.main, args, calls, version=version, check_mode=check_mode)
    assert TOKEN not in outcome.output
    assert URL not in outcome.output and URL_NO_FP not in outcome.output
