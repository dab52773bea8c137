# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private directories and files on the controller, several in one task.

An action plugin because the roles keep credentials and trust bundles on the controller (device certificates and
keys, CA files): as a loop of ansible.builtin.copy each file cost a module run (~0.55 s) on every re-run, nine of them
on tls_ingress's no-op path. Nothing is sent to a node: the controller writes, compares and reports here."""

from __future__ import annotations

import base64
import binascii
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.onprem.microk8s.plugins.module_utils._controller_files import SPEC, write_atomically


def ensure_directory(path: str, check_mode: bool) -> bool:
    """`path` a directory of mode 0700 (parents made 0700 too); whether anything changed (or would)."""
    if os.path.isdir(path) and os.stat(path).st_mode & 0o777 == 0o700:
        return False
    if os.path.exists(path) and not os.path.isdir(path):
        raise AnsibleActionFail(f"{path} exists and is not a directory")
    if not check_mode:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    return True


def ensure_file(path: str, content: str | bytes, mode: int, check_mode: bool) -> bool:
    """`path` holds `content` (text, written as UTF-8, or bytes) with `mode`, written atomically (a temporary file of
    that mode in the same directory, renamed over it) when either differs; whether anything changed (or would)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(path, "rb") as stream:
            same = stream.read() == data and os.stat(path).st_mode & 0o777 == mode
    except FileNotFoundError:
        same = False
    if same or check_mode:
        return not same
    write_atomically(path, data, mode)
    return True


def file_content(entry: dict) -> str | bytes:
    """A file's text, or its bytes from `content_base64` (binary files such as a DER certificate)."""
    if entry.get("content") is not None:
        return entry["content"]
    try:
        return base64.b64decode(entry["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise AnsibleActionFail(f"content_base64 of {entry['path']} is not base64") from None


def parse_mode(text: str, path: str) -> int:
    try:
        mode = int(str(text), 8)
    except ValueError:
        raise AnsibleActionFail(f"mode of {path}: {text!r} is not an octal mode such as 0600") from None
    if mode & ~0o777 or mode & 0o077 & ~0o044:
        raise AnsibleActionFail(f"mode of {path}: {text} would let others write or run it")
    return mode


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=SPEC)
        check_mode = bool(self._task.check_mode)
        changed = [d for d in args["directories"] if ensure_directory(d, check_mode)]
        for entry in args["files"]:  # every mode checked before the first file is written
            entry["mode"] = parse_mode(entry["mode"], entry["path"])
        for entry in args["files"]:
            if not os.path.isdir(os.path.dirname(entry["path"]) or ".") and not check_mode:
                raise AnsibleActionFail(f"{os.path.dirname(entry['path'])}: no such directory (list it in directories)")
            if ensure_file(entry["path"], file_content(entry), entry["mode"], check_mode):
                changed.append(entry["path"])
        result.update(changed=bool(changed), changed_paths=changed)
        return result
