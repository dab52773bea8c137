# SPDX-License-Identifier: GPL-3.0-or-later
"""The workload controllers and kubelets together against the real API server (in-memory datastore, loopback):
a Deployment comes up spread over the nodes, scales down with graceful deletion, a wrong image stays in
ErrImagePull, and the pods of a silent node are evicted and replaced elsewhere; a StatefulSet comes up in order,
rolls an update and keeps its frozen fields."""

from __future__ import annotations

import datetime

import pytest
from api_fixtures import api_server
from kubelet_fakes import FakeHost, FakeNetwork
from microk8s_double import kubeargs, nodes
from microk8s_double.controllers import cronjob, workloads
from microk8s_double.controllers.actions import apply
from microk8s_double.kubeclient import ApiError
from microk8s_double.kubelet.pods import Kubelet
from microk8s_double.kubelet.runtime import Runtime

NODES = ("node-1", "node-2", "node-3")
IMAGES = {"docker.io/library/hello:local": "sha256:manifest1"}


def node_object(name: str, number: int, beat: datetime.datetime) -> dict:
    stamp = nodes.stamp(beat)
    ready = {"type": "Ready", "status": "True", "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": f"10.1.{number}.0/24"},
        "status": {"conditions": [ready], "addresses": [{"type": "InternalIP", "address": f"10.77.0.{10 + number}"}]},
    }


def manifest(image: str = "hello:local", replicas: int = 3) -> dict:
    labels = {"app": "hello"}
    container = {"name": "hello", "image": image, "ports": [{"containerPort": 8080}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


class Cluster:
    def __init__(self, api, base):
        self.api, self.client = api, api.client
        for number, name in enumerate(NODES, 1):
            self.client.create("nodes", node_object(name, number, nodes.now()))
        self.kubelets = {
            name: Kubelet(
                self.client,
                Runtime(FakeHost(IMAGES), base / name, base / "sock"),
                FakeNetwork(),
                name,
                f"10.77.0.{10 + number}",
            )
            for number, name in enumerate(NODES, 1)
        }
        self.silent: set[str] = set()

    def round(self) -> None:
        workloads.sync(self.client, self.api.node, kubeargs.load(self.api.node))
        for name, kubelet in self.kubelets.items():
            if name not in self.silent:
                kubelet.sync()

    def until(self, check, rounds: int = 15):
        for _round in range(rounds):
            self.round()
            result = check()
            if result:
                return result
        raise AssertionError("not reached")

    def pods(self) -> list[dict]:
        return self.client.list("pods", namespace="default")

    def deployment(self) -> dict:
        return self.client.get("deployments", "hello", namespace="default")


@pytest.fixture
def cluster(tmp_path):
    with api_server(tmp_path / "api") as api:
        yield Cluster(api, tmp_path / "nodes")


def test_a_deployment_comes_up_spread_and_available_then_scales_down_gracefully(cluster):
    cluster.client.create("deployments", manifest())
    cluster.until(lambda: cluster.deployment().get("status", {}).get("availableReplicas") == 3)
    pods = cluster.pods()
    assert sorted(p["spec"]["nodeName"] for p in pods) == list(NODES)
    assert all(p["status"]["phase"] == "Running" and p["status"]["podIP"].startswith("10.1.") for p in pods)
    status = cluster.deployment()["status"]
    assert (status["readyReplicas"], status["updatedReplicas"]) == (3, 3)
    assert [c["reason"] for c in status["conditions"]] == ["MinimumReplicasAvailable", "NewReplicaSetAvailable"]
    version = cluster.deployment()["metadata"]["resourceVersion"]
    cluster.round()
    assert cluster.deployment()["metadata"]["resourceVersion"] == version  # settled: no more writes
    cluster.client.patch("deployments", "hello", {"spec": {"replicas": 1}}, namespace="default")
    cluster.until(lambda: len(cluster.pods()) == 1 and cluster.deployment()["status"].get("replicas") == 1)


def test_a_wrong_image_stays_in_err_image_pull(cluster):
    cluster.client.create("deployments", manifest(image="hello:missing", replicas=1))

    def waiting():
        statuses = [s for p in cluster.pods() for s in p.get("status", {}).get("containerStatuses", [])]
        return statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "ErrImagePull"

    cluster.until(waiting)
    assert cluster.pods()[0]["status"]["phase"] == "Pending"
    assert cluster.deployment()["status"].get("unavailableReplicas") == 1


def test_pods_of_a_silent_node_are_evicted_and_replaced(cluster):
    cluster.client.create("deployments", manifest())
    cluster.until(lambda: cluster.deployment().get("status", {}).get("availableReplicas") == 3)
    cluster.silent.add("node-3")
    long_ago = nodes.stamp(nodes.now() - datetime.timedelta(seconds=1000))  # past the default 300 s tolerations
    unknown = {
        "type": "Ready",
        "status": "Unknown",
        "lastHeartbeatTime": long_ago,
        "lastTransitionTime": long_ago,
        "reason": "NodeStatusUnknown",
    }  # fmt: skip  (what the node monitor writes, tested on its own)
    cluster.client.patch("nodes", "node-3", {"status": {"conditions": [unknown]}}, subresource="status")

    def replaced():
        pods = cluster.pods()
        lost = [p for p in pods if p["spec"].get("nodeName") == "node-3"]
        live = [p for p in pods if p["spec"].get("nodeName") != "node-3" and p["status"].get("phase") == "Running"]
        return lost and all(p["metadata"].get("deletionTimestamp") for p in lost) and len(live) == 3 and lost

    lost = cluster.until(replaced)
    assert lost[0]["status"]["reason"] == "NodeLost"


def stateful_manifest(replicas: int = 2, **spec) -> dict:
    body = manifest(replicas=replicas)
    body.update(kind="StatefulSet", metadata={"name": "web", "namespace": "default"})
    body["spec"].update(serviceName="web", **spec)
    return body


def test_a_stateful_set_comes_up_in_order_and_rolls_an_update_from_the_top(cluster):
    cluster.client.create("statefulsets", stateful_manifest())
    stored = cluster.client.get("statefulsets", "web", namespace="default")
    assert stored["spec"]["podManagementPolicy"] == "OrderedReady"
    assert stored["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    seen = []

    def ready():
        seen.append(sorted(p["metadata"]["name"] for p in cluster.pods()))
        return (
            cluster.client.get("statefulsets", "web", namespace="default").get("status", {}).get("readyReplicas") == 2
        )

    cluster.until(ready)
    assert ["web-0"] in seen and ["web-1"] not in seen  # web-0 alone first, never web-1 alone
    pods = {p["metadata"]["name"]: p for p in cluster.pods()}
    assert pods["web-1"]["spec"]["hostname"] == "web-1" and pods["web-1"]["spec"]["subdomain"] == "web"
    cluster.client.patch(
        "statefulsets",
        "web",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "hello", "image": "hello:local", "env": [{"name": "V", "value": "2"}]}]
                    }
                }
            }
        },
        namespace="default",
    )

    def rolled():
        status = cluster.client.get("statefulsets", "web", namespace="default")["status"]
        done = status.get("updatedReplicas") == status.get("readyReplicas") == 2
        return done and status["currentRevision"] == status["updateRevision"] and status

    status = cluster.until(rolled, rounds=30)
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in cluster.pods()} == {status["updateRevision"]}


def test_a_stateful_sets_claim_comes_before_its_pod_and_the_next_pod_waits(cluster):
    template = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    cluster.client.create("statefulsets", stateful_manifest(volumeClaimTemplates=[template]))
    for _round in range(5):
        cluster.round()
    claims = cluster.client.list("persistentvolumeclaims", namespace="default")
    assert [c["metadata"]["name"] for c in claims] == ["data-web-0"]  # no class, no provisioner: Pending
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["web-0"]  # unschedulable, so web-1 waits
    assert not cluster.pods()[0]["spec"].get("nodeName")


def test_a_stateful_set_refuses_other_restart_policies_and_changes_to_frozen_fields(cluster):
    never = stateful_manifest()
    never["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    with pytest.raises(ApiError) as refused:
        cluster.client.create("statefulsets", never)
    assert refused.value.status == 422 and 'supported values: "Always"' in str(refused.value)
    cluster.client.create("statefulsets", stateful_manifest())
    with pytest.raises(ApiError) as refused:
        cluster.client.patch("statefulsets", "web", {"spec": {"serviceName": "other"}}, namespace="default")
    assert refused.value.status == 422 and "updates to statefulset spec for fields other than" in str(refused.value)
    cluster.client.patch("statefulsets", "web", {"spec": {"replicas": 1}}, namespace="default")  # allowed


def test_a_job_runs_its_pods_to_completion_and_reports_it(cluster):
    body = manifest(replicas=1)
    body.update(apiVersion="batch/v1", kind="Job", metadata={"name": "pi", "namespace": "default"})
    body["spec"] = {"completions": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "pi", "image": "hello:local"}]}}}  # fmt: skip
    stored = cluster.client.create("jobs", body)
    uid = stored["metadata"]["uid"]
    assert stored["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert stored["spec"]["template"]["metadata"]["labels"]["job-name"] == "pi"
    assert (stored["spec"]["parallelism"], stored["spec"]["backoffLimit"]) == (1, 6)

    def running():
        pods = [p for p in cluster.pods() if p.get("status", {}).get("phase") == "Running"]
        return pods[0] if pods else None

    for _completion in range(2):  # one pod at a time (parallelism 1); each exits 0
        first = cluster.until(running)
        host = cluster.kubelets[first["spec"]["nodeName"]].runtime.host
        host.exit(next(iter(host.live)), 0)
        cluster.until(lambda name=first["metadata"]["name"]: any(
            p["metadata"]["name"] == name and p["status"]["phase"] == "Succeeded" for p in cluster.pods()))  # fmt: skip

    def complete():
        status = cluster.client.get("jobs", "pi", namespace="default")["status"]
        return any(c["type"] == "Complete" for c in status.get("conditions", [])) and status

    status = cluster.until(complete)
    assert status["succeeded"] == 2 and "active" not in status and status["completionTime"]
    with pytest.raises(ApiError) as refused:
        forever = {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}
        cluster.client.create("jobs", dict(body, metadata={"name": "forever", "namespace": "default"}, spec=forever))
    assert refused.value.status == 422 and 'supported values: "OnFailure", "Never"' in str(refused.value)


def test_a_cron_jobs_job_is_accepted_by_the_api_and_run_by_the_job_controller(cluster):
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "tick", "image": "hello:local"}]}}}}}}  # fmt: skip
    stored = cluster.client.create("cronjobs", body)
    assert (stored["spec"]["concurrencyPolicy"], stored["spec"]["successfulJobsHistoryLimit"]) == ("Allow", 3)
    later = nodes.now() + datetime.timedelta(seconds=61)  # past the next minute
    actions, _wake = cronjob.reconcile(stored, [], later, minor=28)
    apply(cluster.client, actions)
    (made,) = cluster.client.list("jobs", namespace="default")
    assert made["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]
    assert made["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == made["metadata"]["uid"]
    cluster.until(lambda: any(p.get("status", {}).get("phase") == "Running" for p in cluster.pods()))
    status = cluster.client.get("cronjobs", "tick", namespace="default")["status"]
    assert status["lastScheduleTime"]
    bad = dict(body, metadata={"name": "bad", "namespace": "default"})
    bad["spec"] = dict(body["spec"], schedule="61 * * * *")
    with pytest.raises(ApiError) as refused:
        cluster.client.create("cronjobs", bad)
    assert 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' in str(refused.value)
