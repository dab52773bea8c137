# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/failover.yml through ansible-runner against this machine: every refusal comes before anything is cut.

Each "node" is this machine over the local connection, where MicroK8s is not installed: the input checks refuse
first, and a cluster that does not answer is refused by the health check ("health before harm").
"""

from __future__ import annotations

import os
import sys

import pytest
from test_preflight_local import _changed, _failure_messages, _inventory, _run

PLAYBOOK = "playbooks/failover.yml"


@pytest.fixture(autouse=True)
def _venv_first_on_path(monkeypatch):
    """ansible-runner starts `ansible-playbook` from PATH: use the one beside this Python (the venv's)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _tasks_run(run):
    return [e["event_data"].get("task", "") for e in run.events if e.get("event") == "runner_on_ok"]


def _drill(tmp_path, masters, **extra_vars):
    return _run(tmp_path, _inventory(tmp_path, masters, extra_vars), playbook=PLAYBOOK)


def _assert_refused(run, text):
    messages = _failure_messages(run)
    assert run.status == "failed"
    assert any(text in m for m in messages), messages
    assert _changed(run) == 0
    assert not any("Cut the power" in t or "Power off" in t for t in _tasks_run(run))


def test_fewer_than_three_control_planes_are_refused(tmp_path):
    _assert_refused(_drill(tmp_path, ["pc1", "pc2"]), "The drill needs at least 3 control-plane nodes")


@pytest.mark.parametrize("method", ["poweroff", "ipmi"])
def test_switching_a_real_machine_off_needs_confirmation(tmp_path, method):
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method=method)
    _assert_refused(run, "Re-run with -e failover_drill_confirm=true")


def test_ipmi_needs_the_targets_bmc(tmp_path):
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method="ipmi", failover_drill_confirm=True)
    _assert_refused(run, "Power method ipmi needs failover_drill_ipmi_host and failover_drill_ipmi_user for pc1")


def test_a_target_outside_the_cluster_is_refused(tmp_path):
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_target="client9")
    _assert_refused(run, "failover_drill_target 'client9' is not a node")


def test_an_unknown_power_method_is_refused_by_the_argument_specs(tmp_path):
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method="unplug")
    _assert_refused(run, "failover_drill_power_method")


def test_a_cluster_that_does_not_answer_is_refused_before_anything_is_cut(tmp_path):
    # MicroK8s is not installed here: every node reads as not running
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method="lxd")
    _assert_refused(run, "nothing was powered off: not running or not reachable: pc1, pc2, pc3")


def test_tls_ingress_without_its_exported_ca_is_refused_before_anything_is_cut(tmp_path):
    """tls_ingress on (as the nodes see it): the HTTPS probe needs <tls_ingress_dir>/ca.pem, which is missing."""
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method="lxd", tls_ingress_enabled=True,
                 tls_ingress_dir=str(tmp_path / "tls"))  # fmt: skip
    _assert_refused(run, "The HTTPS probe of https://hello.home.arpa/ needs its CA, and %s/ca.pem" % (tmp_path / "tls"))


def test_an_https_url_that_is_not_https_is_refused(tmp_path):
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_https_url="http://hello.home.arpa/")
    _assert_refused(run, "failover_drill_https_url must be an https:// URL")


def test_with_the_ca_exported_the_https_check_lets_the_drill_go_on_to_the_health_check(tmp_path):
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method="lxd", tls_ingress_enabled=True,
                 tls_ingress_dir=str(tmp_path / "tls"))  # fmt: skip
    _assert_refused(run, "nothing was powered off: not running or not reachable: pc1, pc2, pc3")


def test_numbers_given_as_text_like_key_value_extra_vars_pass_the_input_checks(tmp_path):
    """`-e failover_drill_observe_seconds=90` arrives as the string '90': the checks compare it as a number."""
    as_text = {"failover_drill_observe_seconds": "90", "failover_drill_request_timeout": "2",
               "failover_drill_request_interval": "0.25"}  # fmt: skip
    run = _drill(tmp_path, ["pc1", "pc2", "pc3"], failover_drill_power_method="lxd", **as_text)
    _assert_refused(run, "nothing was powered off: not running or not reachable: pc1, pc2, pc3")
