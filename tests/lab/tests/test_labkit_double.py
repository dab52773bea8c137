# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json

import pytest
from labkit import double
from labkit.shell import LabError


def test_snap_files_tells_microk8s_from_its_base(tmp_path):
    for name in ("microk8s_v1.20.15_amd64.snap", "core_16_amd64.snap", "notes.txt"):
        (tmp_path / name).write_text("")
    found = double.snap_files(tmp_path)
    assert found == {
        "snap_file": tmp_path / "microk8s_v1.20.15_amd64.snap",
        "base_snap_file": tmp_path / "core_16_amd64.snap",
    }


@pytest.mark.parametrize("names", [(), ("microk8s_a.snap",), ("microk8s_a.snap", "core18.snap", "core20.snap")])
def test_snap_files_refuses_an_unexpected_build(tmp_path, names):
    for name in names:
        (tmp_path / name).write_text("")
    with pytest.raises(LabError, match="expected one microk8s"):
        double.snap_files(tmp_path)


def test_the_lab_sets_no_timing_of_its_own():
    assert json.loads(double.settings()) == {}
