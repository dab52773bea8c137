# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml through ansible-runner, as CI would run it, against this machine over the local connection.

Bad inventories must fail in preflight with a clear message and change nothing. Every "node" here is this machine,
so only the checks that come before any change are reached; the lab scenario covers the rest.
"""

from __future__ import annotations

import os
import pathlib
import sys

import ansible_runner
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    """ansible-runner starts `ansible-playbook` from PATH: use the one beside this Python (the venv's)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _inventory(tmp_path, masters, extra_vars=None):
    hosts = {
        name: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
        for name in masters
    }
    inventory = {
        "all": {
            "vars": {"ansible_become": False, **(extra_vars or {})},
            "children": {"masters": {"hosts": hosts}, "workers": {"hosts": {}}, "clients": {"hosts": {}}},
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _run(tmp_path, inventory, playbook="site.yml", cmdline=None):
    data = tmp_path / ("runner-%d" % len(list(tmp_path.glob("runner-*"))))  # a fresh one per run
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=playbook,
        inventory=str(inventory),
        cmdline=cmdline,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=300,
    )


def _failure_messages(run):
    return [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"]


def _changed(run):
    return sum(host_changed for host_changed in (run.stats or {}).get("changed", {}).values())


@pytest.mark.parametrize(
    "playbook",
    [
        "site.yml",
        "playbooks/verify.yml",
        "playbooks/failover.yml",
        "playbooks/reset.yml",
        "playbooks/upgrade.yml",
        "playbooks/backup.yml",
        "playbooks/restore.yml",
        "playbooks/remove_node.yml",
        "playbooks/kubeconfig.yml",
        "playbooks/cluster_access.yml",
        "playbooks/storage.yml",
        "playbooks/storage_drill.yml",
        "playbooks/storage_backup.yml",
        "playbooks/storage_restore.yml",
        "playbooks/inference_service.yml",
        "playbooks/offload_report.yml",
    ],
)
def test_playbooks_pass_syntax_check_through_ansible_runner(tmp_path, playbook):
    run = _run(tmp_path, REPO / "inventories" / "home", playbook=playbook, cmdline="--syntax-check")
    assert run.rc == 0, run.stdout.read()


def test_too_few_control_planes_for_ha_fail_in_preflight(tmp_path):
    run = _run(tmp_path, _inventory(tmp_path, ["pc1", "pc2"]))
    assert run.status == "failed"
    assert any("High availability needs at least 3 control-plane nodes" in m for m in _failure_messages(run))
    assert _changed(run) == 0


@pytest.mark.parametrize(
    "playbook, masters_group",
    [
        ("site.yml", "masters"),
        ("site.yml", "control_plane"),
        ("playbooks/verify.yml", "masters"),
        ("playbooks/upgrade.yml", "masters"),
        ("playbooks/backup.yml", "masters"),
    ],
)
def test_an_inventory_without_control_plane_nodes_fails_instead_of_doing_nothing(tmp_path, playbook, masters_group):
    # a wrong -i path or a misspelt group: every play would skip and the run report success
    run = _run(tmp_path, _inventory(tmp_path, [], {"onprem_masters_group": masters_group}), playbook=playbook)
    assert run.status == "failed"
    assert any("no host in group '%s'" % masters_group in m for m in _failure_messages(run))


def test_duplicate_machines_fail_in_preflight(tmp_path):
    # three inventory names, one machine: the same host name three times
    run = _run(tmp_path, _inventory(tmp_path, ["pc1", "pc2", "pc3"]))
    assert run.status == "failed"
    assert any("is used by more than one node" in m for m in _failure_messages(run))
    assert _changed(run) == 0


def test_metallb_range_outside_the_network_fails_in_preflight(tmp_path):
    run = _run(
        tmp_path,
        _inventory(
            tmp_path, ["pc1"], {"microk8s_node_ha": False, "ha_join_metallb_range": "203.0.113.10-203.0.113.20"}
        ),
    )
    messages = _failure_messages(run)
    if any("default_ipv4" in m for m in messages):
        pytest.skip("this machine has no default IPv4 route to compare the range with")
    assert run.status == "failed"
    assert any("not inside the nodes' subnet" in m for m in messages), messages
    assert _changed(run) == 0


def _single(tmp_path, **extra):
    return _inventory(tmp_path, ["pc1"], {"microk8s_node_ha": False, **extra})


def _ran_after_preflight(run, host):
    """Tasks that ran on host after the preflight checks (their task names), from the runner's events."""
    preflight = {
        "Gather the facts the roles use (host name, OS, architecture, default IPv4 route)",
        "Read the node (snaps, MicroK8s status, refresh hold, ufw, memory, clock, staging, /etc/hosts, names)",
        "Check the inventory and the settings (once for the cluster)",
        "Check the node (OS, memory, clock, staging directory, installed channel, name resolution)",
        "Check the inference service's models and image archive",  # site.yml's first play (skipped when off)
    }
    return [
        e["event_data"]["task"]
        for e in run.events
        if e.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped")
        and e["event_data"].get("host") == host
        and not e["event_data"]["task"].endswith(tuple(preflight))
        and "argument" not in e["event_data"]["task"]  # the roles' argument spec validation
    ]


@pytest.mark.parametrize(("uid", "mode"), [(65534, 0o700), (0, 0o777), (0, 0o770)])
def test_a_staging_dir_another_user_could_write_is_refused_before_any_change(tmp_path, uid, mode):
    parent = tmp_path / "safe"
    parent.mkdir(mode=0o755)
    staging = parent / "onprem-microk8s"
    staging.mkdir()
    os.chown(staging, uid, uid)
    os.chmod(staging, mode)
    run = _run(tmp_path, _single(tmp_path, onprem_staging_dir=str(staging)), cmdline="--check")
    messages = _failure_messages(run)
    assert run.status == "failed"
    expected = "belongs to uid 65534, not root" if uid else "is writable by group or others (mode 0%o)" % mode
    assert any(("the staging directory %s " % staging) in m and expected in m for m in messages), messages
    assert _ran_after_preflight(run, "pc1") == []
    assert _changed(run) == 0


def _fake_snapd(tmp_path, monkeypatch, listing=""):
    """A `snap` command first on PATH (this machine has no snapd): `snap list` prints listing (none: no snaps),
    everything else fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    snap = bin_dir / "snap"
    answer = "printf '%s'; exit 0" % listing if listing else 'echo "No snaps are installed yet." >&2'
    snap.write_text('#!/bin/sh\nif [ "$1" = list ]; then %s; fi\nexit 1\n' % answer)
    snap.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])


def test_one_nodes_failed_check_stops_every_node_before_any_change(tmp_path, monkeypatch):
    """pc1 passes every check; pc2 (this machine again, under another host name in its own UTS namespace) is short
    of memory. No node may go on to change anything."""
    _fake_snapd(tmp_path, monkeypatch)
    other = tmp_path / "python-as-pc2"
    other.write_text('#!/bin/sh\nexec unshare -u sh -c \'hostname pc2; exec "$0" "$@"\' %s "$@"\n' % sys.executable)
    other.chmod(0o755)
    inventory = _inventory(
        tmp_path, ["pc1", "pc2"], {"microk8s_node_ha": False, "microk8s_node_manage_etc_hosts": True}
    )
    data = yaml.safe_load(inventory.read_text())
    data["all"]["children"]["masters"]["hosts"]["pc2"].update(
        {"ansible_python_interpreter": str(other), "microk8s_node_min_memory_mb": 10**9}
    )
    inventory.write_text(yaml.safe_dump(data))
    run = _run(tmp_path, inventory, cmdline="--check")
    messages = _failure_messages(run)
    assert run.status == "failed"
    assert any(m.startswith("Nothing was changed. pc2 has ") and "MB of memory" in m for m in messages), messages
    assert not any("pc1" in m for m in messages), messages
    assert _ran_after_preflight(run, "pc1") == []
    assert _changed(run) == 0


def test_an_unreachable_node_stops_every_node_in_preflight(tmp_path, monkeypatch):
    _fake_snapd(tmp_path, monkeypatch)
    inventory = _single(tmp_path)
    data = yaml.safe_load(inventory.read_text())
    data["all"]["children"]["masters"]["hosts"]["pc2"] = {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1",
        "ansible_port": 1,  # nothing listens: refused at once
    }
    inventory.write_text(yaml.safe_dump(data))
    run = _run(tmp_path, inventory, cmdline="--check")
    assert run.status == "failed"
    assert "pc2" in (run.stats or {}).get("dark", {})
    assert _ran_after_preflight(run, "pc1") == []
    assert _changed(run) == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"microk8s_node_channel": "1.32"}, "is not a MicroK8s channel: write the full TRACK/RISK"),
        ({"microk8s_node_channel": "latest/stable"}, "is not a MicroK8s channel"),
        ({"ha_join_extra_addons": [{"name": "dashbaord"}]}, "addon dashbaord is not a core addon of MicroK8s 1.32"),
        ({"ha_join_addons": [{"name": "core/dns"}], "microk8s_node_channel": "1.23/stable"}, "no addon repositories"),
        ({"onprem_api_vip": "fd00::1"}, "onprem_api_vip 'fd00::1' is not an IPv4 address"),
        ({"ha_join_metallb_range": "fd00::10-fd00::20"}, "is IPv6 but the nodes' subnet"),
    ],
)
def test_bad_settings_fail_in_preflight(tmp_path, extra, expected):
    run = _run(tmp_path, _single(tmp_path, **extra), cmdline="--check")
    messages = _failure_messages(run)
    if any("default IPv4 route" in m for m in messages):
        pytest.skip("this machine has no default IPv4 route")
    assert run.status == "failed"
    assert any(expected in m for m in messages), messages
    assert _ran_after_preflight(run, "pc1") == []
    assert _changed(run) == 0


def test_an_offline_snap_without_its_assertion_needs_the_opt_in(tmp_path):
    snap = tmp_path / "microk8s_1234.snap"
    snap.write_bytes(b"hsqs")
    run = _run(tmp_path, _single(tmp_path, microk8s_node_snap_file=str(snap)), cmdline="--check")
    messages = _failure_messages(run)
    assert run.status == "failed"
    assert any("no .assert file for %s" % snap in m and "microk8s_node_allow_dangerous=true" in m for m in messages)
    assert _changed(run) == 0


def test_offline_files_missing_on_the_controller_are_named(tmp_path):
    """The snap's assertion and an image archive that are not there stop the run before any change."""
    snap = tmp_path / "microk8s_1234.snap"
    snap.write_bytes(b"hsqs")
    gone = [str(tmp_path / "microk8s_1234.assert"), str(tmp_path / "images.tar")]
    inventory = _single(tmp_path, microk8s_node_snap_file=str(snap), microk8s_node_assert_file=gone[0],
                        microk8s_node_image_archives=[gone[1]])  # fmt: skip
    run = _run(tmp_path, inventory, cmdline="--check")
    messages = _failure_messages(run)
    assert run.status == "failed"
    for path in gone:
        assert any("%s does not exist on the controller" % path in m for m in messages), messages
    assert not any("no .assert file" in m for m in messages), messages
    assert _changed(run) == 0


def test_four_control_planes_are_not_warned_about(tmp_path):
    """3 voters + 1 standby is the seed's right setup: no 'even number' warning (this run then stops on the
    duplicate host names of one machine)."""
    run = _run(tmp_path, _inventory(tmp_path, ["pc1", "pc2", "pc3", "pc4"]), cmdline="--check")
    output = run.stdout.read()
    assert "is used by more than one node" in output
    assert "even" not in output.lower()


def test_an_installed_node_on_another_channel_is_refused_before_any_change(tmp_path, monkeypatch):
    """community.general.snap would refresh it to the inventory's channel, on every node at once."""
    listing = (
        "Name      Version   Rev   Tracking     Publisher   Notes\\n"
        "microk8s  v1.28.15  7001  1.28/stable  canonical**  classic\\n"
    )
    _fake_snapd(tmp_path, monkeypatch, listing)
    run = _run(tmp_path, _single(tmp_path, microk8s_node_channel="1.32/stable"), cmdline="--check")
    messages = _failure_messages(run)
    assert run.status == "failed"
    assert any(
        "pc1 runs MicroK8s tracking 1.28/stable, the inventory asks for 1.32/stable" in m
        and "playbooks/upgrade.yml" in m
        for m in messages
    ), messages
    assert _ran_after_preflight(run, "pc1") == []


def _failed_hosts(run):
    return {e["event_data"]["host"] for e in run.events if e.get("event") == "runner_on_failed"}


def _tasks_run(run):
    return [e["event_data"].get("task") for e in run.events if e.get("event") == "runner_on_ok"]


DESTRUCTIVE_TASKS = {
    "Leave the cluster",
    "Remove the node from the cluster on the survivor",
    "Remove the MicroK8s snap and its data",
    "Restore with dbctl",
    "Copy the archive to the node (0600)",
}


# Destructive playbooks check their confirmation on the hosts they touch: a --limit cannot skip it.
@pytest.mark.parametrize(
    ("playbook", "extra", "message"),
    [
        ("playbooks/reset.yml", {}, "Re-run with -e reset_confirm=true"),
        ("playbooks/reset.yml", {"reset_confirm": True}, "use playbooks/remove_node.yml --limit pc2"),
        ("playbooks/remove_node.yml", {}, "Re-run with -e node_removal_confirm=true"),
        ("playbooks/restore.yml", {"backup_restore_file": "backups/x.tar.gz"}, "-e backup_restore_confirm=true"),
    ],
    ids=["reset-no-confirm", "reset-partial", "remove-node-no-confirm", "restore-no-confirm"],
)
def test_destructive_playbooks_refuse_on_the_limited_host_and_change_nothing(tmp_path, playbook, extra, message):
    inventory = _inventory(tmp_path, ["pc1", "pc2", "pc3"])
    limit = "pc1" if playbook == "playbooks/restore.yml" else "pc2"
    extra_arg = " ".join("-e %s=%s" % (k, str(v).lower() if isinstance(v, bool) else v) for k, v in extra.items())
    run = _run(tmp_path, inventory, playbook=playbook, cmdline=("--limit %s %s" % (limit, extra_arg)).strip())
    assert run.status == "failed"
    assert _failed_hosts(run) == {limit}
    assert any(message in m for m in _failure_messages(run)), _failure_messages(run)
    assert _changed(run) == 0
    # refused by the first task that could tell, before any command ran on the node
    assert not set(_tasks_run(run)) & DESTRUCTIVE_TASKS


def test_remove_node_refuses_the_bootstrap_node(tmp_path):
    run = _run(
        tmp_path,
        _inventory(tmp_path, ["pc1", "pc2", "pc3"]),
        playbook="playbooks/remove_node.yml",
        cmdline="--limit pc1 -e node_removal_confirm=true",
    )
    assert run.status == "failed"
    assert any("put another control-plane node first" in m for m in _failure_messages(run)), _failure_messages(run)
    assert _changed(run) == 0


def test_upgrade_refuses_a_channel_without_risk(tmp_path):
    run = _run(
        tmp_path,
        _inventory(tmp_path, ["pc1", "pc2", "pc3"]),
        playbook="playbooks/upgrade.yml",
        cmdline="-e upgrade_channel=1.29",
    )
    assert run.status == "failed"
    messages = _failure_messages(run)
    assert any("upgrade_channel '1.29' is not a MicroK8s channel" in m for m in messages), messages
    assert _changed(run) == 0


def _upgrade_tasks(run):
    """Names of the upgrade tasks that ran (ok, changed or failed) on any host."""
    return [
        e["event_data"]["task"]
        for e in run.events
        if e.get("event") in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("task")
    ]


def test_an_offline_upgrade_without_an_assertion_is_refused_unless_allowed(tmp_path):
    """Issue 8: --dangerous only with the opt-in, for upgrades as for installs; refused before any node is read."""
    snap = tmp_path / "microk8s_9999.snap"
    snap.write_bytes(b"x")
    run = _run(
        tmp_path,
        _inventory(tmp_path, ["pc1", "pc2", "pc3"]),
        playbook="playbooks/upgrade.yml",
        cmdline="-e upgrade_snap_file=%s -e upgrade_version=v1.29.0" % snap,
    )
    assert run.status == "failed"
    messages = _failure_messages(run)
    assert any("--dangerous" in m and "upgrade_allow_dangerous=true" in m for m in messages), messages
    assert _changed(run) == 0
    assert not [task for task in _upgrade_tasks(run) if task.startswith("Read the node")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("-e upgrade_channel=1.30/stable", "MicroK8s upgrades one minor version at a time (1.28 -> 1.29), not to 1.30"),
        ("-e upgrade_snap_file={snap} -e upgrade_version=v1.29.2 -e upgrade_allow_dangerous=true", "writable by group"),
    ],
    ids=["skips-a-minor", "unsafe-staging-dir"],
)
def test_upgrade_checks_every_node_before_the_first_changes(tmp_path, monkeypatch, extra, message):
    """Issue 8: the upgrade reads each node once (node_info) and refuses a skipped minor version or a staging
    directory others can write to (here under /tmp) on every node before the cluster is even read."""
    _fake_installed_node(tmp_path, monkeypatch)
    snap = tmp_path / "microk8s_9999.snap"
    snap.write_bytes(b"x")
    staging = tmp_path / "staging"
    staging.mkdir(mode=0o700)
    inventory = _inventory(tmp_path, ["pc1"], {"onprem_staging_dir": str(staging)})
    run = _run(tmp_path, inventory, playbook="playbooks/upgrade.yml", cmdline=extra.format(snap=snap))
    assert run.status == "failed"
    messages = _failure_messages(run)
    assert any(message in m and "nothing was changed" in m for m in messages), messages
    assert _changed(run) == 0
    ran = _upgrade_tasks(run)
    assert "Read the node (installed snaps, staging directory)" in ran
    assert not [task for task in ran if "kubeconfig" in task or "drain" in task.lower()], ran


def test_upgrade_stops_every_node_when_one_does_not_answer(tmp_path, monkeypatch):
    """A powered-off node is reported as an unhealthy cluster before any node is drained, and the others stop too
    (the read ignores the unreachable node so the next task can say so; max_fail_percentage 0 stops the rest)."""
    _fake_installed_node(tmp_path, monkeypatch)
    inventory = _inventory(tmp_path, ["pc1", "pc2"])
    data = yaml.safe_load(inventory.read_text())
    data["all"]["children"]["masters"]["hosts"]["pc3"] = {
        "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody",
    }  # fmt: skip
    inventory.write_text(yaml.safe_dump(data))
    run = _run(tmp_path, inventory, playbook="playbooks/upgrade.yml", cmdline="-e upgrade_channel=1.28/stable")
    assert run.status == "failed"
    messages = _failure_messages(run)
    assert any("not healthy enough to upgrade" in m and "pc3 did not answer" in m for m in messages), messages
    assert _changed(run) == 0
    assert not [task for task in _upgrade_tasks(run) if "kubeconfig" in task or "drain" in task.lower()]


def _fake_installed_node(tmp_path, monkeypatch):
    """`snap` and `microk8s` first on PATH as on a converged node: MicroK8s 1.28 installed, its refreshes held for
    60 more days, `microk8s status` ready (a recorded 1.28 answer). Any other command fails, so a task that would
    change the node fails instead of changing this machine."""
    status = REPO / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "status"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "snap").write_text(
        "#!/bin/sh\n"
        'case "$1 $2 $3" in\n'
        '  "list  "|"list microk8s ") printf "Name      Version   Rev   Tracking     Publisher   Notes\\n'
        'microk8s  v1.28.15  7001  1.28/stable  canonical**  classic\\n"; exit 0;;\n'
        "  \"get system refresh.hold\") date -u -d '+60 days' +%Y-%m-%dT%H:%M:%SZ; exit 0;;\n"
        "esac\n"
        'echo "fake snap: $*" >&2; exit 1\n'
    )
    (bin_dir / "microk8s").write_text(
        "#!/bin/sh\n"
        '[ "$1 $2 $3" = "status --format yaml" ] && [ $# -eq 3 ] && exec cat %s\n'
        'echo "fake microk8s: $*" >&2; exit 1\n' % (status / "1.28-yaml-running-lone-node.txt")
    )
    for name in ("snap", "microk8s"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])


def _node_modules(run, host):
    """The modules that ran on host (ok, changed or failed), in order, without those that act on the controller only."""
    controller = ("assert", "set_fact", "include_tasks", "include_role", "meta", "validate_argument_spec", "debug")
    return [
        e["event_data"]["task_action"]
        for e in run.events
        if e.get("event") in ("runner_on_ok", "runner_on_failed")
        and e["event_data"].get("host") == host
        and e["event_data"]["task_action"].split(".")[-1] not in controller
    ]


def test_the_no_op_path_of_a_ready_node_is_one_read(tmp_path, monkeypatch):
    """Issue 8: on an installed, ready node microk8s_node sends the facts and its one read (node_info with the
    MicroK8s status) to the node and nothing else: no readiness wait, no refresh hold, no install, no copy; ha_join
    then reuses that status (no second read) and sees its addons enabled (no microk8s_addon). Its closing checks
    (`kubectl get nodes` through /snap/bin) need a cluster: the lab scenario covers them."""
    _fake_installed_node(tmp_path, monkeypatch)
    inventory = _single(tmp_path, microk8s_node_channel="1.28/stable", ha_join_addons=[{"name": "dns"}])
    run = _run(tmp_path, inventory, cmdline="--tags nodes,cluster --skip-tags check")
    assert run.status == "successful", _failure_messages(run)
    assert _changed(run) == 0
    assert _node_modules(run, "pc1") == ["ansible.builtin.setup", "onprem.microk8s.node_info"]
    returned = [
        e["event_data"]["res"]["ansible_facts"]["microk8s_node_status"]
        for e in run.events
        if e.get("event") == "runner_on_ok"
        and "microk8s_node_status" in e["event_data"]["res"].get("ansible_facts", {})
    ]
    assert len(returned) == 1 and returned[0]["ready"] is True and returned[0]["version"] == "v1.28.15"
