# SPDX-License-Identifier: GPL-3.0-or-later
"""The one seam between the network code and root-only commands (`ip`, `sysctl`): the suite passes a fake."""

from __future__ import annotations

import subprocess
import sys


class Runner:
    """Runs commands; `run` returns (rc, stdout) and never raises on a non-zero exit (callers decide)."""

    def run(self, *argv: str) -> tuple[int, str]:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"{' '.join(argv)}: {error}", file=sys.stderr, flush=True)
            return 127, ""
        if done.returncode:
            print(f"{' '.join(argv)}: rc {done.returncode} {done.stderr.strip()}", file=sys.stderr, flush=True)
        return done.returncode, done.stdout
