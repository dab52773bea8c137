# SPDX-License-Identifier: GPL-3.0-or-later
"""Pod phase, conditions and QoS as the kubelet reports them."""

from __future__ import annotations

import datetime

import pytest
from microk8s_double.kubelet import files, status

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
RUNNING = {"name": "a", "state": {"running": {}}, "lastState": {}, "ready": True}
WAITING_NEW = {"name": "b", "state": {"waiting": {"reason": "ErrImagePull"}}, "lastState": {}, "ready": False}
CRASHED = {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
           "lastState": {"terminated": {"exitCode": 1}}, "ready": False}  # fmt: skip
DONE = {"name": "d", "state": {"terminated": {"exitCode": 0}}, "lastState": {}, "ready": False}
FAILED = {"name": "e", "state": {"terminated": {"exitCode": 2}}, "lastState": {}, "ready": False}


def pod(policy: str = "Always", resources=None) -> dict:
    container = {"name": "a", "resources": resources or {}}
    return {"metadata": {"name": "p"}, "spec": {"restartPolicy": policy, "containers": [container]}}


@pytest.mark.parametrize(
    ("policy", "statuses", "phase"),
    [
        ("Always", [RUNNING, WAITING_NEW], "Pending"),
        ("Always", [RUNNING], "Running"),
        ("Always", [CRASHED], "Running"),
        ("Never", [DONE], "Succeeded"),
        ("Never", [DONE, FAILED], "Failed"),
        ("OnFailure", [FAILED], "Running"),
    ],
)
def test_phase(policy, statuses, phase):
    assert status.phase(pod(policy), statuses) == phase


def test_conditions_name_the_unready_containers_and_keep_their_order():
    result = status.pod_status(pod(), [RUNNING, CRASHED], "10.1.0.5", "10.77.0.11", "2026-01-01T00:00:00Z", NOW)
    assert [c["type"] for c in result["conditions"]] == ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
    ready = result["conditions"][1]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "ContainersNotReady", "containers with unready status: [c]"
    )  # fmt: skip
    assert result["podIPs"] == [{"ip": "10.1.0.5"}] and result["hostIP"] == "10.77.0.11"
    again = status.pod_status(dict(pod(), status=result), [RUNNING, CRASHED], "10.1.0.5", "h", "s", NOW)
    assert again["conditions"] == result["conditions"]


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
    ],
)
def test_qos_class(resources, qos):
    assert status.qos_class(pod(resources=resources)) == qos


def test_terminated_reasons():
    record = {"startedAt": "s", "containerID": "abc"}
    assert status.terminated({"exitCode": 0, "finishedAt": "f"}, record)["reason"] == "Completed"
    assert status.terminated({"exitCode": 137, "finishedAt": "f"}, record)["reason"] == "Error"
    assert status.terminated({"exitCode": 255, "finishedAt": "f", "lost": True}, record)["reason"] == "Unknown"
    start = status.terminated({"exitCode": 128, "finishedAt": "f", "startError": "exec: x"}, record)
    assert (start["reason"], start["message"], start["containerID"]) == ("StartError", "exec: x", "containerd://abc")


def test_managed_hosts_and_resolv_conf():
    pod_object = {"metadata": {"name": "web-1", "namespace": "shop"},
                  "spec": {"hostAliases": [{"ip": "10.0.0.9", "hostnames": ["db", "db.local"]}]}}  # fmt: skip
    hosts = files.hosts(pod_object, "10.1.2.3").splitlines()
    assert "10.1.2.3\tweb-1" in hosts and hosts[-1] == "10.0.0.9\tdb\tdb.local"
    services = [{"metadata": {"namespace": "kube-system", "name": "kube-dns"}, "spec": {"clusterIP": "10.152.183.10"}}]
    assert files.resolv_conf(pod_object, files.cluster_dns(services), "") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.152.183.10\noptions ndots:5\n"
    )
    node = "# generated\nnameserver 10.77.0.1\nsearch lab\n"
    assert files.resolv_conf(pod_object, files.cluster_dns([]), node) == "search lab\nnameserver 10.77.0.1\n"
