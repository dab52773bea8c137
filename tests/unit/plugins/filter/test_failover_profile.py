# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.failover_profile import (
    failover_profile_flags,
    failover_profile_foreign_config,
    failover_profile_kubelet_config,
    failover_profile_plan,
    failover_profile_problems,
    failover_profile_record,
    go_duration_seconds,
    node_loss_tolerations,
)

TIMINGS = {
    "node_monitor_grace_period": "16s",
    "node_monitor_period": "2s",
    "node_status_update_frequency": "4s",
    "leader_elect_lease_duration": "15s",
    "leader_elect_renew_deadline": "10s",
    "leader_elect_retry_period": "2s",
    "not_ready_toleration_seconds": 30,
    "unreachable_toleration_seconds": 30,
    "node_lease_duration_seconds": 16,
}
# canonical/microk8s microk8s-resources/default-args (HEAD d099c907), abridged
CONTROLLER = "--kubeconfig=${SNAP_DATA}/credentials/controller.config\n--leader-elect-lease-duration=60s\n" \
    "--leader-elect-renew-deadline=30s\n--profiling=false\n"  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), [("16s", 16), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("40", 40)])
def test_go_durations(text, seconds):
    assert go_duration_seconds(text) == seconds


def test_default_timings_are_consistent():
    assert failover_profile_problems(TIMINGS) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"node_status_update_frequency": "20s"}, "node_status_update_frequency (20s) must be shorter"),
        ({"leader_elect_renew_deadline": "15s"}, "renew deadline must be below the lease"),
        ({"node_monitor_grace_period": "soon"}, "not a duration"),
        ({"unreachable_toleration_seconds": -1}, "whole number of seconds"),
        ({"node_lease_duration_seconds": 0}, "node_lease_duration_seconds must be a whole number"),
        # a renewal every 10 s (MicroK8s' 40) against a 16 s grace period: healthy nodes would flap NotReady
        ({"node_lease_duration_seconds": 40}, "renew at least 3 times within"),
    ],
)
def test_bad_timings_are_named(change, says):
    problems = failover_profile_problems(dict(TIMINGS, **change))
    assert any(says in problem for problem in problems), problems


def test_workers_get_only_the_kubelet_flag():
    assert failover_profile_flags(TIMINGS, False) == {"kubelet": {"--node-status-update-frequency": "4s"}}
    flags = failover_profile_flags(TIMINGS, True)
    assert flags["kube-controller-manager"]["--node-monitor-grace-period"] == "16s"
    assert flags["kube-apiserver"]["--default-unreachable-toleration-seconds"] == "30"
    assert flags["kube-scheduler"]["--leader-elect-retry-period"] == "2s"


def test_the_kubelet_config_file_is_named_on_every_node_and_carries_the_node_lease_duration():
    path = "/var/snap/microk8s/current/args/onprem-failover-kubelet.yaml"
    assert failover_profile_flags(TIMINGS, False, path)["kubelet"]["--config"] == path
    assert failover_profile_flags(TIMINGS, True, path)["kubelet"]["--config"] == path
    text = failover_profile_kubelet_config(TIMINGS)
    assert "kind: KubeletConfiguration\n" in text and text.endswith("\nnodeLeaseDurationSeconds: 16\n")
    kubelet = "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n"
    assert failover_profile_foreign_config(kubelet, path) == ""
    assert failover_profile_foreign_config(kubelet + "--config=%s\n" % path, path) == ""
    assert failover_profile_foreign_config(kubelet + "--config /etc/mine.yaml\n", path) == "--config /etc/mine.yaml"
    revert = {
        (i["file"], i["flag"]): i for i in failover_profile_plan(failover_profile_flags(TIMINGS, True, path), "absent")
    }
    assert revert[("kubelet", "--config")]["state"] == "absent"


def test_apply_then_revert_from_the_record():
    flags = failover_profile_flags(TIMINGS, True)
    record = failover_profile_record({"kube-controller-manager": CONTROLLER}, flags)
    assert record["kube-controller-manager"]["--leader-elect-lease-duration"] == "--leader-elect-lease-duration=60s"
    assert record["kube-controller-manager"]["--node-monitor-period"] is None
    apply = {(i["file"], i["flag"]): i for i in failover_profile_plan(flags, "present")}
    assert apply[("kube-controller-manager", "--node-monitor-period")]["line"] == "--node-monitor-period=2s"
    revert = {(i["file"], i["flag"]): i for i in failover_profile_plan(flags, "absent", record)}
    assert revert[("kube-controller-manager", "--leader-elect-lease-duration")]["line"] == (
        "--leader-elect-lease-duration=60s"
    )
    assert revert[("kube-controller-manager", "--node-monitor-period")]["state"] == "absent"


def test_revert_without_record_uses_microk8s_defaults():
    revert = {(i["file"], i["flag"]): i for i in failover_profile_plan(failover_profile_flags(TIMINGS), "absent")}
    assert revert[("kube-scheduler", "--leader-elect-renew-deadline")]["line"] == "--leader-elect-renew-deadline=30s"
    assert revert[("kubelet", "--node-status-update-frequency")]["state"] == "absent"
    assert revert[("kube-scheduler", "--leader-elect-retry-period")]["state"] == "absent"


def test_regexp_matches_only_its_flag():
    import re

    items = failover_profile_plan(failover_profile_flags(TIMINGS), "present")
    period = next(i for i in items if i["flag"] == "--node-monitor-period")
    assert re.match(period["regexp"], "--node-monitor-period=5s")
    assert not re.match(period["regexp"], "--node-monitor-period-extra=5s")


def test_node_loss_tolerations_are_the_admissions_pair_with_the_given_seconds():
    assert node_loss_tolerations(20, "25") == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 25},
    ]
    assert [t["tolerationSeconds"] for t in node_loss_tolerations(0)] == [0, 0]  # one value: both taints


@pytest.mark.parametrize("bad", ["20s", -1, 1.5, True, None, ""])
def test_node_loss_tolerations_refuse_what_is_not_whole_seconds(bad):
    with pytest.raises(ValueError, match="whole seconds"):
        node_loss_tolerations(bad)
