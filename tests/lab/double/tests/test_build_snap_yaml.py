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


# The command apps of canonical/microk8s `snap/snapcraft.yaml` per release branch (daemons left out; `microk8s`
# itself and `dashboard-proxy` are apps there too), read from the 1.20, 1.23, 1.24, 1.25, 1.27, 1.28 and 1.35 branches.
COMMON_APPS = {
    "kubectl", "add-node", "refresh-certs", "join", "remove-node", "leave", "ctr", "inspect", "enable", "disable",
    "start", "stop", "status", "config", "reset", "istioctl", "linkerd", "helm", "helm3", "dbctl", "dashboard-proxy",
}  # fmt: skip
REAL_APPS = {
    "1.20": COMMON_APPS | {"cilium", "juju"},
    "1.23": COMMON_APPS | {"cilium", "juju"},
    "1.24": COMMON_APPS | {"cilium", "addons"},
    "1.25": COMMON_APPS | {"cilium", "addons", "images", "version"},
    "1.27": COMMON_APPS | {"cilium", "addons", "images", "version"},
    "1.28": COMMON_APPS | {"addons", "images", "version"},
    "1.35": COMMON_APPS | {"addons", "images", "version"},
}


def _apps(version):
    """{app: (command, daemon?)} from the built snap.yaml."""
    apps, name = {}, None
    for line in build.snap_yaml(profiles.for_track(version)).split("apps:\n", 1)[1].splitlines():
        if line.startswith("  ") and not line.startswith("    "):
            name = line.strip().rstrip(":")
            apps[name] = {}
        else:
            key, _colon, value = line.strip().partition(": ")
            apps[name][key] = value
    return apps


@pytest.mark.parametrize("version", sorted(REAL_APPS))
def test_the_snap_has_the_real_command_apps_of_its_version(version):
    apps = _apps(version)
    commands = {name for name, app in apps.items() if "daemon" not in app and name != "microk8s"}
    assert commands == REAL_APPS[version]
    for name in commands:  # /snap/bin/microk8s.<name> runs `microk8s <name>`
        assert apps[name] == {"command": f"bin/microk8s {name}"}
    assert apps["microk8s"] == {"command": "bin/microk8s"}
