# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os
from unittest import mock

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.modules import microk8s_addon
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import Call, run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures")
STATUS = ["microk8s", "status", "--format", "yaml", "--wait-ready", "--timeout", "300"]
RANGE = "10.77.0.240-10.77.0.250"


def fixture(path):
    with open(os.path.join(FIXTURES, path + ".txt")) as handle:
        return handle.read()


def status(addons, rc=0, running=True):
    """`status --format yaml` as status.py prints it; `repo/name` keys print a `repository:` line (1.24+)."""
    lines = ["microk8s:", "  running: %s" % running, "high-availability:", "  enabled: True", "  nodes:"]
    lines += ["    - address: 10.77.0.11:19001", "      role: voter"]
    if running:
        lines.append("addons:")
        for name, state in addons.items():
            repository, bare = name.rpartition("/")[::2]
            lines.append("  - name: %s" % bare)
            lines += ["    repository: %s" % repository] if repository else []
            lines += ["    description: the %s addon" % bare, "    version: 1.0.0", "    status: %s" % state]
    else:
        lines.append("  message: microk8s is not running. Use microk8s inspect for a deeper inspection.")
    return Call(STATUS, rc, "\n".join(lines) + "\n")


def xable(argv, output, rc=0, stderr=""):
    return Call(["microk8s", *argv], rc, fixture(output) if output else "", stderr)


CORE_28 = {"core/dns": "enabled", "core/ha-cluster": "enabled", "core/community": "disabled"}


def core_28(**states):
    addons = dict(CORE_28)
    addons.update({"core/" + name.replace("_", "-"): state for name, state in states.items()})
    return addons


# -- enable / idempotence / check mode ------------------------------------------------------------------------------


def test_enable_metallb_1_28():
    out = run(
        microk8s_addon.main,
        {"name": "metallb", "args": [RANGE]},
        [
            status(core_28(metallb="disabled")),
            xable(
                ["enable", "metallb", RANGE], "enable/1.28-metallb", stderr="Infer repository core for addon metallb"
            ),
            status(core_28(metallb="enabled")),
        ],
        diff=True,
        version="1.28",
    )
    assert not out.failed and out.result["changed"] is True
    assert out.result["commands"] == [["microk8s", "enable", "metallb", RANGE]]
    assert out.result["changed_addons"] == [{"name": "metallb", "from": "disabled", "to": "enabled"}]
    assert out.result["addons"] == [{"name": "metallb", "state": "enabled"}]
    assert out.result["diff"] == {"before": {"metallb": "disabled"}, "after": {"metallb": "enabled"}}


@pytest.mark.parametrize("check_mode", [False, True])
def test_already_enabled_runs_nothing(check_mode):
    out = run(
        microk8s_addon.main,
        {"name": "metallb", "args": [RANGE]},
        [status(core_28(metallb="enabled"))],
        check_mode=check_mode,
        diff=True,
        version="1.28",
    )
    assert out.result["changed"] is False
    assert out.result["commands"] == [] and out.result["changed_addons"] == []
    assert out.result["diff"]["before"] == out.result["diff"]["after"] == {"metallb": "enabled"}


def test_check_mode_reports_the_plan_without_enabling():
    out = run(
        microk8s_addon.main,
        {"name": "core/metallb", "args": [RANGE]},
        [status(core_28(metallb="disabled"))],
        check_mode=True,
        diff=True,
        version="1.28",
    )
    assert out.result["changed"] is True
    assert out.result["commands"] == [["microk8s", "enable", "core/metallb", RANGE]]
    assert out.result["diff"] == {"before": {"core/metallb": "disabled"}, "after": {"core/metallb": "enabled"}}
    assert all(call[:2] != ["microk8s", "enable"] for call in out.calls)


@pytest.mark.parametrize(
    "version, output", [("1.20", "enable/1.20-already-enabled"), ("1.24", "enable/1.24-already-enabled")]
)
def test_already_enabled_text_means_unchanged(version, output):
    """status said disabled (its check is a substring match), enable says it is already there: no change."""
    name = "dns" if version == "1.20" else "core/dns"
    out = run(
        microk8s_addon.main,
        {"name": "dns"},
        [status({name: "disabled"}), xable(["enable", "dns"], output)],
        version=version,
    )
    assert not out.failed and out.result["changed"] is False and out.result["commands"] == []


def test_several_addons_one_command_each_1_32():
    addons = {"core/dns": "enabled", "core/hostpath-storage": "disabled", "core/rbac": "enabled"}
    after_first = dict(addons, **{"core/hostpath-storage": "enabled"})
    after_second = dict(after_first, **{"core/rbac": "disabled"})
    out = run(
        microk8s_addon.main,
        {
            "addons": [
                {"name": "dns"},
                {"name": "hostpath-storage"},
                {"name": "rbac", "state": "disabled"},
            ]
        },
        [
            status(addons),
            xable(["enable", "hostpath-storage"], None),
            status(after_first),
            xable(["disable", "rbac"], None),
            status(after_second),
        ],
        diff=True,
        version="1.32",
    )
    assert [c["name"] for c in out.result["changed_addons"]] == ["hostpath-storage", "rbac"]
    assert out.result["diff"]["before"] == {"dns": "enabled", "hostpath-storage": "disabled", "rbac": "enabled"}
    assert out.result["diff"]["after"] == {"dns": "enabled", "hostpath-storage": "enabled", "rbac": "disabled"}
    assert out.result["msg"] == "enabled hostpath-storage; disabled rbac"


def test_addon_enabled_by_an_earlier_one_is_not_enabled_again():
    """cert-manager enables dns itself (1.28): the dns step finds it done in the status read after cert-manager."""
    out = run(
        microk8s_addon.main,
        {"addons": [{"name": "cert-manager"}, {"name": "dns"}]},
        [
            status(core_28(dns="disabled", cert_manager="disabled")),
            xable(["enable", "cert-manager"], "enable/1.28-cert-manager"),
            status(core_28(dns="enabled", cert_manager="enabled")),
        ],
        version="1.28",
    )
    assert out.result["commands"] == [["microk8s", "enable", "cert-manager"]]


# -- community repository ------------------------------------------------------------------------------------------

COMMUNITY_OFF = {"core/dns": "enabled", "core/community": "disabled"}
COMMUNITY_ON = {"core/dns": "enabled", "core/community": "enabled", "community/openebs": "disabled"}


def test_community_addon_enables_the_repository_first_1_24():
    out = run(
        microk8s_addon.main,
        {"name": "community/openebs"},
        [
            status(COMMUNITY_OFF),
            xable(["enable", "community"], "enable/1.24-community"),
            status(COMMUNITY_ON),
            xable(["enable", "community/openebs"], "enable/1.24-openebs"),
            status(dict(COMMUNITY_ON, **{"community/openebs": "enabled"})),
        ],
        diff=True,
        version="1.24",
    )
    assert out.result["changed_addons"] == [
        {"name": "community", "from": "disabled", "to": "enabled"},
        {"name": "community/openebs", "from": "disabled", "to": "enabled"},
    ]
    assert "enabled community (needed by community/openebs)" in out.result["msg"]
    assert out.result["diff"]["before"] == {"community": "disabled", "community/openebs": "disabled"}


def test_community_plan_in_check_mode():
    out = run(
        microk8s_addon.main, {"name": "community/openebs"}, [status(COMMUNITY_OFF)], check_mode=True, version="1.28"
    )
    assert out.result["commands"] == [["microk8s", "enable", "community"], ["microk8s", "enable", "community/openebs"]]


def test_disabling_a_community_addon_with_the_repository_off_is_a_no_op():
    out = run(
        microk8s_addon.main,
        {"name": "community/openebs", "state": "disabled"},
        [status(COMMUNITY_OFF)],
        version="1.28",
    )
    assert out.result["changed"] is False


def test_openebs_without_iscsid_exits_0_but_fails_with_advice():
    out = run(
        microk8s_addon.main,
        {"name": "community/openebs"},
        [
            status(COMMUNITY_ON),
            xable(["enable", "community/openebs"], "enable/1.24-openebs-no-iscsid"),
            status(COMMUNITY_ON),
        ],
        version="1.24",
    )
    assert out.failed
    assert "apt install open-iscsi && systemctl enable --now iscsid" in out.result["msg"]
    assert out.result["rc"] == 0 and "iscsid is not available" in out.result["stdout"]


def test_unknown_community_addon_after_enabling_the_repository():
    out = run(
        microk8s_addon.main,
        {"name": "community/nope"},
        [status(COMMUNITY_OFF), xable(["enable", "community"], "enable/1.24-community"), status(COMMUNITY_ON)],
        version="1.24",
    )
    assert out.failed and "unknown addon community/nope" in out.result["msg"]
    assert "community/openebs" in out.result["msg"]


# -- failures ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, addons, name",
    [
        ("1.20", {"dns": "enabled", "metallb": "disabled"}, "foo"),
        ("1.24", COMMUNITY_OFF, "foo"),
        ("1.24", COMMUNITY_OFF, "core/foo"),
        ("1.28", COMMUNITY_ON, "community/foo"),
    ],
)
def test_unknown_addon_names_the_available_ones(version, addons, name):
    out = run(microk8s_addon.main, {"name": name}, [status(addons)], version=version)
    assert out.failed and "unknown addon %s" % name in out.result["msg"]
    assert ("dns" if version == "1.20" else "core/dns") in out.result["msg"]


def test_bare_community_addon_name_gets_a_hint():
    out = run(microk8s_addon.main, {"name": "openebs"}, [status(COMMUNITY_OFF)], version="1.28")
    assert out.failed and "name its addons community/<name>" in out.result["msg"]


def test_zero_timeout_is_refused():
    out = run(microk8s_addon.main, {"name": "dns", "timeout": 0}, [], version="1.28")
    assert out.failed and "at least 1 second" in out.result["msg"]


def test_repo_syntax_needs_1_24():
    out = run(microk8s_addon.main, {"name": "core/dns"}, [], version="1.23")
    assert out.failed and "1.24+" in out.result["msg"] and "1.23" in out.result["msg"]


def test_addon_in_two_repositories_must_be_named_with_its_repository():
    out = run(
        microk8s_addon.main,
        {"name": "dns"},
        [status({"core/dns": "disabled", "community/dns": "disabled"})],
        version="1.28",
    )
    assert out.failed and "name it repo/dns" in out.result["msg"]


def test_1_20_ignores_the_script_exit_code_so_the_status_decides():
    out = run(
        microk8s_addon.main,
        {"name": "metallb", "args": ["10.77.0.240"]},
        [
            status({"dns": "enabled", "metallb": "disabled"}),
            xable(["enable", "metallb", "10.77.0.240"], "enable/1.20-metallb-invalid-range"),
            status({"dns": "enabled", "metallb": "disabled"}),
        ],
        version="1.20",
    )
    assert out.failed and "metallb is disabled" in out.result["msg"]
    assert "START-END or CIDR" in out.result["msg"]


def test_failing_script_fails_without_reading_status_again_1_28():
    out = run(
        microk8s_addon.main,
        {"name": "metallb", "args": ["10.77.0.240"]},
        [
            status(core_28(metallb="disabled")),
            xable(["enable", "metallb", "10.77.0.240"], "enable/1.28-metallb-invalid-range", 1),
        ],
        version="1.28",
    )
    assert out.failed and out.result["rc"] == 1
    assert out.result["cmd"] == "microk8s enable metallb 10.77.0.240"


@pytest.mark.parametrize("args", [[], [RANGE, "10.77.1.0/24"]])
def test_metallb_needs_one_range_before_anything_runs(args):
    out = run(
        microk8s_addon.main, {"name": "metallb", "args": args}, [status(core_28(metallb="disabled"))], version="1.28"
    )
    assert out.failed and "metallb needs exactly one args item" in out.result["msg"]


def test_ha_cluster_disable_without_force():
    out = run(
        microk8s_addon.main,
        {"name": "ha-cluster", "state": "disabled"},
        [status(CORE_28), xable(["disable", "ha-cluster"], "disable/1.28-ha-cluster-single-node", 2)],
        version="1.28",
    )
    assert out.failed and "--force" in out.result["msg"] and out.result["rc"] == 2


@pytest.mark.parametrize(
    "args, message",
    [(["--help"], "--help"), (["-h"], "--help")],
)
def test_help_is_never_passed(args, message):
    out = run(microk8s_addon.main, {"name": "dns", "args": args}, [], version="1.28")
    assert out.failed and message in out.result["msg"]


@pytest.mark.parametrize("name", ["metallb:10.0.0.1-10.0.0.9", "dns 1.1.1.1", "--force", "a/b/c"])
def test_bad_names_are_refused(name):
    out = run(microk8s_addon.main, {"name": name}, [], version="1.28")
    assert out.failed and "is not an addon name" in out.result["msg"]


def test_same_addon_twice_is_refused():
    out = run(
        microk8s_addon.main,
        {"addons": [{"name": "dns"}, {"name": "core/dns", "state": "disabled"}]},
        [],
        version="1.28",
    )
    assert out.failed and "listed twice" in out.result["msg"]


def test_name_and_addons_are_exclusive():
    out = run(microk8s_addon.main, {"name": "dns", "addons": [{"name": "rbac"}]}, [])
    assert out.failed and "mutually exclusive" in out.result["msg"]


@pytest.mark.parametrize(
    "version, call, text",
    [
        ("1.28", status({}, rc=1, running=False), "did not become ready"),
        ("1.24", Call(STATUS, 0, fixture("status/1.24-worker")), "worker node"),
        ("1.24", Call(STATUS, 0, fixture("status/1.24-stopped")), "stopped"),
        ("1.28", Call(STATUS, 1, "", fixture("status/1.28-no-permission")), "Insufficient permissions"),
    ],
    ids=["not-ready", "worker", "stopped", "no-permission"],
)
def test_node_that_cannot_change_addons(version, call, text):
    out = run(microk8s_addon.main, {"name": "dns"}, [call], version=version)
    assert out.failed and text in out.result["msg"]


def test_node_not_ready_after_the_change():
    out = run(
        microk8s_addon.main,
        {"name": "rbac"},
        [status(core_28(rbac="disabled")), xable(["enable", "rbac"], None), status({}, rc=1, running=False)],
        version="1.28",
    )
    assert out.failed and "after microk8s enable rbac" in out.result["msg"]


# -- hostpath-storage prompt ---------------------------------------------------------------------------------------


def test_hostpath_storage_disable_keeps_data_when_not_told_to_destroy_it():
    """The script removes the provisioner, then asks about the data; with stdin closed the question fails (rc 1)."""
    with mock.patch.object(AnsibleModule, "warn") as warn:
        out = run(
            microk8s_addon.main,
            {"name": "hostpath-storage", "state": "disabled"},
            [
                status(core_28(hostpath_storage="enabled")),
                xable(["disable", "hostpath-storage"], "disable/1.28-hostpath-storage-prompt", 1),
                status(core_28(hostpath_storage="disabled")),
            ],
            version="1.28",
        )
    assert not out.failed and out.result["changed"] is True
    assert "destroy-storage" in warn.call_args[0][0]


def test_hostpath_storage_disable_with_destroy_storage():
    with mock.patch.object(AnsibleModule, "warn") as warn:
        out = run(
            microk8s_addon.main,
            {"name": "hostpath-storage", "state": "disabled", "args": ["destroy-storage"]},
            [
                status(core_28(hostpath_storage="enabled")),
                xable(["disable", "hostpath-storage", "destroy-storage"], "disable/1.28-hostpath-storage-destroy"),
                status(core_28(hostpath_storage="disabled")),
            ],
            version="1.28",
        )
    assert out.result["changed"] is True and not warn.called


def test_hostpath_storage_disable_that_removed_nothing_fails():
    out = run(
        microk8s_addon.main,
        {"name": "storage", "state": "disabled"},
        [status(core_28(storage="enabled")), Call(["microk8s", "disable", "storage"], 1, "error: the server is down")],
        version="1.28",
    )
    assert out.failed and "error: the server is down" in out.result["msg"]
