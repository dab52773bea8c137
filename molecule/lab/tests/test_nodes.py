# SPDX-License-Identifier: GPL-3.0-or-later
"""What an operator checks on each node after site.yml (testinfra, run by molecule's verify)."""

from __future__ import annotations

import json

import pytest

DAEMONS = ["daemon-cluster-agent", "daemon-k8s-dqlite", "daemon-kubelite", "daemon-containerd"]


def test_microk8s_snap_is_installed(host):
    out = host.run("snap list microk8s")
    assert out.rc == 0, out.stderr
    assert out.stdout.splitlines()[1].split()[0] == "microk8s"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_microk8s_services_run(host, daemon):
    service = host.service("snap.microk8s.%s" % daemon)
    if not service.is_running:
        print(host.run("journalctl -u snap.microk8s.%s -n 50 --no-pager" % daemon).stdout)
    assert service.is_running


def test_cluster_agent_listens(host):
    assert host.socket("tcp://0.0.0.0:25000").is_listening or host.socket("tcp://:::25000").is_listening


def test_every_node_name_resolves(host):
    names = host.ansible.get_variables()["groups"]["masters"]
    for name in names:
        assert host.run("getent ahostsv4 %s" % name).rc == 0, "%s does not resolve on %s" % (name, host)


def test_node_is_ready_in_kubernetes(host):
    name = host.check_output("hostname")
    out = host.run("/snap/bin/microk8s kubectl get node %s -o json" % name)
    if out.rc != 0 or out.stdout.startswith("This MicroK8s deployment is acting as a node"):
        pytest.skip("kubectl answers on control-plane nodes only")
    conditions = {c["type"]: c["status"] for c in json.loads(out.stdout)["status"]["conditions"]}
    assert conditions.get("Ready") == "True"
