# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/tls_ingress.yml through ansible-runner against this machine: bad settings
are refused by the first task, before the cluster is even read (MicroK8s is not installed here), and a TSIG secret
never reaches the output."""

from __future__ import annotations

import json
import os
import sys

import pytest
from test_preflight_local import _changed, _failure_messages, _inventory, _run

PLAYBOOK = "playbooks/tls_ingress.yml"


@pytest.fixture(autouse=True)
def _venv_first_on_path(monkeypatch):
    """ansible-runner starts `ansible-playbook` from PATH: use the one beside this Python (the venv's)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _tasks_started(run):
    return [e["event_data"].get("task", "") for e in run.events if e.get("event") == "playbook_on_task_start"]


def _refused(run, text):
    messages = _failure_messages(run)
    assert run.status == "failed"
    assert any(text in m for m in messages), messages
    assert _changed(run) == 0
    started = _tasks_started(run)
    assert not any("MicroK8s version" in t or "cert-manager addon" in t for t in started), started


def test_an_unknown_mode_is_refused_before_anything(tmp_path):
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], {"tls_ingress_mode": "letsencrypt"}), playbook=PLAYBOOK)
    # argument_specs' choices catch it first (the role's own preflight says the same for site.yml's include)
    messages = _failure_messages(run)
    assert run.status == "failed" and _changed(run) == 0
    assert any("tls_ingress_mode" in m and "letsencrypt" in m for m in messages), messages


def test_http01_behind_carrier_grade_nat_is_refused(tmp_path):
    settings = {
        "tls_ingress_mode": "acme_http01",
        "tls_ingress_acme_email": "me@example.org",
        "tls_ingress_wan_address": "100.72.13.9",
        "tls_ingress_wan_port80_open": True,
    }
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], settings), playbook=PLAYBOOK)
    _refused(run, "tls_ingress_wan_address 100.72.13.9 is in 100.64.0.0/10")


def test_http01_without_port_80_open_is_refused(tmp_path):
    settings = {
        "tls_ingress_enabled": True,
        "tls_ingress_mode": "acme_http01",
        "tls_ingress_acme_email": "me@example.org",
        "tls_ingress_wan_address": "81.2.69.160",
    }
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], settings), playbook=PLAYBOOK)
    _refused(run, "acme_http01 needs port 80 reachable from outside")


def test_a_tsig_secret_never_reaches_the_output_of_a_refusal(tmp_path):
    secret = "c2VjcmV0LXRzaWcta2V5LXZhbHVl"
    settings = {
        "tls_ingress_mode": "acme_dns01",
        "tls_ingress_acme_email": "",
        "tls_ingress_rfc2136_tsig_secret": secret,
    }
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], settings), cmdline="-vvv", playbook=PLAYBOOK)
    assert run.status == "failed" and _changed(run) == 0
    assert secret not in run.stdout.read()
    assert secret not in json.dumps([e.get("event_data", {}).get("res", {}) for e in run.events])
