# SPDX-License-Identifier: GPL-3.0-or-later
"""What several subcommands share: the context and the guards of the real wrappers (contract section 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, fields

from microk8s_double import node
from microk8s_double.node import Node

NOT_RUNNING = "microk8s is not running, try microk8s start"
NODE_IN_CLUSTER = "This MicroK8s deployment is acting as a node in a cluster."


class Exit(Exception):
    """Leave the command with this exit code (the real scripts call sys.exit / exit N)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Context(Node):
    """This node as the CLI sees it, plus the local state the real wrappers check."""

    @property
    def stopped(self) -> bool:
        return self.paths.lock("stopped.lock").exists()

    @property
    def worker(self) -> bool:
        return self.paths.lock("clustered.lock").exists()


def current() -> Context:
    here = node.current()
    return Context(**{field.name: getattr(here, field.name) for field in fields(here)})


def script_sleep(ctx: Context, seconds: float) -> None:
    """A `time.sleep` of the real join/leave scripts, scaled by the double's `join_wait` setting (the scripts'
    own `sleep 10`, default 10 s): the suite sets 0 and their retry loops run without waiting."""
    time.sleep(seconds * ctx.setting("join_wait", 10) / 10)


def host_ips() -> list[str]:
    """`hostname -I` (loopback when the host has no other address)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        out = []
    return out or ["127.0.0.1"]


def fail(text: str, code: int = 1, err: bool = True) -> None:
    print(text, file=sys.stderr if err else sys.stdout)
    raise Exit(code)


def exit_if_no_permissions(ctx: Context) -> None:
    if not os.access(ctx.paths.credentials("client.config"), os.R_OK):
        fail(
            "Insufficient permissions to access MicroK8s.\n"
            "You can either try again with sudo or add the user $USER to the 'microk8s' group:\n\n"
            "    sudo usermod -a -G microk8s $USER\n"
            "    sudo chown -R $USER ~/.kube\n\n"
            "After this, reload the user groups either via a reboot or by running 'newgrp microk8s'."
        )


def exit_if_stopped(ctx: Context) -> None:
    """The bash guard: stderr, rc 1."""
    if ctx.stopped:
        fail(NOT_RUNNING)


def exit_if_worker(ctx: Context, hint: str, code: int = 1) -> None:
    """`hint` starts with its separator: " Please use ..." (bash wrappers) or "\nPlease use ..." (Python)."""
    if ctx.worker:
        fail(NODE_IN_CLUSTER + hint, code, err=False)
