# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.microk8s_checks import (
    addon_problems,
    channel_problems,
    node_problems,
    offline_install_problems,
    staging_dir_problems,
)
from ansible_collections.onprem.microk8s.plugins.modules.node_info import staging_entries

DIR = stat.S_IFDIR


@pytest.mark.parametrize(
    "channel", ["1.20/stable", "1.32/stable", "1.36/edge", "1.32-strict/stable", "1.28/beta/hotfix-1"]
)
def test_good_channels(channel):
    assert channel_problems(channel) == []


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("1.32", "write the full TRACK/RISK"),
        ("latest/stable", "write the full TRACK/RISK"),
        ("stable", "write the full TRACK/RISK"),
        ("1.32/stabel", "write the full TRACK/RISK"),
        ("1.32/Stable", "write the full TRACK/RISK"),
        ("1.32-classic/stable", "write the full TRACK/RISK"),
        ("", "write the full TRACK/RISK"),
        ("1.19/stable", "knows MicroK8s 1.20 to 1.36"),
        ("1.40/stable", "knows MicroK8s 1.20 to 1.36"),
    ],
)
def test_bad_channels(channel, expected):
    problems = channel_problems(channel)
    assert any(expected in p for p in problems), problems


def test_a_bad_channel_is_named_by_its_variable():
    assert channel_problems("1.29", "upgrade_channel")[0].startswith("upgrade_channel '1.29' is not a MicroK8s channel")


_SIGNED = {"snap_file": "m.snap", "assert_file": "m.assert", "base_snap_file": "", "base_assert_file": ""}


def test_signed_offline_files_that_exist_have_no_problem():
    assert offline_install_problems(_SIGNED, [], False, "microk8s_node_") == []


def test_missing_offline_files_are_named():
    problems = offline_install_problems(_SIGNED, ["m.assert"], False, "upgrade_")
    assert problems == ["m.assert does not exist on the controller"]


@pytest.mark.parametrize("prefix", ["microk8s_node_", "upgrade_"])
@pytest.mark.parametrize(
    ("files", "unasserted"),
    [
        ({"snap_file": "m.snap"}, "m.snap"),
        ({"snap_file": "m.snap", "assert_file": "m.assert", "base_snap_file": "core22.snap"}, "core22.snap"),
        ({"snap_file": "m.snap", "base_snap_file": "core22.snap"}, "m.snap, core22.snap"),
    ],
)
def test_an_unsigned_snap_needs_the_dangerous_opt_in(files, unasserted, prefix):
    problems = offline_install_problems(files, [], "false", prefix)
    assert len(problems) == 1, problems
    assert problems[0].startswith("no .assert file for %s: snapd would install it with --dangerous" % unasserted)
    assert "set %sallow_dangerous=true" % prefix in problems[0]
    assert offline_install_problems(files, [], "True", prefix) == []


@pytest.mark.parametrize(
    ("addons", "channel"),
    [
        ([{"name": "dns"}, {"name": "ingress"}, {"name": "metallb", "args": ["10.0.0.1-10.0.0.2"]}], "1.20/stable"),
        ([{"name": "openebs"}, {"name": "storage"}], "1.21/stable"),
        ([{"name": "core/dns"}, {"name": "hostpath-storage"}, {"name": "community/openebs"}], "1.24/stable"),
        ([{"name": "cert-manager"}, {"name": "rook-ceph"}, {"name": "nvidia"}, "observability"], "1.32/stable"),
        ([{"name": "community/forgejo"}, {"name": "core/kube-ovn"}], "1.36-strict/stable"),
    ],
)
def test_known_addons(addons, channel):
    assert addon_problems(addons, channel) == []


@pytest.mark.parametrize(
    ("addon", "channel", "expected"),
    [
        ("dsn", "1.32/stable", "dsn is not a core addon of MicroK8s 1.32"),
        ("core/dns", "1.23/stable", "has no addon repositories (1.24+); write dns"),
        ("hostpath-storage", "1.23/stable", "is not a MicroK8s 1.23 addon"),
        ("cert-manager", "1.24/stable", "is not a core addon of MicroK8s 1.24"),
        ("openebs", "1.28/stable", "(it is community/openebs)"),
        ("community/nosuch", "1.28/stable", "is not in the community repository of MicroK8s 1.28"),
        ("mine/tool", "1.28/stable", "repository mine is not one MicroK8s ships"),
        ("metallb:10.0.0.1-10.0.0.9", "1.28/stable", "give arguments in args"),
        ("Dns", "1.28/stable", "is not an addon name"),
        ("dashboard", "1.36/stable", "is not a core addon of MicroK8s 1.36"),
        ("community/starboard", "1.26/stable", "not in the community repository of MicroK8s 1.26"),
    ],
)
def test_unknown_addons_are_named(addon, channel, expected):
    problems = addon_problems([{"name": addon}], channel)
    assert any(expected in p for p in problems), problems


def _entry(path, uid=0, mode=DIR | 0o755, exists=True):
    return {"path": path, "exists": exists, "uid": uid, "mode": mode}


SAFE_PARENTS = [_entry("/var/lib"), _entry("/var"), _entry("/")]


def test_a_missing_or_root_only_staging_dir_is_fine():
    path = "/var/lib/onprem-microk8s"
    assert staging_dir_problems([_entry(path, exists=False, uid=None, mode=None), *SAFE_PARENTS], path) == []
    assert staging_dir_problems([_entry(path, mode=DIR | 0o700), *SAFE_PARENTS], path) == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_entry("/var/tmp/onprem-microk8s", uid=1000, mode=DIR | 0o700), "belongs to uid 1000, not root"),
        (_entry("/var/tmp/onprem-microk8s", mode=DIR | 0o777), "writable by group or others (mode 0777)"),
        (_entry("/var/tmp/onprem-microk8s", mode=DIR | 0o770), "writable by group or others (mode 0770)"),
        (_entry("/var/tmp/onprem-microk8s", mode=stat.S_IFLNK | 0o777), "is a symbolic link"),
        (_entry("/var/tmp/onprem-microk8s", mode=stat.S_IFREG | 0o600), "is not a directory"),
    ],
)
def test_an_unsafe_staging_dir_is_refused(entry, expected):
    problems = staging_dir_problems([entry, *SAFE_PARENTS], entry["path"])
    assert any(expected in p for p in problems), problems
    assert "nothing was installed" in problems[-1]


def test_a_world_writable_parent_is_refused():
    path = "/tmp/onprem-microk8s"
    entries = [_entry(path, exists=False, uid=None, mode=None), _entry("/tmp", mode=DIR | 0o1777), _entry("/")]
    assert any("/tmp (a parent of /tmp/onprem-microk8s) is writable" in p for p in staging_dir_problems(entries, path))


def test_a_relative_staging_dir_is_refused():
    assert "not an absolute path" in staging_dir_problems([], "onprem")[0]


def test_staging_entries_read_the_real_directories(tmp_path):
    """node_info's lstat of the directory and its parents, judged by the filter: a directory another user could
    have made (world-writable here) is refused, a root-only one accepted."""
    staging = tmp_path / "staging"
    staging.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    entries = staging_entries(str(staging))
    assert [e["path"] for e in entries][:2] == [str(staging), str(tmp_path)]
    assert entries[-1]["path"] == "/"
    own = [p for p in staging_dir_problems(entries[:2], str(staging)) if "uid" not in p]  # tests may run as non-root
    assert own == []
    os.chmod(staging, 0o777)
    assert any(
        "writable by group or others" in p for p in staging_dir_problems(staging_entries(str(staging)), str(staging))
    )
    assert staging_entries(str(staging / "missing"))[0]["exists"] is False


INFO = {
    "snapd": True,
    "snaps": {},
    "memory_mb": 4096,
    "clock": 1000.0,
    "staging": [_entry("/var/lib/onprem-microk8s", exists=False, uid=None, mode=None), *SAFE_PARENTS],
    "resolved": {"node2": "10.77.0.12"},
}
CHECKS = {
    "host": "node1",
    "system": "Linux",
    "architecture": "x86_64",
    "channel": "1.32/stable",
    "offline": False,
    "min_memory_mb": 1024,
    "max_clock_skew": 30,
    "controller_clock": 1010.0,
    "staging_dir": "/var/lib/onprem-microk8s",
    "resolve": {"node2": "10.77.0.12"},
}


def _snap(version, tracking):
    return {"microk8s": {"name": "microk8s", "version": version, "revision": "1", "tracking": tracking}}


def test_a_healthy_node_has_no_problems():
    assert node_problems(INFO, CHECKS) == []
    assert node_problems({**INFO, "snaps": _snap("v1.32.3", "1.32/stable")}, CHECKS) == []
    assert node_problems({**INFO, "snaps": _snap("v1.32.3", "latest/1.32/stable")}, CHECKS) == []


@pytest.mark.parametrize(
    ("info", "checks", "expected"),
    [
        ({"memory_mb": 512}, {}, "node1 has 512 MB of memory, MicroK8s needs at least 1024 MB"),
        ({"clock": 2000.0}, {}, "node1's clock is 990 s off the controller's"),
        ({"snapd": False}, {}, "node1 has no snapd"),
        ({}, {"architecture": "armv7l"}, "cannot run MicroK8s: Linux on armv7l"),
        ({"resolved": {"node2": "127.0.1.1"}}, {}, "node1 resolves node2 to 127.0.1.1, not 10.77.0.12"),
        ({"resolved": {}}, {}, "node1 resolves node2 to nothing"),
        ({"snaps": _snap("v1.28.15", "1.28/stable")}, {}, "runs MicroK8s tracking 1.28/stable, the inventory asks"),
        ({"snaps": _snap("v1.32.3", "1.32/candidate")}, {}, "Upgrade with playbooks/upgrade.yml"),
        ({"snaps": _snap("v1.28.1", "-")}, {"offline": True}, "runs MicroK8s v1.28.1, the inventory asks for 1.32"),
        ({"staging": [_entry("/var/lib/onprem-microk8s", uid=1000), *SAFE_PARENTS]}, {}, "belongs to uid 1000"),
    ],
)
def test_node_problems_are_named(info, checks, expected):
    problems = node_problems({**INFO, **info}, {**CHECKS, **checks})
    assert any(expected in p for p in problems), problems


def test_an_offline_node_with_the_channels_version_is_fine():
    assert node_problems({**INFO, "snaps": _snap("v1.32.0", "-")}, {**CHECKS, "offline": True}) == []
