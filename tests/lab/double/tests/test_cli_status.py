# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s status` against the contract (section 3), per version profile."""

from __future__ import annotations

import os

NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection."
THREE_VOTERS = [{"address": f"10.77.0.{n}:19001", "role": "voter"} for n in (1, 2, 3)] + [
    {"address": "10.77.0.4:19001", "role": "standby"},
    {"address": "10.77.0.7:19001", "role": "spare"},
]


def test_pretty_running_lists_datastore_and_addons(node):
    node.scenario({"nodes": [{"status": "Ready"}], "members": THREE_VOTERS})
    result = node.run("status")
    lines = result.out.splitlines()
    assert result.rc == 0
    assert lines[:4] == [
        "microk8s is running",
        "high-availability: yes",
        "  datastore master nodes: 10.77.0.1:19001 10.77.0.2:19001 10.77.0.3:19001",
        "  datastore standby nodes: 10.77.0.4:19001",
    ]
    assert lines[4:6] == ["addons:", "  enabled:"]
    assert "10.77.0.7" not in result.out
    ha_line = "    ha-cluster           # (core) Configure high availability on the current node"
    if node.minor < 24:
        ha_line = ha_line.replace("(core) ", "")
    assert ha_line in lines
    assert ("    dns                  # (core) CoreDNS" in lines[: lines.index("  disabled:")]) == (node.minor >= 27)


def test_single_voter_is_not_ha(node):
    node.scenario({"nodes": [{"status": "Ready"}], "members": [{"address": "127.0.0.1:19001", "role": "voter"}]})
    lines = node.run("status").out.splitlines()
    assert lines[1:4] == [
        "high-availability: no",
        "  datastore master nodes: 127.0.0.1:19001",
        "  datastore standby nodes: none",
    ]


def test_not_ready_text_and_exit_code_by_version(node):
    node.scenario({"members": []})
    for argv in (["status"], ["status", "--format", "short"], ["status", "-w", "-t", "1"]):
        result = node.run(*argv)
        assert result.out == NOT_RUNNING + "\n"
        assert result.rc == (1 if node.minor >= 28 else 0)


def test_yaml_not_running_puts_message_after_high_availability(node):
    node.scenario({"members": []})
    result = node.run("status", "--format", "yaml")
    assert result.out.splitlines() == [
        "microk8s:",
        "  running: False",
        "high-availability:",
        "  enabled: True",  # the ha-cluster addon, still queried: dqlite does not answer, no nodes
        "  nodes:",
        f"  message: {NOT_RUNNING}",
    ]


def test_yaml_lone_node_lists_itself_and_addon_versions(node):
    """status.py print_yaml: `enabled` is the ha-cluster addon; the nodes come from dqlite even without HA; each
    addon carries the version of its addons.yaml entry (core-addons per branch; addon-lists.yaml before 1.24)."""
    node.scenario({"nodes": [{"status": "Ready"}], "members": [{"address": "127.0.0.1:19001", "role": "voter"}]})
    lines = node.run("status", "--format", "yaml").out.splitlines()
    assert lines[2:7] == [
        "high-availability:",
        "  enabled: True",
        "  nodes:",
        "    - address: 127.0.0.1:19001",
        "      role: voter",
    ]
    dns = lines.index("  - name: dns")
    version = {"1.20": "1.6.6", "1.24": "1.9.0", "1.28": "1.10.1", "1.32": "1.10.1"}[f"1.{node.minor}"]
    assert f"    version: {version}" in lines[dns : dns + 5]
    node.run("disable", "ha-cluster", "--force")
    assert node.run("status", "--format", "yaml").out.splitlines()[2:4] == ["high-availability:", "  enabled: False"]


def test_yaml_running(node):
    node.scenario({"nodes": [{"status": "Ready"}], "members": THREE_VOTERS})
    lines = node.run("status", "--format", "yaml").out.splitlines()
    assert lines[:6] == [
        "microk8s:",
        "  running: True",
        "high-availability:",
        "  enabled: True",
        "  nodes:",
        "    - address: 10.77.0.1:19001",
    ]
    assert "      role: spare" in lines
    first = lines.index("  - name: ha-cluster") if node.minor < 27 else lines.index("  - name: dns")
    block = lines[first : first + (5 if node.minor >= 24 else 4)]
    assert block[-2:] == ["    version: " + ("0.1.0" if node.minor < 27 else "1.10.1"), "    status: enabled"]
    assert ("    repository: core" in block) == (node.minor >= 24)


def test_short_and_deprecated_yaml_name_addons_by_repository_from_1_24(node):
    short = node.run("status", "--format", "short").out.splitlines()
    old_yaml = node.run("status", "--yaml").out.splitlines()
    name = "core/ha-cluster" if node.minor >= 24 else "ha-cluster"
    assert short[:2] == ["microk8s is running", "addons:"]
    assert f"{name}: enabled" in short
    assert old_yaml[:3] == ["microk8s:", "  running: True", "addons:"]
    assert f"  {name}: enabled" in old_yaml


def test_addon_flag_prints_enabled_or_disabled_only(node):
    assert node.run("status", "-a", "ha-cluster").out == "enabled\n"
    assert node.run("status", "-a", "metallb").out == "disabled\n"
    assert node.run("status", "-a", "no-such-addon").out == "disabled\n"
    node.scenario({"members": []})
    result = node.run("status", "-a", "ha-cluster")
    assert (result.out, result.rc) == ("disabled\n", 1 if node.minor >= 28 else 0)


def test_stopped_is_stdout_rc_0(node):
    node.lock("stopped.lock").touch()
    result = node.run("status")
    assert (result.rc, result.out) == (0, "microk8s is not running, try microk8s start\n")


def test_worker_node_by_version(node):
    node.lock("clustered.lock").touch()
    result = node.run("status")
    if node.minor >= 24:
        assert (result.rc, result.out.splitlines()[1]) == (0, "Please use the control plane node.")
    else:
        assert (result.rc, result.out.splitlines()[1]) == (1, "Please use the master node.")


def test_unreadable_client_config_is_a_permission_error(node):
    if os.geteuid() == 0:
        (node.data / "credentials" / "client.config").unlink()
    else:
        (node.data / "credentials" / "client.config").chmod(0)
    result = node.run("status")
    assert result.rc == 1
    assert result.err.startswith("Insufficient permissions to access MicroK8s.")
