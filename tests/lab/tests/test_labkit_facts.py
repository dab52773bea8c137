# SPDX-License-Identifier: GPL-3.0-or-later
"""A node's kernel facts as the lab binds them: the texts the storage preflight and `lsmod` read."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labkit import facts

MEMINFO = (
    "MemTotal:       24000000 kB\nHugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\n"
    "Hugetlb:               0 kB\n"
)
MODULES = "overlay 151552 0 - Live 0x0000000000000000\n"


def test_hugepages_are_reported_as_the_kernel_prints_them():
    text = facts.meminfo_with(MEMINFO, 1024)
    assert "HugePages_Total:    1024\n" in text and "HugePages_Free:     1024\n" in text
    assert "HugePages_Rsvd:        0\n" in text and "Hugetlb:         2097152 kB\n" in text
    assert text.startswith("MemTotal:       24000000 kB\n")


def test_a_loaded_module_is_listed_once_and_lsmod_would_show_it():
    text = facts.modules_with(MODULES, ["nvme_tcp", "overlay"])
    assert text.splitlines() == ["overlay 151552 0 - Live 0x0000000000000000",
                                 "nvme_tcp 53248 0 - Live 0x0000000000000000"]  # fmt: skip
    assert facts.modules_with(text, ["nvme_tcp"]) == text


def test_the_cli_refuses_facts_without_any_fact():
    done = subprocess.run(
        ["python3", str(Path(__file__).resolve().parents[1] / "lab.py"), "facts", "node1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "facts needs --hugepages and/or --module" in done.stderr
