# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the admin kubeconfig on a control-plane node (`microk8s config`) and write it on the controller, in one task.

An action plugin because the credential crosses from a node to the controller: as tasks (read, check, temporary
file, write, fact) it took five tasks and ~1.5 s per role that talks to the API, three roles per site.yml run, and
every step had to keep the text out of its result. Here the text never leaves this process: the result holds only
the path."""

from __future__ import annotations

import contextlib
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.onprem.microk8s.plugins.action.controller_files import ensure_directory, ensure_file
from ansible_collections.onprem.microk8s.plugins.module_utils._kubeconfig import is_kubeconfig, pointed_at

READ = "/snap/bin/microk8s config"


def write_temporary(text: str) -> str:
    """A new private (0600) file in the controller's temporary directory; its path."""
    handle, path = tempfile.mkstemp(suffix=".kubeconfig")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    return path


def write_kept(dest: str, text: str, check_mode: bool) -> bool:
    """`dest` (0600) in a 0700 directory, rewritten only when its text or a mode differs; whether anything changed."""
    directory = ensure_directory(os.path.dirname(dest), check_mode)
    return ensure_file(dest, text, 0o600, check_mode) or directory


@contextlib.contextmanager
def quiet(*holders):
    """no_log on the task and the play contexts while the kubeconfig is read, whatever the task says: at -vvv the ssh
    connection prints every command's raw output (the module's JSON, the kubeconfig in it) unless no_log is set."""
    holders = [h for h in holders if h is not None]
    saved = [h.no_log for h in holders]
    try:
        for holder in holders:
            holder.no_log = True
        yield
    finally:
        for holder, value in zip(holders, saved):
            holder.no_log = value


def remove_temporary(path: str) -> None:
    """Remove a temporary kubeconfig write_temporary made (gone already is fine); any other path is refused."""
    if os.path.dirname(os.path.abspath(path)) != tempfile.gettempdir() or not path.endswith(".kubeconfig"):
        raise AnsibleActionFail(f"{path} is not a temporary kubeconfig of this action: left in place")
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


ARGUMENT_SPEC = {
    "server_host": {"type": "str", "default": ""},
    "dest": {"type": "str", "default": ""},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "path": {"type": "str", "default": ""},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["state"] == "absent":
            # on the controller only, no node contacted: a module run (ansible.builtin.file) cost ~0.4 s per role
            remove_temporary(args["path"])
            result["changed"] = False  # scratch space, not a change to anything
            return result
        check_mode = self._task.check_mode
        with quiet(self._task, self._play_context, getattr(self._connection, "_play_context", None)):
            self._task.check_mode = False  # the read changes nothing: it runs in check mode too
            try:
                read = self._execute_module(
                    module_name="ansible.builtin.command", module_args={"_raw_params": READ}, task_vars=task_vars
                )
            finally:
                self._task.check_mode = check_mode
        text = read.get("stdout", "")
        if read.get("rc") != 0 or not is_kubeconfig(text):
            raise AnsibleActionFail(
                "'microk8s config' did not print a kubeconfig (is this a control-plane node, and is MicroK8s "
                "running?); its output is not shown because it may hold a credential."
            )
        text = pointed_at(text, args["server_host"]) + "\n"
        if args["dest"]:
            path = os.path.abspath(args["dest"])
            result["changed"] = write_kept(path, text, bool(check_mode))
        else:
            path, result["changed"] = write_temporary(text), False  # scratch space, not a change to anything
        result.update(path=path, ansible_facts={"kubeconfig_path": path})
        return result
