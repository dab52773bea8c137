# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip.py script that ansible-test downloads to bootstrap pip in its test venvs.

ansible-test fetches get-pip from a host that may be unreachable; it uses a pre-placed copy at
~/.ansible/test/cache/get_pip_<version>.py instead (`make sanity` puts this file there). This stand-in installs
pip with the interpreter's own ensurepip, then lets that pip install what ansible-test asked for, using the
machine's normal pip configuration (index, proxy, CA bundle).
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip options that `pip install` does not know.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def pip_install_args(get_pip_args: list[str]) -> list[str]:
    return [arg for arg in get_pip_args if arg not in GET_PIP_ONLY_OPTIONS]


def main() -> int:
    # ensurepip clears PIP_* variables and points PIP_CONFIG_FILE at /dev/null; keep the caller's environment.
    environment = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    command = [sys.executable, "-m", "pip", "install", *pip_install_args(sys.argv[1:])]
    return subprocess.call(command, env=environment)


if __name__ == "__main__":
    sys.exit(main())
