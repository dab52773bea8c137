# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os

import pytest

from ansible_collections.onprem.microk8s.plugins.modules import microk8s_status
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import Call, run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures", "status")
WAIT = ["microk8s", "status", "--format", "yaml", "--wait-ready", "--timeout", "300"]


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".txt")) as handle:
        return handle.read()


def status_call(name, rc=0, argv=None):
    text = fixture(name)
    if "permission" in name:
        return Call(argv or WAIT, rc, "", text)
    return Call(argv or WAIT, rc, text)


@pytest.mark.parametrize("check_mode", [False, True])
def test_ready_single_node_1_20(check_mode):
    out = run(
        microk8s_status.main, {}, [status_call("1.20-yaml-running-single")], check_mode=check_mode, version="1.20"
    )
    result = out.result
    assert not out.failed and result["changed"] is False
    assert (result["state"], result["running"], result["ready"], result["role"]) == (
        "running",
        True,
        True,
        "control-plane",
    )
    assert result["version"] == "v1.20.3"
    assert result["enabled_addons"] == ["dns", "ha-cluster"]
    assert result["high_availability"] is False
    assert result["datastore"]["voters"] == ["10.77.0.11:19001"]
    assert {a["name"]: a["status"] for a in result["addons"]}["metallb"] == "disabled"


def test_ha_with_standby_and_spare_1_32():
    result = run(microk8s_status.main, {}, [status_call("1.32-yaml-running-ha-spare")], version="1.32").result
    assert result["high_availability"] is True
    assert result["datastore"] == {
        "voters": ["10.77.0.11:19001", "10.77.0.12:19001", "10.77.0.13:19001"],
        "standby": ["10.77.0.14:19001"],
        "spare": ["10.77.0.15:19001"],
    }
    assert result["enabled_addons"] == ["core/community", "core/dns", "core/ha-cluster", "community/openebs"]


def test_two_voters_are_not_ha_1_24():
    result = run(microk8s_status.main, {}, [status_call("1.24-yaml-running-2-nodes")], version="1.24").result
    assert result["high_availability"] is False
    assert len(result["datastore"]["voters"]) == 2


@pytest.mark.parametrize(
    "version, name, rc",
    [("1.20", "1.20-yaml-not-running", 0), ("1.28", "1.28-yaml-not-ready", 1)],
    ids=["1.20-rc0", "1.28-rc1"],
)
def test_not_ready_after_timeout_is_reported_not_failed(version, name, rc):
    out = run(microk8s_status.main, {}, [status_call(name, rc)], version=version)
    assert not out.failed
    assert (out.result["state"], out.result["running"], out.result["ready"]) == ("not_running", False, False)
    assert out.result["message"].startswith("microk8s is not running. Use microk8s inspect")
    assert out.result["addons"] == [] and out.result["enabled_addons"] == []


@pytest.mark.parametrize(
    "version, name, rc",
    [("1.20", "1.20-worker", 1), ("1.24", "1.24-worker", 0), ("1.30", "1.24-worker", 0)],
    ids=["1.20-rc1", "1.24-rc0", "1.30-rc0"],
)
def test_worker_node(version, name, rc):
    out = run(microk8s_status.main, {}, [status_call(name, rc)], version=version)
    assert not out.failed
    assert out.result["role"] == "worker"
    assert out.result["running"] is None and out.result["ready"] is None
    assert "acting as a node in a cluster" in out.result["message"]


def test_stopped_node():
    out = run(microk8s_status.main, {}, [status_call("1.24-stopped")], version="1.24")
    assert not out.failed
    assert (out.result["state"], out.result["running"], out.result["ready"]) == ("stopped", False, False)
    assert out.result["message"] == "microk8s is not running, try microk8s start"


def test_no_permission_fails_with_advice():
    out = run(microk8s_status.main, {}, [status_call("1.28-no-permission", 1)], version="1.28")
    assert out.failed
    assert "become: true" in out.result["msg"]
    assert "Insufficient permissions to access MicroK8s." in out.result["msg"]


def test_without_waiting():
    argv = ["microk8s", "status", "--format", "yaml"]
    out = run(
        microk8s_status.main,
        {"wait_ready": False},
        [status_call("1.28-yaml-running-ha-4-nodes", argv=argv)],
        version="1.28",
    )
    assert out.result["ready"] is True and out.result["high_availability"] is True


def test_timeout_is_passed_on():
    argv = ["microk8s", "status", "--format", "yaml", "--wait-ready", "--timeout", "42"]
    out = run(microk8s_status.main, {"timeout": 42}, [status_call("1.28-yaml-not-ready", 1, argv)], version="1.28")
    assert out.result["ready"] is False


def test_zero_timeout_is_refused_before_any_command():
    out = run(microk8s_status.main, {"timeout": 0}, [])
    assert out.failed and "at least 1 second" in out.result["msg"]
    assert out.calls == []


def test_not_installed():
    out = run(
        microk8s_status.main, {}, [Call(["snap", "list", "microk8s"], 1, "", "error: no matching snaps installed")]
    )
    assert out.failed
    assert "not installed" in out.result["msg"] and out.result["rc"] == 1


def test_unrecognised_output_fails_with_context():
    out = run(microk8s_status.main, {}, [Call(WAIT, 1, "", "Traceback (most recent call last):")], version="1.28")
    assert out.failed
    assert out.result["cmd"] == "microk8s " + " ".join(WAIT[1:])
    assert out.result["stderr"].startswith("Traceback")


@pytest.mark.parametrize(
    ("name", "version", "member", "expected_voters"),
    [
        ("1.28-yaml-running-lone-node", "1.28", False, 1),
        ("1.28-yaml-running-2-nodes-spare", "1.28", True, 1),
        ("1.28-yaml-running-ha-4-nodes", "1.28", True, 3),
    ],
)
def test_member_and_expected_voters_are_returned(name, version, member, expected_voters):
    result = run(microk8s_status.main, {}, [status_call(name)], version=version).result
    assert result["member"] is member
    assert result["expected_voters"] == expected_voters
