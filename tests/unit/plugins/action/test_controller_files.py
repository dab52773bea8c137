# SPDX-License-Identifier: GPL-3.0-or-later
"""Several private files on the controller in one task: written only when they differ, modes enforced."""

from __future__ import annotations

import base64
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.onprem.microk8s.plugins.action import controller_files


def run(args, check_mode=False):
    task = Task()
    task.args = args
    task.check_mode = check_mode
    plugin = controller_files.ActionModule(task, mock.MagicMock(), mock.MagicMock(), None, None, None)
    return plugin.run(task_vars={})


def test_directories_and_files_are_made_private_once_and_check_mode_writes_nothing(tmp_path):
    top = tmp_path / "tls"
    args = {
        "directories": [str(top), str(top / "devices")],
        "files": [
            {"path": str(top / "devices" / "pi1.key"), "content": "KEY\n"},
            {"path": str(top / "ca.pem"), "content": "CA\n", "mode": "0644"},
        ],
    }
    assert run(args, check_mode=True)["changed"] is True and not top.exists()
    first = run(args)
    assert first["changed"] is True and len(first["changed_paths"]) == 4
    assert (top / "devices" / "pi1.key").read_text() == "KEY\n"
    modes = [p.stat().st_mode & 0o777 for p in (top, top / "devices", top / "devices" / "pi1.key", top / "ca.pem")]
    assert modes == [0o700, 0o700, 0o600, 0o644]
    assert run(args) == {"changed": False, "changed_paths": []}
    assert run(args, check_mode=True)["changed"] is False


def test_a_changed_content_or_mode_is_rewritten_and_nothing_else(tmp_path):
    key, ca = tmp_path / "pi1.key", tmp_path / "ca.pem"
    args = {"files": [{"path": str(key), "content": "KEY\n"}, {"path": str(ca), "content": "CA\n"}]}
    run(args)
    key.chmod(0o644)
    ca.write_text("OLD\n")
    assert run(args, check_mode=True)["changed_paths"] == [str(key), str(ca)] and ca.read_text() == "OLD\n"
    assert run(args)["changed_paths"] == [str(key), str(ca)]
    assert key.stat().st_mode & 0o777 == 0o600 and ca.read_text() == "CA\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.parametrize("mode", ["0666", "0660", "0605", "rw", "1600"])
def test_a_mode_others_could_write_or_run_is_refused_before_any_file_is_written(tmp_path, mode):
    first = tmp_path / "a.pem"
    args = {
        "files": [{"path": str(first), "content": "A"}, {"path": str(tmp_path / "b"), "content": "B", "mode": mode}]
    }
    with pytest.raises(AnsibleActionFail, match="mode of"):
        run(args)
    assert not first.exists()


def test_a_file_in_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(AnsibleActionFail, match="no such directory"):
        run({"files": [{"path": str(tmp_path / "missing" / "a.pem"), "content": "A"}]})


def test_binary_content_from_base64_is_written_as_bytes_once(tmp_path):
    der = tmp_path / "ca.der"
    data = bytes(range(256))  # not UTF-8
    args = {"files": [{"path": str(der), "content_base64": base64.b64encode(data).decode()}]}
    assert run(args)["changed"] is True and der.read_bytes() == data
    assert run(args)["changed"] is False
    der.write_bytes(data[:-1])
    assert run(args)["changed_paths"] == [str(der)] and der.read_bytes() == data


def test_content_and_base64_content_are_one_or_the_other_and_bad_base64_is_refused(tmp_path):
    path = str(tmp_path / "f")
    with pytest.raises(AnsibleActionFail, match="mutually exclusive"):
        run({"files": [{"path": path, "content": "a", "content_base64": "YQ=="}]})
    with pytest.raises(AnsibleActionFail, match="one of the following is required"):
        run({"files": [{"path": path}]})
    with pytest.raises(AnsibleActionFail, match="is not base64"):
        run({"files": [{"path": path, "content_base64": "not base64!"}]})
    assert not (tmp_path / "f").exists()
