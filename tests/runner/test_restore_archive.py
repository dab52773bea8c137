# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup role's restore entry point (roles/backup/tasks/restore.yml) through ansible-runner on the controller:
what `microk8s dbctl backup` writes (`<dir>/<N>.key`, `<dir>/<N>.data`) is accepted, anything else refused before a
change, and the node's copy is named after the archive's directory, which dbctl's restore looks up by the file's
name (a renamed archive would restore nothing and still succeed)."""

from __future__ import annotations

import io
import os
import pathlib
import sys
import tarfile

import ansible_runner
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def archive(path, names):
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            data = b"/registry/x" if name.endswith(".key") else b"{}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def restore(tmp_path, path, check=False):
    data = tmp_path / "runner"
    data.mkdir()
    run = ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook="tests/runner/restore_archive.yml",
        extravars={
            "backup_restore_file": str(path),
            "backup_restore_confirm": True,
            "onprem_staging_dir": str(tmp_path / "staging"),
            "backup_timeout": 5,
        },
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        cmdline="--check" if check else None,
        quiet=True,
        timeout=120,
    )
    failed = [e["event_data"] for e in run.events if e.get("event") == "runner_on_failed"]
    changed = [e for e in run.events if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")]
    return run.status, failed, changed


@pytest.mark.parametrize(
    ("names", "refusal"),
    [
        (["backup/double-state.json", "backup/cluster.yaml"], "it holds no keys"),
        (["a/0.key", "a/0.data", "b/0.key", "b/0.data"], "several directories (a, b)"),
    ],
    ids=["no-keys", "two-directories"],
)
def test_an_archive_dbctl_did_not_write_is_refused_before_any_change(tmp_path, names, refusal):
    status, failed, changed = restore(tmp_path, archive(tmp_path / "backup-1.tar.gz", names))
    assert status == "failed"
    assert [f["task"] for f in failed] == ["Refuse an archive that is not a datastore backup"]
    assert refusal in failed[0]["res"]["msg"]
    assert changed == [] and not (tmp_path / "staging").exists()


def test_a_file_that_is_no_archive_is_refused(tmp_path):
    (tmp_path / "x.tar.gz").write_text("not a tar\n")
    status, failed, _changed = restore(tmp_path, tmp_path / "x.tar.gz")
    assert status == "failed" and "is not a datastore backup" in failed[0]["res"]["msg"]


def test_check_mode_accepts_a_dbctl_archive_and_changes_nothing(tmp_path):
    path = archive(tmp_path / "backup-1.tar.gz", ["backup-1/0.key", "backup-1/0.data", "backup-1/1.key"])
    status, failed, changed = restore(tmp_path, path, check=True)
    assert (status, failed, changed) == ("successful", [], [])


@pytest.mark.skipif(os.path.exists("/snap/bin/microk8s"), reason="runs dbctl for real where MicroK8s is installed")
def test_a_renamed_archive_is_copied_under_its_directorys_name(tmp_path):
    path = archive(tmp_path / "renamed.tar.gz", ["backup-20261130-150000/0.key", "backup-20261130-150000/0.data"])
    status, failed, _changed = restore(tmp_path, path)
    assert status == "failed"  # no MicroK8s on the controller: dbctl itself fails, after the copy
    assert failed[0]["task"] == "Restore with dbctl"
    assert failed[0]["res"]["cmd"][-1] == str(tmp_path / "staging" / "backups" / "backup-20261130-150000.tar.gz")
    assert list((tmp_path / "staging" / "backups").iterdir()) == []  # the copy is removed afterwards
