# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet's pod sync over a simulated containerd: images and pull policy, start, probes, restarts and
back-off, deletion with a grace period, status."""

from __future__ import annotations

import json
import signal

import pytest
from kubelet_fakes import FakeClient, FakeHost, FakeNetwork
from microk8s_double.kubelet.pods import Kubelet
from microk8s_double.kubelet.runtime import Runtime

IMAGE_REF = "docker.io/library/hello:local"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pod(name: str = "hello-1", image: str = "hello:local", **container) -> dict:
    app = dict({"name": "app", "image": image, "ports": [{"containerPort": 8080}]}, **container)
    spec = {"nodeName": "node1", "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "containers": [app]}
    meta = {"name": name, "namespace": "default", "uid": f"{name}-uid-0000", "labels": {"app": "hello"}}
    return {"metadata": meta, "spec": spec, "status": {"phase": "Pending"}}


@pytest.fixture
def world(tmp_path):
    host = FakeHost({IMAGE_REF: "sha256:manifest1"})
    client = FakeClient(
        nodes=[{"metadata": {"name": "node1"}, "spec": {"podCIDR": "10.1.3.0/24"}}], pods=[], services=[]
    )
    clock = Clock()
    runtime = Runtime(host, tmp_path / "pods", tmp_path / "containerd.sock")
    kubelet = Kubelet(client, runtime, FakeNetwork(), "node1", "10.77.0.11", clock)
    return kubelet, client, host, clock


def container_status(client: FakeClient, name: str = "hello-1") -> dict:
    return client.pod(name)["status"]["containerStatuses"][0]


def test_a_pod_with_a_present_image_runs_from_it(world):
    kubelet, client, host, _clock = world
    client.objects["pods"].append(pod(env=[{"name": "GREETING", "value": "hi"}]))
    kubelet.sync()
    status = client.pod("hello-1")["status"]
    assert status["phase"] == "Running"
    assert (status["podIP"], status["hostIP"]) == ("10.1.3.2", "10.77.0.11")
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["True"]
    state = container_status(client)
    assert "running" in state["state"] and state["ready"] and state["restartCount"] == 0
    assert (state["image"], state["imageID"]) == (IMAGE_REF, "sha256:config1")
    assert state["containerID"].startswith("containerd://")
    mount = next(c for c in host.commands if c[5:7] == ("images", "mount"))
    assert mount[7:9] == ("--rw", IMAGE_REF)
    shim = json.loads((kubelet.runtime.directory("hello-1-uid-0000", "app") / "shim.json").read_text())
    assert shim["argv"][:4] == ["ip", "netns", "exec", "pod-hello-1-"]
    launch = json.loads((kubelet.runtime.directory("hello-1-uid-0000", "app") / "launch.json").read_text())
    assert launch["argv"] == ["httpd", "-f"] and launch["workdir"] == "/www"
    assert (launch["uid"], launch["gid"], launch["hostname"]) == (1000, 1000, "hello-1")
    assert launch["env"]["PATH"] == "/bin" and launch["env"]["GREETING"] == "hi"
    patches = len(client.calls)
    kubelet.sync()
    assert len(client.calls) == patches  # nothing changed, nothing written
    assert len(host.spawned) == 1


@pytest.mark.parametrize(
    ("image", "policy", "first", "then"),
    [
        ("hello:missing", None, "ErrImagePull", "ImagePullBackOff"),
        ("hello:local", "Always", "ErrImagePull", "ImagePullBackOff"),
        ("hello", None, "ErrImagePull", "ImagePullBackOff"),
        ("hello:missing", "Never", "ErrImageNeverPull", "ErrImageNeverPull"),
    ],
)
def test_images_that_would_need_a_registry_fail_as_on_an_air_gapped_node(world, image, policy, first, then):
    kubelet, client, host, clock = world
    client.objects["pods"].append(pod(image=image, **({"imagePullPolicy": policy} if policy else {})))
    kubelet.sync()
    assert container_status(client)["state"]["waiting"]["reason"] == first
    assert client.pod("hello-1")["status"]["phase"] == "Pending"
    clock.now += 5
    kubelet.sync()
    assert container_status(client)["state"]["waiting"]["reason"] == then
    clock.now += 6  # the first back-off (10 s) is over: another pull is tried
    kubelet.sync()
    assert container_status(client)["state"]["waiting"]["reason"] == first
    assert not host.spawned


def test_readiness_follows_the_probe(world):
    kubelet, client, host, clock = world
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 5, "failureThreshold": 1}
    client.objects["pods"].append(pod(readinessProbe=probe))
    host.exec_rc = 1
    kubelet.sync()
    assert not container_status(client)["ready"]
    host.exec_rc = 0
    clock.now += 5
    kubelet.sync()
    assert container_status(client)["ready"]
    assert host.commands[-1][:2] == ("nsenter", "-t") and host.commands[-1][-1] == "check"


def test_a_failing_liveness_probe_kills_and_restarts_the_container(world):
    kubelet, client, host, _clock = world
    client.objects["pods"].append(pod(livenessProbe={"exec": {"command": ["alive"]}, "failureThreshold": 1}))
    host.exec_rc = 1
    kubelet.sync()  # the probe fails: killed
    assert host.signals and host.signals[-1][1] == signal.SIGKILL
    kubelet.sync()
    state = container_status(client)
    assert state["restartCount"] == 1 and state["lastState"]["terminated"]["exitCode"] == 137


def test_a_crashing_container_restarts_with_growing_back_off(world):
    kubelet, client, host, _clock = world
    client.objects["pods"].append(pod())
    kubelet.sync()
    host.exit(next(iter(host.live)), 1)
    kubelet.sync()  # the first exit restarts at once
    state = container_status(client)
    assert "running" in state["state"] and state["restartCount"] == 1
    assert state["lastState"]["terminated"]["reason"] == "Error"
    host.exit(next(iter(host.live)), 1)
    kubelet.sync()
    state = container_status(client)
    assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert state["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=hello-1_")
    assert client.pod("hello-1")["status"]["phase"] == "Running"
    assert len(host.spawned) == 2


def test_a_finished_container_of_a_never_restarting_pod_stays_terminated(world):
    kubelet, client, host, _clock = world
    client.objects["pods"].append(dict(pod(), spec=dict(pod()["spec"], restartPolicy="Never")))
    kubelet.sync()
    host.exit(next(iter(host.live)), 0)
    kubelet.sync()
    status = client.pod("hello-1")["status"]
    assert status["phase"] == "Succeeded"
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_a_deleted_pod_gets_sigterm_then_sigkill_after_its_grace_then_is_confirmed(world):
    kubelet, client, host, clock = world
    client.objects["pods"].append(pod())
    kubelet.sync()
    host.ignore_term = True
    client.pod("hello-1")["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=5)
    kubelet.sync()
    kubelet.sync()
    assert [number for _pid, number in host.signals] == [signal.SIGTERM]
    clock.now += 5
    kubelet.sync()
    assert [number for _pid, number in host.signals] == [signal.SIGTERM, signal.SIGKILL]
    kubelet.sync()
    assert client.objects["pods"] == []
    assert client.calls[-1][0] == "DELETE" and client.calls[-1][2]["gracePeriodSeconds"] == 0
    assert kubelet.runtime.pod_uids() == [] and kubelet.network.attached == {}
    assert any(c[5:8] == ("images", "unmount", "--rm") for c in host.commands)


def test_containers_of_a_pod_removed_behind_our_back_are_stopped(world):
    kubelet, client, host, _clock = world
    client.objects["pods"].append(pod())
    kubelet.sync()
    client.objects["pods"].clear()
    kubelet.sync()
    kubelet.sync()
    assert host.live == {} and kubelet.runtime.pod_uids() == []


def test_a_pod_waits_for_the_node_pod_cidr_and_for_referenced_config(world):
    kubelet, client, _host, _clock = world
    client.objects["nodes"][0]["spec"] = {}
    client.objects["pods"].append(pod(envFrom=[{"configMapRef": {"name": "settings"}}]))
    kubelet.sync()
    assert container_status(client)["state"]["waiting"]["reason"] == "ContainerCreating"
    client.objects["nodes"][0]["spec"] = {"podCIDR": "10.1.3.0/24"}
    kubelet.sync()
    waiting = container_status(client)["state"]["waiting"]
    assert (waiting["reason"], waiting["message"]) == ("CreateContainerConfigError", 'configmap "settings" not found')


def test_pods_of_other_nodes_are_not_touched(world):
    kubelet, client, host, _clock = world
    other = pod()
    other["spec"]["nodeName"] = "node2"
    client.objects["pods"].append(other)
    kubelet.sync()
    assert not host.spawned and "containerStatuses" not in client.pod("hello-1")["status"]
