# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.modules import node_info
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import Call, run

SNAP_LIST = (
    "Name      Version   Rev   Tracking       Publisher   Notes\n"
    "core20    20240111  2182  latest/stable  canonical✓  base\n"
    "microk8s  v1.32.3   7967  1.32/stable    canonical✓  classic\n"
)


@pytest.mark.parametrize("check_mode", [False, True])
def test_one_read_gives_snaps_hold_and_staging(tmp_path, check_mode):
    staging = tmp_path / "staging"
    out = run(
        node_info.main,
        {"staging_dir": str(staging), "resolve": ["localhost"]},
        [
            Call(["snap", "list"], 0, SNAP_LIST),
            Call(["snap", "get", "system", "refresh.hold"], 0, "2027-02-27T10:00:00Z\n"),
        ],
        check_mode=check_mode,
    )
    result = out.result
    assert not out.failed and result["changed"] is False
    assert result["snapd"] is True
    assert result["snaps"]["microk8s"]["tracking"] == "1.32/stable"
    assert set(result["snaps"]) == {"core20", "microk8s"}
    assert result["refresh_hold"] == "2027-02-27T10:00:00Z"
    assert result["staging"][0] == {"path": str(staging), "exists": False, "uid": None, "mode": None}
    assert result["staging"][1]["path"] == str(tmp_path) and result["staging"][1]["exists"]
    assert result["staging"][-1]["path"] == "/"
    assert result["resolved"] == {"localhost": "127.0.0.1"}
    assert result["memory_mb"] > 0


def test_nothing_installed_and_no_hold(tmp_path):
    out = run(
        node_info.main,
        {"staging_dir": str(tmp_path)},
        [
            Call(["snap", "list"], 1, "", "No snaps are installed yet."),
            Call(["snap", "get", "system", "refresh.hold"], 1, "", 'error: snap "core" has no "refresh.hold"'),
        ],
    )
    assert out.result["snaps"] == {} and out.result["refresh_hold"] == ""
