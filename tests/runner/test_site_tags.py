# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml's play tags: the demo app can be skipped without losing any cluster task."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def _list_tasks(*args):
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    argv = [str(playbook), "-i", "inventories/home", "site.yml", "--list-tasks", *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=120).stdout


def test_skipping_the_demo_keeps_every_cluster_task():
    everything, without_demo = _list_tasks(), _list_tasks("--skip-tags", "demo")
    assert "onprem.microk8s.hello_app" in everything
    assert "onprem.microk8s.hello_app" not in without_demo
    # hello's pods carry the failover profile's tolerations: learnt in hello's deploy tasks, also when a run is
    # limited to the deploy step (else it would roll the pods back to the API server's default seconds).
    assert "Name the pod tolerations of the failover profile" in _list_tasks("--tags", "deploy")
    assert "Name the pod tolerations of the failover profile" not in without_demo
    for role in ("onprem.microk8s.microk8s_node", "onprem.microk8s.ha_join"):
        assert everything.count(role) == without_demo.count(role) > 0
