# SPDX-License-Identifier: GPL-3.0-or-later
"""Lifecycle playbooks against the converged lab: destructive plays guard themselves on the hosts they touch, check
mode changes nothing, a voter is not taken away when that would lose quorum, upgrades wait for a healthy cluster,
and a backup restores a deleted app."""

from __future__ import annotations

import os
import stat
import subprocess
import time

import pytest
import yaml
from conftest import INVENTORY, changed, failure_messages, node, site

APP = ["/snap/bin/microk8s", "kubectl", "get", "deployment", "hello", "-n", "default"]


def _snap_installed(name):
    return node(name, "snap", "list", "microk8s", check=False).returncode == 0


def _until(what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out after %d s waiting for %s" % (seconds, what)
        time.sleep(2)


def _node_ready(name):
    out = node("node1", "/snap/bin/microk8s", "kubectl", "get", "node", name, "--no-headers", check=False).stdout
    return out.split()[1:2] == ["Ready"]


def _installed_snap():
    """The offline .snap the lab installed and the version `snap list` shows for it."""
    hosts = (INVENTORY / "hosts.yml").read_text()
    # the value as YAML reads it (the inventory quotes it): a quoted path is no file
    lines = [line for line in hosts.splitlines() if "microk8s_node_snap_file:" in line]
    path = yaml.safe_load(lines[0].split(":", 1)[1])
    version = node("node1", "snap", "list", "microk8s").stdout.splitlines()[1].split()[1]
    return path, version


def test_reset_limited_to_one_node_without_confirmation_changes_nothing(lab, tmp_path):
    run, log = site(tmp_path, playbook="playbooks/reset.yml", cmdline="--limit node4")
    assert run.rc != 0
    assert any("reset_confirm=true" in m for m in failure_messages(run)), log[-2000:]
    assert changed(run) == 0
    assert _snap_installed("node4")


@pytest.mark.parametrize("playbook", ["site.yml", "playbooks/verify.yml", "playbooks/upgrade.yml"])
def test_check_mode_on_the_converged_lab_changes_nothing(lab, tmp_path, playbook):
    extravars = {}
    if playbook.endswith("upgrade.yml"):
        extravars["upgrade_snap_file"], extravars["upgrade_version"] = _installed_snap()
    run, log = site(tmp_path, playbook=playbook, extravars=extravars, cmdline="--check")
    assert run.rc == 0, log[-3000:]
    assert changed(run) == 0, log[-3000:]


NAME_AND_ADDRESS = (
    'jsonpath={range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address}{"\\n"}{end}'
)


def _datastore_roles():
    """{Kubernetes node name: voter | standby | spare} from node1's `microk8s status --format yaml`."""
    status = yaml.safe_load(node("node1", "/snap/bin/microk8s", "status", "--format", "yaml").stdout)
    by_address = {entry["address"].rsplit(":", 1)[0]: entry["role"] for entry in status["high-availability"]["nodes"]}
    names = node("node1", "/snap/bin/microk8s", "kubectl", "get", "nodes", "-o", NAME_AND_ADDRESS).stdout.split("\n")
    pairs = [line.split() for line in names if line.strip()]
    return {name: by_address[ip] for name, ip in pairs if ip in by_address}


def _in_datastore(name):
    return name in _datastore_roles()


def _wait_for_ssh(name, seconds=120):
    _until(name + "'s SSH", lambda: node(name, "systemctl", "is-active", "ssh", check=False).stdout.strip() == "active",
           seconds)  # fmt: skip


def test_no_voter_removal_nor_upgrade_while_the_standby_is_down_then_it_is_removed_and_rejoins(lab, tmp_path):
    """Powered off (`lxc stop --force`), the standby blocks a voter's removal and an upgrade; then remove_node.yml
    takes it out on its own (it cannot leave: the survivor runs `remove-node --force` once it is NotReady). When it
    comes back it still believes it is a member: remove_node.yml again (it answers now: it leaves), then site.yml adds
    it back as a standby.
    Which node is the standby depends on the failover drills run before."""
    roles = _datastore_roles()
    standby = next(name for name, role in sorted(roles.items()) if role == "standby" and name != "node1")
    voter = next(name for name, role in sorted(roles.items()) if role == "voter" and name != "node1")
    removal = {"node_removal_confirm": True}
    subprocess.run(["lxc", "stop", "--force", standby], check=True, timeout=120)
    back = False
    try:
        _until(standby + " NotReady", lambda: not _node_ready(standby), 120)
        run, log = site(
            tmp_path,
            playbook="playbooks/remove_node.yml",
            extravars=removal,
            cmdline="--limit " + voter,
        )
        assert run.rc != 0
        assert any("could lose" in m and "no Ready standby" in m for m in failure_messages(run)), log[-3000:]
        assert changed(run) == 0
        assert _snap_installed(voter)

        path, version = _installed_snap()  # nothing to upgrade: the health check comes first all the same
        run, log = site(
            tmp_path,
            playbook="playbooks/upgrade.yml",
            extravars={"upgrade_snap_file": path, "upgrade_version": version},
        )
        assert run.rc != 0
        assert any("not healthy enough to upgrade" in m and standby in m for m in failure_messages(run)), log[-3000:]
        assert changed(run) == 0

        # Issue 8: the powered-off node is removed all the same, by the survivor alone.
        run, log = site(tmp_path, playbook="playbooks/remove_node.yml", extravars=removal, cmdline="--limit " + standby)
        assert run.rc == 0, log[-3000:]
        forced = [
            e["event_data"]["res"].get("cmd")
            for e in run.events
            if e.get("event") == "runner_on_ok"
            and e["event_data"].get("task") == "Remove the node from the cluster on the survivor"
        ]
        assert forced == [["/snap/bin/microk8s", "remove-node", standby, "--force"]], log[-3000:]
        assert node("node1", "/snap/bin/microk8s", "kubectl", "get", "node", standby, check=False).returncode != 0
        assert standby not in _datastore_roles()
    finally:
        subprocess.run(["lxc", "start", standby], check=True, timeout=120)
        _wait_for_ssh(standby)
        # Back: it still believes it is a member (it re-registers its Node, it is no dqlite member any more).
        # remove_node.yml again: it answers now, so it leaves (a reset to a fresh single node; the snap stays, to save
        # the lab a reinstall); then site.yml joins it again (also after a failure above: the later scenarios need
        # every node back).
        run, log = site(
            tmp_path,
            playbook="playbooks/remove_node.yml",
            extravars={**removal, "node_removal_remove_snap": False},
            cmdline="--limit " + standby,
        )
        if run.rc == 0:
            run, log = site(tmp_path)
        back = run.rc == 0
    assert back, log[-3000:]
    _until(standby + " Ready", lambda: _node_ready(standby), 180)
    _until(standby + " back in the datastore", lambda: _in_datastore(standby), 60)


def _backup(tmp_path):
    dest = tmp_path / "backups"
    run, log = site(tmp_path, playbook="playbooks/backup.yml", extravars={"backup_dest": str(dest)})
    assert run.rc == 0, log[-3000:]
    archives = list((dest / "node1").glob("backup-*.tar.gz"))
    assert len(archives) == 1
    return dest, archives[0]


def test_backup_is_private_on_the_controller_and_gone_from_the_node(lab, tmp_path):
    dest, archive = _backup(tmp_path)
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(dest / "node1").st_mode) == 0o700
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert node("node1", "ls", "/var/lib/onprem-microk8s/backups").stdout.split() == []


def test_restore_brings_a_deleted_app_back(lab, tmp_path):
    _dest, archive = _backup(tmp_path)
    node("node1", "/snap/bin/microk8s", "kubectl", "delete", "deployment", "hello", "-n", "default")
    assert node("node1", *APP, check=False).returncode != 0
    run, log = site(
        tmp_path,
        playbook="playbooks/restore.yml",
        extravars={"backup_restore_file": str(archive), "backup_restore_confirm": True},
    )
    try:
        assert run.rc == 0, log[-3000:]
        _until("the hello Deployment back", lambda: node("node1", *APP, check=False).returncode == 0, 60)
        run, log = site(tmp_path, playbook="playbooks/verify.yml")
        assert run.rc == 0, log[-3000:]
    finally:
        if node("node1", *APP, check=False).returncode != 0:  # leave the lab as the other scenarios expect it
            site(tmp_path, playbook="site.yml")


def test_a_failed_upgrade_uncordons_the_node_and_fails_clearly(lab, tmp_path):
    _path, version = _installed_snap()
    major, minor = version.lstrip("v").split(".")[:2]
    broken = tmp_path / "microk8s_broken.snap"
    broken.write_bytes(b"not a squashfs image\n" * 64)
    run, log = site(
        tmp_path,
        playbook="playbooks/upgrade.yml",
        extravars={"upgrade_snap_file": str(broken), "upgrade_version": "v%s.%d.0" % (major, int(minor) + 1)},
        cmdline="--limit node4",
    )
    assert run.rc != 0
    assert any("The upgrade of node4 failed at" in m and "uncordoned" in m for m in failure_messages(run)), log[-3000:]
    unschedulable = node(
        "node1", "/snap/bin/microk8s", "kubectl", "get", "node", "node4", "-o", "jsonpath={.spec.unschedulable}"
    ).stdout.strip()
    assert unschedulable in ("", "false")
    assert node("node4", "snap", "list", "microk8s").stdout.splitlines()[1].split()[1] == version
