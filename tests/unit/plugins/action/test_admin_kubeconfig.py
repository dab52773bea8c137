# SPDX-License-Identifier: GPL-3.0-or-later
"""The admin kubeconfig action: read on a node, written on the controller, its text never in the result."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.onprem.microk8s.plugins.action import admin_kubeconfig

KUBECONFIG = (
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n"
    "    server: https://10.77.0.11:16443\n  name: microk8s-cluster\nusers:\n- name: admin\n  user:\n"
    "    client-key-data: U0VDUkVUS0VZ\n"
)


def action(args, read, check_mode=False):
    task = Task()
    task.args = args
    task.check_mode = check_mode
    task.no_log = False
    connection, play_context = mock.MagicMock(), PlayContext()
    connection._play_context = PlayContext()  # the ssh plugin prints raw module output at -vvv unless its no_log
    plugin = admin_kubeconfig.ActionModule(task, connection, play_context, None, None, None)
    seen = {}

    def execute(module_name, module_args, task_vars):
        seen.update(module=module_name, args=module_args, check_mode=task.check_mode)
        seen.update(quiet=(task.no_log, plugin._play_context.no_log, plugin._connection._play_context.no_log))
        return read

    plugin._execute_module = execute
    return plugin, seen


def test_a_temporary_kubeconfig_is_private_points_at_the_vip_and_stays_out_of_the_result():
    plugin, seen = action({"server_host": "10.77.0.100"}, {"rc": 0, "stdout": KUBECONFIG}, check_mode=True)
    result = plugin.run(task_vars={})
    try:
        assert seen == {"module": "ansible.builtin.command", "args": {"_raw_params": admin_kubeconfig.READ},
                        "check_mode": False, "quiet": (True, True, True)}  # fmt: skip
        assert (plugin._task.no_log, plugin._play_context.no_log, plugin._task.check_mode) == (False, False, True)
        assert os.stat(result["path"]).st_mode & 0o777 == 0o600
        with open(result["path"]) as stream:
            written = stream.read()
        assert "server: https://10.77.0.100:16443\n" in written and "10.77.0.11" not in written
        assert result["ansible_facts"] == {"kubeconfig_path": result["path"]} and result["changed"] is False
        assert "U0VDUkVUS0VZ" not in repr(result)
    finally:
        os.unlink(result["path"])


@pytest.mark.parametrize(
    "read", [{"rc": 1, "stdout": KUBECONFIG, "stderr": "not running"}, {"rc": 0, "stdout": "client-key-data: U0VD"}]
)
def test_a_failed_read_or_an_output_that_is_not_a_kubeconfig_is_refused_without_showing_it(read):
    plugin, _seen = action({}, read)
    with pytest.raises(AnsibleActionFail) as failure:
        plugin.run(task_vars={})
    assert "U0VD" not in str(failure.value) and "microk8s config" in str(failure.value)


def test_a_kept_kubeconfig_is_written_once_private_and_not_in_check_mode(tmp_path):
    dest = tmp_path / "kept" / "admin.kubeconfig"
    plugin, _seen = action({"dest": str(dest)}, {"rc": 0, "stdout": KUBECONFIG}, check_mode=True)
    assert plugin.run(task_vars={})["changed"] is True and not dest.exists()
    plugin, _seen = action({"dest": str(dest)}, {"rc": 0, "stdout": KUBECONFIG})
    first = plugin.run(task_vars={})
    assert first["changed"] is True and first["path"] == str(dest)
    assert dest.read_text() == KUBECONFIG + "\n"
    assert (dest.stat().st_mode & 0o777, dest.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert plugin.run(task_vars={})["changed"] is False
    dest.chmod(0o644)
    assert plugin.run(task_vars={})["changed"] is True and dest.stat().st_mode & 0o777 == 0o600


def test_pointed_at_keeps_the_port_and_an_empty_host_keeps_the_url():
    assert "server: https://api.lan:16443" in admin_kubeconfig.pointed_at(KUBECONFIG, "api.lan")
    assert admin_kubeconfig.pointed_at(KUBECONFIG, "") == KUBECONFIG


def test_state_absent_removes_the_temporary_kubeconfig_without_contacting_a_node():
    plugin, _seen = action({}, {"rc": 0, "stdout": KUBECONFIG})
    path = plugin.run(task_vars={})["path"]
    remover, seen = action({"state": "absent", "path": path}, None)
    assert remover.run(task_vars={})["changed"] is False
    assert not os.path.exists(path) and seen == {}
    assert remover.run(task_vars={})["changed"] is False  # gone already


def test_state_absent_refuses_a_path_it_did_not_write(tmp_path):
    kept = tmp_path / "admin.kubeconfig"
    kept.write_text(KUBECONFIG)
    plugin, _seen = action({"state": "absent", "path": str(kept)}, None)
    with pytest.raises(AnsibleActionFail, match="not a temporary kubeconfig"):
        plugin.run(task_vars={})
    assert kept.exists()
