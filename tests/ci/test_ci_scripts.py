# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the CI helper scripts: the closing summary of `make test` and the get-pip stand-in's arguments."""

from __future__ import annotations

from get_pip import pip_install_args
from summary import summarize

UNITS_LOG = """
Unit test controller with Python 3.11
============================= test session starts ==============================
..............                                                           [100%]
============================== 14 passed in 0.54s ==============================
"""
DOUBLE_LOG = """
tests/lab/double/tests/test_cli.py ..F.s                                 [100%]
=========================== short test summary info ============================
FAILED tests/lab/double/tests/test_cli.py::test_status - AssertionError: assert 1 == 0
=========================== rerun test summary info ============================
RERUN tests/lab/double/tests/test_cli.py::test_status
=========== 1 failed, 3 passed, 1 skipped, 2 warnings in 2.50s ===========
make[1]: *** [Makefile:95: double-test] Error 1
"""
COLOURED_LOG = "\x1b[32m======= \x1b[32m\x1b[1m3 passed\x1b[0m\x1b[32m in 1.25s\x1b[0m\x1b[32m =======\x1b[0m\n"


def test_adds_up_the_counts_of_every_pytest_run_and_names_the_failed_steps():
    summary = summarize(UNITS_LOG + DOUBLE_LOG + "make[1]: *** [Makefile:40: lint-python] Error 1\n", 2)

    assert summary == (
        "FAILED tests/lab/double/tests/test_cli.py::test_status - AssertionError: assert 1 == 0\n"
        "RERUN tests/lab/double/tests/test_cli.py::test_status\n"
        "===== 17 passed, 1 failed, 1 skipped, 2 warnings, "
        "make test FAILED (exit 2; failed steps: double-test, lint-python) in 3.04s ====="
    )


def test_a_passing_run_reports_only_counts():
    assert summarize(UNITS_LOG, 0) == "===== 14 passed in 0.54s ====="


def test_reads_coloured_pytest_output():
    assert summarize(COLOURED_LOG, 0) == "===== 3 passed in 1.25s ====="


def test_a_failure_without_pytest_output_still_says_failed():
    assert summarize("ruff check .\nFound 1 error.\n", 2) == (
        "===== no tests ran, make test FAILED (exit 2; failed steps: see above) in 0.00s ====="
    )


def test_get_pip_only_options_are_not_passed_to_pip_install():
    args = ["--disable-pip-version-check", "pip==24.2", "--no-setuptools", "--no-wheel"]

    assert pip_install_args(args) == ["--disable-pip-version-check", "pip==24.2"]


MOLECULE_LOG = """
  \x1b[2m│\x1b[0m TASK [onprem.microk8s.ha_join : Wait for the datastore] ***
  \x1b[2m│\x1b[0m fatal: [node2]: FAILED! => {"changed": false, "msg": "datastore not ready within 120 s"}
  \x1b[2m│\x1b[0m ...ignoring
  \x1b[2m│\x1b[0m         "  FAIL        failed-request window of the app: 20.0 s (target <=
  \x1b[2m│\x1b[0m     "msg": "Drill FAIL (profile tuned): reports/failover-1.txt, .json and .png"
  \x1b[2m│\x1b[0m PLAY RECAP *********************************************************************
  \x1b[2m│\x1b[0m node1                      : ok=70   changed=0    unreachable=0    failed=0    skipped=11
  \x1b[2m│\x1b[0m node2                      : ok=12   changed=0    unreachable=0    failed=1    skipped=3
make[1]: *** [Makefile:183: lab-test] Error 2
"""


def test_a_failed_lab_step_names_the_playbook_failures_molecule_relayed():
    lines = summarize(MOLECULE_LOG, 2).splitlines()

    assert lines == [
        'fatal: [node2]: FAILED! => {"changed": false, "msg": "datastore not ready within 120 s"}',
        '"  FAIL        failed-request window of the app: 20.0 s (target <=',
        '"msg": "Drill FAIL (profile tuned): reports/failover-1.txt, .json and .png"',
        "node2                      : ok=12   changed=0    unreachable=0    failed=1    skipped=3",
        "===== no tests ran, make test FAILED (exit 2; failed steps: lab-test) in 0.00s =====",
    ]


def test_a_passing_run_leaves_out_rescued_task_failures():
    assert summarize(MOLECULE_LOG.replace("make[1]: *** [Makefile:183: lab-test] Error 2\n", ""), 0) == (
        "===== no tests ran in 0.00s ====="
    )
