# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/storage.yml through ansible-runner against this machine: every bad-node case is refused by the
preflight, with the node and the fact named, before anything changes (no addon enabled, changed=0).

Each "node" is this machine over the local connection (no MicroK8s, no HugePages, no nvme_tcp, open-iscsi not
installed here); per-node facts differ through each host's own sysctl.d / modules-load.d files and pool disk, so the
messages prove each node is read and judged on its own.
"""

from __future__ import annotations

import os
import sys

import pytest
from test_preflight_local import _changed, _failure_messages, _run

PLAYBOOK = "playbooks/storage.yml"
THREE_HOSTS = {"pc1": {}, "pc2": {}, "pc3": {}}


@pytest.fixture(autouse=True)
def _venv_first_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _inventory(tmp_path, hosts, extra_vars):
    import yaml

    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory = {
        "all": {
            "vars": {"ansible_become": False, "onprem_staging_dir": str(tmp_path / "staging"), **extra_vars},
            "children": {
                "masters": {"hosts": {name: {**local, **values} for name, values in hosts.items()}},
                "workers": {"hosts": {}},
                "clients": {"hosts": {}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _persisted(tmp_path, name, hugepages=1024, module="nvme-tcp"):
    """This node's own sysctl.d and modules-load.d files."""
    sysctl, modules = tmp_path / (name + "-hugepages.conf"), tmp_path / (name + "-mayastor.conf")
    sysctl.write_text("vm.nr_hugepages = %d\n" % hugepages)
    modules.write_text(module + "\n")
    return {"storage_sysctl_files": [str(sysctl)], "storage_modules_files": [str(modules)]}


def _storage(tmp_path, hosts, **extra_vars):
    return _run(tmp_path, _inventory(tmp_path, hosts, extra_vars), playbook=PLAYBOOK)


def _refused(run):
    messages = _failure_messages(run)
    assert run.status == "failed"
    assert _changed(run) == 0
    tasks = [e["event_data"].get("task", "") for e in run.events if e.get("event") == "runner_on_ok"]
    assert not any("addon" in t.lower() or "StorageClass" in t for t in tasks), tasks
    refusals = [m for m in messages if m.startswith("Storage refused, nothing was changed")]
    assert len(refusals) == 1, messages
    return refusals[0]


def test_openebs_without_iscsid_is_refused_for_every_node(tmp_path):
    message = _refused(_storage(tmp_path, {"pc1": {}, "pc2": {}, "pc3": {}}, storage_engine="openebs"))
    for node in ("pc1", "pc2", "pc3"):
        assert "%s: iscsid is not enabled" % node in message
        assert "%s: package open-iscsi is not installed" % node in message


def test_mayastor_names_each_node_and_fact(tmp_path):
    hosts = {
        "pc1": {},  # nothing persisted
        "pc2": _persisted(tmp_path, "pc2"),  # persisted, but not live (no HugePages, no nvme_tcp here)
        "pc3": {
            **_persisted(tmp_path, "pc3", hugepages=512, module="# nvme-tcp"),
            "storage_pool_disk": "/etc/hostname",
        },
    }
    message = _refused(_storage(tmp_path, hosts, storage_engine="mayastor", storage_mayastor_pool_size="20G"))
    assert "pc1: vm.nr_hugepages >= 1024 is not persisted" in message
    assert "pc1: nvme_tcp is not persisted in modules-load.d" in message
    assert "pc2: vm.nr_hugepages" not in message and "pc2: nvme_tcp is not persisted" not in message
    assert "pc3: vm.nr_hugepages >= 1024 is not persisted" in message  # 512 persisted is not enough
    assert "pc3: nvme_tcp is not persisted" in message  # a commented line does not count
    assert "pc3: pool disk /etc/hostname is not a block device" in message
    for node in ("pc1", "pc2", "pc3"):
        assert "%s: HugePages_Total is 0" % node in message
        assert "%s: kernel module nvme_tcp is not loaded" % node in message


def test_mayastor_needs_three_nodes_and_a_pool(tmp_path):
    message = _refused(_storage(tmp_path, {"pc1": {}, "pc2": {}}, storage_engine="mayastor"))
    assert "mayastor needs at least 3 storage nodes for 3 replicas, the inventory has 2 (pc1, pc2)" in message
    assert "pc1: no pool: set storage_pool_disk for the node or storage_mayastor_pool_size" in message


def test_skipped_mayastor_checks_are_not_refused_but_the_rest_is(tmp_path):
    hosts = {"pc1": {}, "pc2": {}}
    run = _storage(tmp_path, hosts, storage_engine="mayastor", storage_mayastor_skip_checks=["hugepages", "kernel"])
    message = _refused(run)
    assert "HugePages" not in message and "nvme_tcp" not in message, message
    assert "mayastor needs at least 3 storage nodes for 3 replicas, the inventory has 2 (pc1, pc2)" in message
    assert "pc2: no pool: set storage_pool_disk for the node or storage_mayastor_pool_size" in message


def test_an_unknown_skipped_check_is_refused_by_the_argument_specs(tmp_path):
    run = _storage(tmp_path, THREE_HOSTS, storage_engine="mayastor", storage_mayastor_skip_checks=["iscsi"])
    assert run.status == "failed" and _changed(run) == 0
    assert any("storage_mayastor_skip_checks" in m for m in _failure_messages(run))


def test_more_replicas_than_storage_nodes_is_refused(tmp_path):
    message = _refused(
        _storage(tmp_path, {"pc1": {}, "pc2": {}, "pc3": {}}, storage_engine="openebs", storage_replicas=4)
    )
    assert "storage_replicas 4 is above the 3 storage nodes" in message


def test_a_cluster_without_microk8s_is_refused_even_for_hostpath(tmp_path):
    message = _refused(_storage(tmp_path, {"pc1": {}, "pc2": {}, "pc3": {}}, storage_engine="hostpath"))
    assert "MicroK8s is not running on pc1" in message


def test_an_unknown_engine_is_refused_by_the_argument_specs(tmp_path):
    run = _storage(tmp_path, {"pc1": {}}, storage_engine="ceph")
    assert run.status == "failed" and _changed(run) == 0
    assert any("storage_engine" in m for m in _failure_messages(run))


def _drill(tmp_path, hosts, **extra_vars):
    return _run(tmp_path, _inventory(tmp_path, hosts, extra_vars), playbook="playbooks/storage_drill.yml")


def _drill_refused(run, text):
    messages = _failure_messages(run)
    assert run.status == "failed" and _changed(run) == 0
    assert any(text in m for m in messages), messages
    tasks = [e["event_data"].get("task", "") for e in run.events if e.get("event") == "runner_on_ok"]
    assert tasks[-1] == "Name the nodes, the witness and the plan", tasks  # nothing ran after the input check


THREE = {"pc1": {}, "pc2": {}, "pc3": {}}


def test_drill_needs_three_nodes(tmp_path):
    _drill_refused(_drill(tmp_path, {"pc1": {}, "pc2": {}}), "The storage drill needs at least 3 nodes (it has 2)")


def test_drill_poweroff_needs_confirmation(tmp_path):
    run = _drill(tmp_path, THREE, storage_drill_power_method="poweroff")
    _drill_refused(run, "This switches pc1, pc2 off (poweroff). Re-run with -e storage_drill_confirm=true.")


def test_drill_never_cuts_the_witness(tmp_path):
    run = _drill(tmp_path, THREE, storage_drill_targets=["pc1", "pc3"], storage_drill_witness="pc3")
    _drill_refused(run, "The witness pc3 runs the collector and cannot be cut")


def test_drill_target_outside_the_cluster_is_refused(tmp_path):
    run = _drill(tmp_path, THREE, storage_drill_targets=["client9"])
    _drill_refused(run, "storage_drill_targets names client9, not nodes of the cluster's groups")
