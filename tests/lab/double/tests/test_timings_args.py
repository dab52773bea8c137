# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the double's Kubernetes timings come from: the args files real MicroK8s ships and kubelite reads (Go
durations, kubelite's line format, last flag wins), MicroK8s' defaults per version, and the install hook's copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from conftest import DOUBLE
from microk8s_double import default_args, kubeargs, paths, profiles
from microk8s_double.node import Node


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("40s", 40), ("1m0s", 60), ("500ms", 0.5), ("1h30m", 5400), ("1.5s", 1.5), ("0", 0), ("2m3.5s", 123.5),
     ("300us", 0.0003), ("-1s", -1)],
)  # fmt: skip
def test_go_durations(text, seconds):
    assert kubeargs.duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [("40", 'time: missing unit in duration "40"'), ("40x", 'time: unknown unit "x" in duration "40x"'),
     ("", 'time: invalid duration ""'), ("s", 'time: invalid duration "s"')],
)  # fmt: skip
def test_bad_durations_are_refused_with_go_s_message(text, message):
    with pytest.raises(kubeargs.ArgsError) as refused:
        kubeargs.duration(text)
    assert str(refused.value) == message


def test_args_files_read_as_kubelite_reads_them(tmp_path):
    path = tmp_path / "kube-controller-manager"
    path.write_text(
        "# comment\n\n--kubeconfig=${SNAP_DATA}/credentials/controller.config\n--use-service-account-credentials\n"
        '--node-labels="a=b"\n--bind 0.0.0.0:25000\n--node-monitor-grace-period=40s\n--node-monitor-grace-period=16s\n'
    )
    words = kubeargs.read(path, {"SNAP_DATA": "/var/snap/microk8s/current"})
    assert words[0] == "--kubeconfig=/var/snap/microk8s/current/credentials/controller.config"
    assert "--node-labels=a=b" in words
    found = kubeargs.flags(words)
    assert found["use-service-account-credentials"] == "true"
    assert found["bind"] == "0.0.0.0:25000"
    assert found["node-monitor-grace-period"] == "16s"  # the last one wins, as with pflag


def make_node(tmp_path, version: str) -> Node:
    settings = {"snap_root": str(tmp_path), "node_ip": "127.0.0.1", "hostname": "n"}
    where = paths.resolve(settings)
    return Node(settings, where, profiles.for_track(version), "127.0.0.1", "n")


def test_without_args_files_the_kubernetes_defaults_apply(tmp_path):
    timings = kubeargs.load(make_node(tmp_path, "1.28"))
    assert timings == kubeargs.Timings(5, 40, 15, 10, 2, 10, 300, 300)
    assert kubeargs.load(make_node(tmp_path, "1.32")).node_monitor_grace_period == 50


@pytest.mark.parametrize(
    ("version", "grace", "lease", "renew"),
    [("1.20", 40, 15, 10), ("1.21", 40, 60, 30), ("1.28", 40, 60, 30), ("1.31", 40, 60, 30), ("1.32", 50, 60, 30),
     ("1.36", 50, 60, 30)],
)  # fmt: skip
def test_microk8s_default_args_give_its_timings_per_version(tmp_path, version, grace, lease, renew):
    node = make_node(tmp_path, version)
    default_args.write(node.profile, node.paths.snap_data / "args")
    timings = kubeargs.load(node)
    assert (timings.node_monitor_grace_period, timings.lease_duration, timings.renew_deadline) == (grace, lease, renew)
    assert (timings.node_monitor_period, timings.retry_period, timings.node_status_update_frequency) == (5, 2, 10)
    assert (timings.not_ready_toleration, timings.unreachable_toleration) == (300, 300)


def test_the_shipped_files_have_microk8s_lines():
    files = default_args.files(profiles.for_track("1.28"))
    assert set(files) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubelite"}
    assert files["kube-controller-manager"].splitlines()[-3:] == [
        "--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=30s", "--profiling=false"
    ]  # fmt: skip
    assert files["kube-scheduler"].splitlines()[0] == "--kubeconfig=${SNAP_DATA}/credentials/scheduler.config"
    assert "--secure-port=16443" in files["kube-apiserver"].splitlines()
    assert "kubelite" not in default_args.files(profiles.for_track("1.20"))
    assert "--address=127.0.0.1" in default_args.files(profiles.for_track("1.23"))["kube-scheduler"]


def test_edited_values_and_bad_ones(tmp_path):
    node = make_node(tmp_path, "1.28")
    args = node.paths.snap_data / "args"
    default_args.write(node.profile, args)
    with open(args / "kube-controller-manager", "a") as out:
        out.write("--node-monitor-grace-period=16s\n--node-monitor-period=2s\n")
    with open(args / "kube-apiserver", "a") as out:
        out.write("--default-unreachable-toleration-seconds=30\n")
    with open(args / "kubelet", "a") as out:
        out.write("--node-status-update-frequency=4s\n")
    timings = kubeargs.load(node)
    assert (timings.node_monitor_grace_period, timings.node_monitor_period) == (16, 2)
    assert (timings.unreachable_toleration, timings.not_ready_toleration, timings.node_status_update_frequency) == (
        30, 300, 4
    )  # fmt: skip
    with open(args / "kube-controller-manager", "a") as out:
        out.write("--node-monitor-grace-period=16\n")
    with pytest.raises(kubeargs.ArgsError) as refused:
        kubeargs.load(node)
    assert str(refused.value) == (
        'invalid argument "16" for "--node-monitor-grace-period" flag: time: missing unit in duration "16"'
    )
    with open(args / "kube-controller-manager", "a") as out:
        out.write("--node-monitor-grace-period=16s\n--leader-elect-renew-deadline=60s\n")
    with pytest.raises(kubeargs.ArgsError, match="leaseDuration must be greater than renewDeadline"):
        kubeargs.load(node)


def test_the_heartbeat_is_the_node_lease_renewal_which_only_a_kubelet_config_file_changes(tmp_path):
    """The node lifecycle controller hears from a healthy kubelet when it renews its node Lease (every quarter of
    nodeLeaseDurationSeconds: 10 s) or reports its status (only when changed, or every nodeStatusReportFrequency: 5m);
    `--node-status-update-frequency` as a flag changes neither. Both are fields of the KubeletConfiguration file
    that the kubelet's `--config` names (no flag sets them)."""
    node = make_node(tmp_path, "1.32")
    args = node.paths.snap_data / "args"
    default_args.write(node.profile, args)
    with open(args / "kubelet", "a") as out:
        out.write("--node-status-update-frequency=2s\n")
    assert kubeargs.load(node).heartbeat_interval == 10
    config = args / "kubelet-config.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nnodeLeaseDurationSeconds: 8\n"
    )
    with open(args / "kubelet", "a") as out:
        out.write("--config=${SNAP_DATA}/args/kubelet-config.yaml\n")
    timings = kubeargs.load(node)
    assert (timings.node_lease_duration, timings.heartbeat_interval, timings.node_status_update_frequency) == (8, 2, 2)
    with open(config, "a") as out:  # the file's update frequency is its report frequency too
        out.write("nodeLeaseDurationSeconds: 40\nnodeStatusUpdateFrequency: 3s\n")
    assert kubeargs.load(node).heartbeat_interval == 3
    config.write_text("kind: KubeletConfiguration\nnodeLeaseDurationSeconds: 0\n")
    with pytest.raises(kubeargs.ArgsError, match="nodeLeaseDurationSeconds must be greater than 0"):
        kubeargs.load(node)
    config.unlink()
    with pytest.raises(kubeargs.ArgsError, match=r"failed to load Kubelet config file .*kubelet-config\.yaml"):
        kubeargs.load(node)


@pytest.mark.skipif(shutil.which("cp") is None, reason="no cp")
def test_the_install_hook_copies_the_default_args_into_snap_data(tmp_path):
    snap, data = tmp_path / "snap", tmp_path / "data"
    default_args.write(profiles.for_track("1.32"), snap / "default-args")
    (snap / "profile.json").write_text(json.dumps({"version": profiles.for_track("1.32").version}))
    hook = (DOUBLE / "snap" / "meta" / "hooks" / "install").read_text()
    copy = hook.split("export PYTHONPATH")[0]  # the copy, without the Python part (certificates are slow)
    env = dict(os.environ, SNAP=str(snap), SNAP_DATA=str(data))
    subprocess.run(["sh", "-c", copy], env=env, check=True)
    assert (data / "args" / "kube-controller-manager").read_text() == (
        snap / "default-args" / "kube-controller-manager"
    ).read_text()
    shipped = sorted(p.name for p in (snap / "default-args").iterdir())
    assert sorted(p.name for p in (data / "args").iterdir()) == shipped
