# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage against the converged lab (issue 13): the mayastor preflight refuses the lab's real nodes before any
change; the storage role on an engine the double provisions (LAB_STORAGE_ENGINE, default hostpath) enables it,
checks it, marks the default class, runs the writer demo, and is idempotent; a backup of the writer's volume comes to
the controller and is restored into a fresh namespace with every checksum matching; the storage drill cuts the
writer's node's power and reports.

On hostpath (what the double provisions today) the volume is pinned to its node, so the drill must report FAIL
("not Ready on another node") while everything around it works: acknowledged records reach the collector, the taint
goes on only once the container is stopped and is removed after, the node comes back Ready. With a replicated engine
(LAB_STORAGE_ENGINE=mayastor or openebs once the double replicates) the drill must PASS every repetition
(LAB_STORAGE_DRILL_REPETITIONS, default 3; `make bench` runs 10).
"""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import changed, failure_messages, node, site

ENGINE = os.environ.get("LAB_STORAGE_ENGINE", "hostpath")
REPLICATED = ENGINE != "hostpath"
REPETITIONS = int(os.environ.get("LAB_STORAGE_DRILL_REPETITIONS", "3" if REPLICATED else "1"))
KUBECTL = ["/snap/bin/microk8s", "kubectl"]
# The double runs no addon pods and keeps no DiskPool objects (DESIGN.md "Storage": the addon's Deployment is not run
# as pods): only the classes are checked there; on real MicroK8s storage_verify_pods stays on.
STORAGE = {"storage_engine": ENGINE, "storage_demo_enabled": True, "storage_verify_pods": False}
if ENGINE == "mayastor":
    STORAGE["storage_mayastor_pool_size"] = "2G"


def _kubectl_json(*argv):
    return json.loads(node("node1", *KUBECTL, *argv, "-o", "json").stdout)


def _writer_node():
    pods = _kubectl_json("get", "pods", "-n", "storage-demo", "-l", "app=storage-writer")["items"]
    running = [p["spec"]["nodeName"] for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 1, pods
    return running[0]


def test_mayastor_preflight_refuses_the_lab_nodes_before_any_change(lab, tmp_path):
    # whatever the lab's nodes have live, nothing is persisted in these files: every node must be named
    extravars = {
        "storage_engine": "mayastor",
        "storage_mayastor_pool_size": "2G",
        "storage_sysctl_files": ["/etc/sysctl.d/00-absent.conf"],
        "storage_modules_files": ["/etc/modules-load.d/00-absent.conf"],
    }
    run, log = site(tmp_path, playbook="playbooks/storage.yml", extravars=extravars)
    messages = [m for m in failure_messages(run) if m.startswith("Storage refused")]
    assert run.rc != 0 and messages, log[-3000:]
    for name in ("node1", "node2", "node3"):
        assert "%s: vm.nr_hugepages >= 1024 is not persisted" % name in messages[0], messages[0]
        assert "%s: nvme_tcp is not persisted in modules-load.d" % name in messages[0], messages[0]
    assert changed(run) == 0
    classes = [c["metadata"]["name"] for c in _kubectl_json("get", "storageclass")["items"]]
    assert "onprem-replicated" not in classes or REPLICATED


def test_storage_role_enables_checks_and_is_idempotent(lab, tmp_path):
    run, log = site(tmp_path, playbook="playbooks/storage.yml", extravars=STORAGE)
    assert run.rc == 0, log[-4000:]
    classes = _kubectl_json("get", "storageclass")["items"]
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert defaults == ["microk8s-hostpath" if ENGINE == "hostpath" else "onprem-replicated"], defaults
    assert _writer_node()
    again, log = site(tmp_path, playbook="playbooks/storage.yml", extravars=STORAGE)
    assert again.rc == 0 and changed(again) == 0, log[-3000:]
    check, log = site(tmp_path, playbook="playbooks/storage.yml", extravars=STORAGE, cmdline="--check")
    assert check.rc == 0 and changed(check) == 0, log[-3000:]


def test_backup_and_restore_into_a_fresh_namespace(lab, tmp_path):
    dest = tmp_path / "backups"
    run, log = site(tmp_path, playbook="playbooks/storage_backup.yml", extravars={"storage_backup_dest": str(dest)})
    assert run.rc == 0, log[-4000:]
    (backup,) = list(dest.iterdir())
    sums = (backup / "SHA256SUMS").read_text()
    assert "records.log" in sums and (backup / "volume.tar").stat().st_size > 0
    restore = {"storage_backup_archive": str(backup), "storage_backup_restore_namespace": "storage-restored"}
    try:
        run, log = site(tmp_path, playbook="playbooks/storage_restore.yml", extravars=restore)
        assert run.rc == 0, log[-4000:]
        assert "every checksum matched" in log
        # a second restore into the now existing namespace is refused without confirmation
        again, log = site(tmp_path, playbook="playbooks/storage_restore.yml", extravars=restore)
        assert again.rc != 0 and any("storage_backup_confirm=true" in m for m in failure_messages(again))
    finally:
        node("node1", *KUBECTL, "delete", "namespace", "storage-restored", "--wait=false", check=False)


def test_a_damaged_backup_changes_nothing(lab, tmp_path):
    dest = tmp_path / "backups"
    run, log = site(tmp_path, playbook="playbooks/storage_backup.yml", extravars={"storage_backup_dest": str(dest)})
    assert run.rc == 0, log[-4000:]
    (backup,) = list(dest.iterdir())
    restore = {"storage_backup_archive": str(backup), "storage_backup_restore_namespace": "storage-restored"}
    # a damaged archive changes nothing
    data = bytearray((backup / "volume.tar").read_bytes())
    data[data.index(b"x" * 64)] ^= 0xFF  # a byte of a record's payload (offset 600 was in tar's PAX header)
    (backup / "volume.tar").write_bytes(bytes(data))
    bad, log = site(tmp_path, playbook="playbooks/storage_restore.yml", extravars=dict(
        restore, storage_backup_restore_namespace="storage-restored-2"))  # fmt: skip
    assert bad.rc != 0 and any("does not match its SHA256SUMS" in m for m in failure_messages(bad)), log[-2000:]
    assert node("node1", *KUBECTL, "get", "namespace", "storage-restored-2", check=False).returncode != 0


@pytest.mark.skipif(
    not os.environ.get("LAB_STORAGE_DRILL"),
    reason="opt-in (LAB_STORAGE_DRILL=1, `make bench-storage`): on 2026-11-30 the writer pointed at the collector on "
    "the witness never got Ready in the lab, so the drill has not passed yet and stays out of `make test`",
)
def test_storage_drill(lab, tmp_path):
    target = _writer_node()
    witness = next(n for n in ("node1", "node2", "node3") if n != target)
    extravars = {
        "storage_drill_power_method": "lxd",
        "storage_drill_repetitions": REPETITIONS,
        "storage_drill_report_dir": str(tmp_path / "reports"),
        "storage_drill_witness": witness,
        "storage_drill_ready_timeout": 120 if REPLICATED else 45,
        "storage_drill_fail_on_targets": False,
        "storage_timeout": 180,  # the writer's waits (it must reach the collector to be Ready)
    }
    if not REPLICATED:
        extravars["storage_drill_targets"] = [target]  # the volume is pinned: only its node can hold the writer
    started = time.monotonic()
    run, log = site(tmp_path, playbook="playbooks/storage_drill.yml", extravars=extravars)
    assert run.rc == 0, log[-5000:]
    (report,) = list((tmp_path / "reports").glob("storage-drill-*.json"))
    result = json.loads(report.read_text())
    print((tmp_path / "reports" / (report.stem + ".txt")).read_text(), "took %.0f s" % (time.monotonic() - started))
    reps = result["repetitions"]
    assert len(reps) == REPETITIONS
    for rep in reps:
        assert rep["acked"] > 0, rep  # the writer's acknowledgements reached the witness
        assert rep["off_after_seconds"] is not None and rep["taint_after_seconds"] >= rep["off_after_seconds"]
    if REPLICATED:
        assert result["result"] == "PASS", reps
        assert all(r["ready_after_seconds"] <= 90 and r["lost"] == 0 and r["corrupt"] == 0 for r in reps)
    else:
        assert result["result"] == "FAIL"
        assert all("not Ready on another node" in " ".join(r["problems"]) for r in reps), reps
    for name in {r["target"] for r in reps}:
        taints = _kubectl_json("get", "node", name)["spec"].get("taints") or []
        assert not any(t["key"] == "node.kubernetes.io/out-of-service" for t in taints), taints
        ready = _kubectl_json("get", "node", name)["status"]["conditions"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in ready), ready
