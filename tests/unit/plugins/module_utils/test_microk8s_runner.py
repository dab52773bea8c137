# SPDX-License-Identifier: GPL-3.0-or-later
"""The one CLI runner: every command's result carries cmd/rc/stdout/stderr, and its failures raise with all four."""

from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import (
    TIMEOUT_RC,
    CommandResult,
    Microk8sError,
    Microk8sRunner,
)


class FakeModule:
    def __init__(self, rc, out, err):
        self.answer = (rc, out, err)
        self.argv = None
        self.env = None

    def get_bin_path(self, name, opt_dirs=None):
        return "/snap/bin/" + name

    def run_command(self, argv, environ_update=None, data=None, check_rc=False):
        self.argv, self.env = argv, environ_update
        return self.answer


def test_a_result_unpacks_and_carries_the_command():
    result = Microk8sRunner(FakeModule(0, "out", "err")).run(["status", "--format", "yaml"])
    rc, out, err = result
    assert (rc, out, err) == (0, "out", "err")
    assert result.context == {"cmd": "microk8s status --format yaml", "rc": 0, "stdout": "out", "stderr": "err"}


def test_a_failure_raises_with_cmd_rc_stdout_stderr():
    runner = Microk8sRunner(FakeModule(1, "", "Please use the master node."))
    with pytest.raises(Microk8sError) as raised:
        runner.run(["dbctl", "backup"])
    assert raised.value.context == {
        "cmd": "microk8s dbctl backup",
        "rc": 1,
        "stdout": "",
        "stderr": "Please use the master node.",
    }
    assert "exit code 1" in raised.value.msg and "Please use the master node." in raised.value.msg


def test_unchecked_failure_returns_and_error_builds_the_same_context():
    result = Microk8sRunner(FakeModule(6, "Connection failed.", "")).run(["join", "x"], check=False)
    error = result.error("join failed")
    assert isinstance(result, CommandResult)
    assert (error.msg, error.context["rc"], error.context["cmd"]) == ("join failed", 6, "microk8s join x")


def test_running_out_of_time_always_raises():
    runner = Microk8sRunner(FakeModule(TIMEOUT_RC, "", ""), timeout=5)
    with pytest.raises(Microk8sError) as raised:
        runner.run(["status"], check=False)
    assert "did not finish within 5 seconds" in raised.value.msg
    assert raised.value.context["rc"] == TIMEOUT_RC
    assert runner.module.argv[4:9] == ["timeout", "-k", "10", "5", "/snap/bin/microk8s"]
    assert runner.module.env["LC_ALL"] == "C"
