# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() against a scripted sequence of commands.

Each expected call is `Call(argv, rc, stdout, stderr)` where argv is the command as the module means it
(`["microk8s", "status", ...]`, `["snap", "list", "microk8s"]`); the harness checks the runner's full argv (stdin
closed, timeout, resolved binary) ends with exactly that, in that order, and that no call is left over or extra.
Reads a module runs side by side (`microk8s kubectl get`, `microk8s config`: SIDE_BY_SIDE; for node_info, every read
after its `snap` ones: NODE_READS) may come in any order among the run of such calls at the head of what is expected.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.testing import patch_module_args

BIN = {
    "microk8s": "/snap/bin/microk8s",
    "snap": "/usr/bin/snap",
    "ctr": "/usr/bin/ctr",
    "dpkg-query": "/usr/bin/dpkg-query",
    "systemctl": "/usr/bin/systemctl",
    "ip": "/usr/sbin/ip",
    "openssl": "/usr/bin/openssl",
}


# Commands a module may run concurrently (node_info's gets and its `microk8s config`).
SIDE_BY_SIDE = (["microk8s", "kubectl", "get"], ["microk8s", "config"])
# node_info's reads once `snap list` and `snap get` answered: status, facts, packages/services/certificates, images
NODE_READS = (*SIDE_BY_SIDE, ["microk8s", "status"], ["microk8s", "ctr"], ["ip"], ["dpkg-query"], ["systemctl"],
              ["openssl"])  # fmt: skip


def _side_by_side(argv, side_by_side):
    return any(argv[: len(prefix)] == prefix for prefix in side_by_side)


def _take(expected, program, side_by_side):
    """The expected call `program` answers: the head, or one in the head's run of side-by-side calls."""
    if _side_by_side(program, side_by_side):
        for index, call in enumerate(expected):
            if not _side_by_side(call.argv, side_by_side):
                break
            if call.argv == program:
                return expected.pop(index)
    return expected.pop(0)


@dataclass
class Call:
    argv: list
    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    data: object = None


@dataclass
class Outcome:
    result: dict
    failed: bool
    calls: list = field(default_factory=list)

    @property
    def output(self):
        """Everything the module returned, as one string (to prove secrets are absent)."""
        return json.dumps(self.result, sort_keys=True, default=str)


class _Exit(Exception):
    def __init__(self, result, failed):
        super().__init__()
        self.result = result
        self.failed = failed


def _program_argv(argv):
    """Strip the runner's wrapper: [sh -c ... timeout -k N T /snap/bin/microk8s a b] -> [microk8s a b]."""
    if argv[:2] == ["/bin/sh", "-c"]:
        argv = argv[4:]
    if argv and argv[0] == "timeout":
        argv = argv[4:]
    name = next((k for k, v in BIN.items() if v == argv[0]), argv[0])
    return [name, *argv[1:]]


def run(main, args, calls, check_mode=False, diff=False, version=None, side_by_side=SIDE_BY_SIDE):
    """Run main() with module args; return Outcome. `version` prepends the `snap list microk8s` call if given;
    calls `side_by_side` names may come in any order among the head's run of them."""
    expected = list(calls)
    if version:
        expected.insert(0, snap_list_call(version))
    seen = []
    lock = threading.Lock()
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff

    def fake_run_command(self, argv, **kwargs):
        assert kwargs.get("environ_update", {}).get("LC_ALL") == "C", "commands must run in the C locale"
        if argv[:2] == ["/bin/sh", "-c"]:
            assert argv[2] == 'exec "$@" </dev/null', "stdin must be closed"
        program = _program_argv(argv)
        with lock:
            seen.append(program)
            assert expected, "unexpected extra command: %s" % program
            call = _take(expected, program, side_by_side)
            assert program == call.argv, "command %d differs" % len(seen)
        return call.rc, call.stdout, call.stderr

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_module_args(module_args))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "run_command", fake_run_command))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "get_bin_path", _fake_bin_path))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "exit_json", _capture(failed=False)))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "fail_json", _capture(failed=True)))
        raised = stack.enter_context(pytest.raises(_Exit))
        main()
    assert not expected or raised.value.failed, "commands expected but not run: %s" % [c.argv for c in expected]
    return Outcome(result=raised.value.result, failed=raised.value.failed, calls=seen)


def _fake_bin_path(self, name, *args, **kwargs):
    return BIN.get(name)


def _capture(failed):
    """Capture what exit_json/fail_json would print, after AnsibleModule's own removal of no_log values."""

    def capture(self, msg=None, **kwargs):
        if failed or msg is not None:
            kwargs["msg"] = msg
        raise _Exit(remove_values(kwargs, self.no_log_values), failed)

    return capture


def snap_list_call(version, tracking=None):
    """`snap list microk8s` answering with an installed MicroK8s of this version (e.g. "1.28")."""
    tracking = tracking or "%s/stable" % version
    out = (
        "Name      Version   Rev   Tracking     Publisher   Notes\n"
        "microk8s  v%s.3  6089  %s  canonical✓  classic\n" % (version, tracking)
    )
    return Call(["snap", "list", "microk8s"], 0, out)
