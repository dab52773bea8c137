# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage addons' preflight as their scripts do it on the node they run on: openebs (1.21-1.23 built in,
1.24+ community) greps `systemctl is-enabled iscsid` for `enabled` and otherwise prints its help and exits 0
without installing anything; mayastor (core, 1.24+) refuses without HugePages_Total >= 1024 in /proc/meminfo or
without `nvme_tcp` in lsmod, exit 1, its texts on stderr."""

from __future__ import annotations

import json

import pytest

OPENEBS_HELP = [
    "To enable iscsid: ",
    "      sudo systemctl enable iscsid",
    "Please refer to the OpenEBS prerequisites (https://docs.openebs.io/docs/next/prerequisites.html)",
]


def enabled(node, name: str) -> bool:
    result = node.run("status", "--format", "yaml")
    return f"name: {name.split('/')[-1]}" in result.out.split("disabled:")[0]


def stored_addons(node) -> list[str]:
    data = json.loads(node.scenario_file.read_text()).get("data", {})
    return data.get("/registry/microk8s-double/enabled-addons", [])


@pytest.mark.parametrize(
    ("version", "name", "first"),
    [
        ("1.21", "openebs", ["iscsid is not available or enabled.  Make sure iscsi is installed on all nodes."]),
        ("1.28", "community/openebs", ["iscsid is not available or enabled.",
                                       "Make sure iscsi is installed on all nodes."]),
    ],
)  # fmt: skip
def test_openebs_without_iscsid_enabled_exits_0_and_installs_nothing(make_node, version, name, first):
    node = make_node(version)
    if "/" in name:
        assert node.run("enable", "community").out.splitlines()[-1] == "Community repository is now enabled"
    for state in ("disabled", "static", "masked"):  # static: `is-enabled` exits 0, but grep finds no `enabled`
        result = node.run("enable", name, ISCSID_STATE=state)
        assert (result.rc, result.out.splitlines()) == (0, first + OPENEBS_HELP)
        assert "core/openebs" not in stored_addons(node) and "community/openebs" not in stored_addons(node)
    assert "systemctl is-enabled iscsid" in node.stand_in_log()
    installed = node.run("enable", name, ISCSID_STATE="enabled")
    assert installed.rc == 0
    assert name.split("/")[-1] in " ".join(stored_addons(node))


def meminfo(node, pages: int | None) -> None:
    proc = node.root / "proc"
    proc.mkdir(exist_ok=True)
    lines = ["MemTotal:        8000000 kB"] + ([f"HugePages_Total:    {pages}"] if pages is not None else [])
    (proc / "meminfo").write_text("\n".join(lines) + "\n")
    settings = json.loads((node.root / "settings.json").read_text())
    (node.root / "settings.json").write_text(json.dumps(dict(settings, proc_root=str(proc))))


HUGEPAGES_REFUSAL = "HugePages are not available or enabled. Please make sure HugePages are enabled."
NVME_REFUSAL = "Kernel module 'nvme_tcp' is missing or not loaded. For Ubuntu, enable with:"


@pytest.mark.parametrize("pages", [None, 0, 512, 1023])
def test_mayastor_refuses_without_1024_hugepages(make_node, pages):
    node = make_node("1.28")
    meminfo(node, pages)
    result = node.run("enable", "mayastor", LSMOD_MODULES="nvme_tcp")
    assert result.rc == 1
    assert result.out.splitlines() == ["Checking for HugePages (>= 1024)..."]
    assert HUGEPAGES_REFUSAL in result.err.splitlines()
    assert "    echo vm.nr_hugepages = 1024 | sudo tee -a /etc/sysctl.d/20-microk8s-hugepages.conf" in result.err
    assert "core/mayastor" not in stored_addons(node)


def test_mayastor_refuses_without_nvme_tcp(make_node):
    node = make_node("1.28")
    meminfo(node, 1024)
    result = node.run("enable", "mayastor", LSMOD_MODULES="nvme_core nvme_fabrics")
    assert result.rc == 1
    assert result.out.splitlines() == [
        "Checking for HugePages (>= 1024)...",
        "Checking for HugePages (>= 1024)... OK",
        "Checking for nvme_tcp module...",
    ]
    assert NVME_REFUSAL in result.err.splitlines()
    assert "Note that the 'nvme_tcp' module is needed in all cluster nodes." in result.err
    assert "core/mayastor" not in stored_addons(node)


def test_mayastor_enables_once_the_node_is_ready_and_checks_can_be_skipped(make_node):
    node = make_node("1.28")
    meminfo(node, 2048)
    result = node.run("enable", "mayastor", LSMOD_MODULES="nvme_tcp")
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert lines[:4] == [
        "Checking for HugePages (>= 1024)...",
        "Checking for HugePages (>= 1024)... OK",
        "Checking for nvme_tcp module...",
        "Checking for nvme_tcp module... OK",
    ]
    assert "Default image size set to 20G" in lines
    assert "Mayastor has been installed and will be available shortly." in lines
    assert "core/mayastor" in stored_addons(node)
    skipped = make_node("1.32", "skip")
    meminfo(skipped, 0)
    result = skipped.run("enable", "mayastor", "--skip-hugepages-check", "--skip-kernel-check")
    assert result.rc == 0 and "Checking for HugePages" not in result.out
    bad = make_node("1.32", "bad").run("enable", "mayastor", "--bogus")
    assert (bad.rc, bad.err.splitlines()[-1]) == (2, "Error: No such option: --bogus")
