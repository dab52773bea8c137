# SPDX-License-Identifier: GPL-3.0-or-later
"""The built snap's metadata names the base the real branch's snapcraft.yaml names (contract section 8)."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import DOUBLE
from microk8s_double import profiles

_spec = importlib.util.spec_from_file_location("double_build", DOUBLE / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def _base_line(version):
    lines = build.snap_yaml(profiles.for_track(version)).splitlines()
    return [line for line in lines if line.startswith("base:")]


def test_core_snaps_carry_no_base_line():
    # snapcraft leaves `base: core` out of snap.yaml; snapd refuses `base: core` when core is the OS snap.
    assert _base_line("1.20") == []


@pytest.mark.parametrize(
    ("version", "base"),
    [("1.21", "core18"), ("1.26", "core18"), ("1.27", "core20"), ("1.33", "core20"), ("1.34", "core22")],
)
def test_later_snaps_name_their_base(version, base):
    assert _base_line(version) == ["base: %s" % base]
