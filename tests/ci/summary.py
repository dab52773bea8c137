# SPDX-License-Identifier: GPL-3.0-or-later
"""Close a `make test` log with one pytest-style line: the pytest counts of all steps added up, and the failed steps.

Above that line, the failed and the retried tests' own lines from pytest's short summaries (`FAILED path::test -
reason`, `RERUN path::test`), and the failures of the playbooks the lab stage runs outside pytest (Ansible's `fatal:`
and `failed:` task lines, PLAY RECAP lines of a host with failures, a drill's FAIL verdict and its failed targets), so a
reader of only the log's tail (CI keeps the last lines) learns what failed.

Usage: summary.py <log file> <exit status of make>
"""

from __future__ import annotations

import re
import sys
from collections import Counter

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
PYTEST_SUMMARY = re.compile(r"^=+ (?P<counts>.*\d+ \w+.*) in (?P<seconds>[\d.]+)s\b.* =+$")
PYTEST_COUNT = re.compile(r"(\d+) (\w+)")
FAILED_TEST = re.compile(r"^(?:FAILED|ERROR|RERUN) \S+::")
# Molecule frames the playbook output it relays in a box (`  │ `); the Ansible lines are read without it.
MOLECULE_FRAME = re.compile(r"^\s*│ ?")
FAILED_PLAY_LINE = re.compile(
    r"^(?:fatal: \[|failed: \[|\S+\s+: ok=\d+ .*\b(?:failed|unreachable)=[1-9]|.*\bDrill FAIL\b|\s*\"?\s*FAIL {2,})"
)
FAILED_TEST_WIDTH = 400
# The last playbook failures are the ones that stopped the chain of lab steps.
MAX_PLAY_LINES = 20
FAILED_TARGET = re.compile(r"\*\*\* \[[^\]]*: (?P<target>[\w.-]+)\] Error")


def summarize(log: str, status: int) -> str:
    counts: Counter[str] = Counter()
    seconds = 0.0
    failed_targets = []
    failed_tests = []
    failed_plays = []
    for line in ANSI_ESCAPE.sub("", log).splitlines():
        summary = PYTEST_SUMMARY.match(line)
        if summary:
            counts.update({word: int(number) for number, word in PYTEST_COUNT.findall(summary["counts"])})
            seconds += float(summary["seconds"])
        unframed = MOLECULE_FRAME.sub("", line)
        if FAILED_TEST.match(line):
            failed_tests.append(line[:FAILED_TEST_WIDTH])
        elif FAILED_PLAY_LINE.match(unframed):
            failed_plays.append(unframed.strip()[:FAILED_TEST_WIDTH])
        failed = FAILED_TARGET.search(line)
        if failed and failed["target"] not in failed_targets:
            failed_targets.append(failed["target"])
    parts = [f"{number} {word}" for word, number in counts.items()] or ["no tests ran"]
    if not status:
        # A passing run's rescued or expected task failures are not news.
        failed_plays = []
    else:
        parts.append(f"make test FAILED (exit {status}; failed steps: {', '.join(failed_targets) or 'see above'})")
    closing = f"===== {', '.join(parts)} in {seconds:.2f}s ====="
    return "\n".join([*failed_tests, *failed_plays[-MAX_PLAY_LINES:], closing])


def main() -> int:
    log_path, status = sys.argv[1], int(sys.argv[2])
    with open(log_path, encoding="utf-8", errors="replace") as log:
        print(summarize(log.read(), status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
