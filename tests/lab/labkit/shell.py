# SPDX-License-Identifier: GPL-3.0-or-later
"""Running commands (argv lists only, always with a timeout) and timed progress lines."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

_START = time.monotonic()


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def run(argv: list[str], *, timeout: float = 120, check: bool = True, stdin: str | None = None) -> str:
    """Run argv, return its stdout; raise LabError on a non-zero exit (when check) or a timeout."""
    try:
        done = subprocess.run(
            argv,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:g}s: {' '.join(argv)}") from exc
    if check and done.returncode != 0:
        raise LabError(f"rc={done.returncode}: {' '.join(argv)}\n{done.stdout}{done.stderr}".rstrip())
    return done.stdout


def succeeds(argv: list[str], *, timeout: float = 30) -> bool:
    """True when argv exits 0 within the timeout."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def wait_until(probe, *, timeout: float, interval: float = 1.0, what: str) -> None:
    """Call probe() until it returns true; raise LabError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise LabError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def say(text: str) -> None:
    """One progress line, stamped with the time since the lab command started."""
    print(f"[{time.monotonic() - _START:6.1f}s] {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(title: str):
    """Print a progress line before and after a step, with how long it took."""
    began = time.monotonic()
    say(f"{title} ...")
    yield
    say(f"{title}: done in {time.monotonic() - began:.1f}s")
