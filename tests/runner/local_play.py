# SPDX-License-Identifier: GPL-3.0-or-later
"""One play run on this machine through ansible-runner (connection local, the collection's ansible.cfg), for the
runner tests that drive a role's task files against the double's API server."""

from __future__ import annotations

import pathlib
import sys

import ansible_runner
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_play(playbook: pathlib.Path, play: dict, check: bool = False, extravars: dict | None = None):
    """Write `play` to `playbook` and run it (a fresh runner directory beside it each time) with `extravars` (-e);
    return the runner."""
    playbook.write_text(yaml.safe_dump([play]))
    data = playbook.parent / ("runner-%d" % len(list(playbook.parent.glob("runner-*"))))
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=str(playbook),
        inventory="localhost ansible_connection=local ansible_python_interpreter=" + sys.executable,
        cmdline="--check" if check else None,
        extravars=extravars or {},
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=600,
    )
