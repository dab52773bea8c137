# SPDX-License-Identifier: GPL-3.0-or-later
"""Persistent volumes as kube-controller-manager's PV controller, kube-scheduler's VolumeBinding and the hostpath
provisioner handle them: binding modes, dynamic provisioning by the class's provisioner name, the default class,
reclaim policies, claim phases and events with the real texts, and the kubelet mounting a claim's volume."""

from __future__ import annotations

import datetime
import shutil
import subprocess

import pytest
from api_fixtures import api_server
from kubelet_fakes import FakeClient, FakeHost, FakeNetwork
from microk8s_double.controllers import scheduler, volumes
from microk8s_double.kubelet.pods import Kubelet
from microk8s_double.kubelet.runtime import Runtime

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
COMMON = "/var/snap/microk8s/common"
HOSTPATH_CLASS = {
    "metadata": {"name": "microk8s-hostpath", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": volumes.HOSTPATH,
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
}


def claim(name="data", storage_class="microk8s-hostpath", size="1Gi", **meta) -> dict:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    metadata = {"name": name, "namespace": "default", "uid": f"{name}-uid", "creationTimestamp": "2026-01-01T00:00:00Z"}
    return {"metadata": dict(metadata, **meta), "spec": spec, "status": {"phase": "Pending"}}


def node(name: str) -> dict:
    ready = {"type": "Ready", "status": "True"}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"conditions": [ready]},
    }


def pod(name="writer", claim_name="data", node_name=None) -> dict:
    spec = {
        "containers": [
            {"name": "app", "image": "hello:local", "volumeMounts": [{"name": "store", "mountPath": "/data"}]}
        ],
        "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": claim_name}}],
    }
    if node_name:
        spec["nodeName"] = node_name
    meta = {"name": name, "namespace": "default", "uid": f"{name}-uid", "creationTimestamp": "2026-01-01T00:00:01Z"}
    return {"metadata": meta, "spec": spec, "status": {"phase": "Pending"}}


def merged(obj: dict, body: dict) -> dict:
    out = dict(obj)
    for key, value in body.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


class World:
    """Objects as the API server would hold them, changed by the controllers' actions round after round."""

    def __init__(self, minor=28, running=(volumes.HOSTPATH,), classes=(HOSTPATH_CLASS,), nodes=("node1", "node2")):
        self.objects = {
            "persistentvolumeclaims": [],
            "persistentvolumes": [],
            "storageclasses": list(classes),
            "pods": [],
            "nodes": [node(n) for n in nodes],
        }
        self.minor, self.running, self.seen, self.events = minor, set(running), set(), []

    def find(self, resource, name):
        return next((o for o in self.objects[resource] if o["metadata"]["name"] == name), None)

    def apply(self, actions) -> None:
        for action in actions:
            items = self.objects[action.resource]
            found = self.find(action.resource, action.name)
            if action.verb == "create":
                items.append(merged({"status": {}}, action.body))
            elif action.verb == "delete":
                items.remove(found)
            elif action.verb == "bind":
                found["spec"]["nodeName"] = action.body["target"]["name"]
            else:
                items[items.index(found)] = merged(found, action.body)

    def round(self) -> None:
        o = self.objects
        decided = volumes.reconcile(
            o["persistentvolumeclaims"],
            o["persistentvolumes"],
            o["storageclasses"],
            o["nodes"],
            self.running,
            COMMON,
            self.minor,
            self.seen,
        )
        self.events += [(reason, message, kind) for _obj, reason, message, kind, _component in decided.events]
        self.apply(decided.actions)
        storage = scheduler.Storage(o["persistentvolumeclaims"], o["persistentvolumes"], o["storageclasses"])
        self.apply(scheduler.schedule(o["pods"], o["nodes"], NOW, storage))

    def rounds(self, count=4) -> None:
        for _unused in range(count):
            self.round()

    def reasons(self) -> list[str]:
        return [reason for reason, _message, _kind in self.events]


def test_wait_for_first_consumer_provisions_on_the_node_the_scheduler_picked():
    world = World()
    world.objects["persistentvolumeclaims"].append(claim())
    world.rounds()
    assert world.find("persistentvolumeclaims", "data")["status"]["phase"] == "Pending"
    assert world.events == [
        ("WaitForFirstConsumer", "waiting for first consumer to be created before binding", "Normal")
    ]
    assert not world.objects["persistentvolumes"]
    world.objects["pods"].append(pod())
    world.rounds()
    bound = world.find("persistentvolumeclaims", "data")
    chosen = bound["metadata"]["annotations"][volumes.SELECTED_NODE]
    assert bound["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert bound["spec"]["volumeName"] == "pvc-data-uid"
    assert bound["metadata"]["annotations"][volumes.PROVISIONER] == volumes.HOSTPATH
    volume = world.find("persistentvolumes", "pvc-data-uid")
    assert volume["status"]["phase"] == "Bound"
    assert volume["spec"]["hostPath"]["path"] == f"{COMMON}/default-storage/default-data-pvc-data-uid"
    assert volume["spec"]["claimRef"]["uid"] == "data-uid"
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    terms = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == [chosen]
    assert world.find("pods", "writer")["spec"]["nodeName"] == chosen  # bound only once the claim is
    assert world.reasons() == ["WaitForFirstConsumer", "ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"]
    assert world.events[1][1] == (
        "Waiting for a volume to be created either by the external provisioner 'microk8s.io/hostpath' or manually by "
        "the system administrator. If volume creation is delayed, please verify that the provisioner is running and "
        "correctly registered."
    )


def test_a_pod_with_a_bound_volume_only_goes_to_the_volume_node():
    world = World()
    world.objects["persistentvolumeclaims"].append(claim())
    world.objects["pods"].append(pod())
    world.rounds()
    chosen = world.find("pods", "writer")["spec"]["nodeName"]
    other = next(n["metadata"]["name"] for n in world.objects["nodes"] if n["metadata"]["name"] != chosen)
    world.objects["pods"] = [pod("second")]
    world.objects["nodes"] = [n for n in world.objects["nodes"] if n["metadata"]["name"] == other]
    world.rounds()
    second = world.find("pods", "second")
    assert not second["spec"].get("nodeName")
    scheduled = next(c for c in second["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["message"] == "0/1 nodes are available: 1 node(s) had volume node affinity conflict."


def test_immediate_binding_provisions_at_once_and_blocks_pods_until_bound():
    immediate = dict(HOSTPATH_CLASS, volumeBindingMode="Immediate")
    world = World(minor=22, classes=(immediate,))
    world.objects["persistentvolumeclaims"].append(claim())
    world.objects["pods"].append(pod())
    world.apply(
        scheduler.schedule(
            world.objects["pods"],
            world.objects["nodes"],
            NOW,
            scheduler.Storage(world.objects["persistentvolumeclaims"], [], world.objects["storageclasses"]),
        )
    )
    waiting = next(c for c in world.find("pods", "writer")["status"]["conditions"] if c["type"] == "PodScheduled")
    assert waiting["message"] == "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    world.rounds()
    volume = world.find("persistentvolumes", "pvc-data-uid")
    assert "nodeAffinity" not in volume["spec"]  # provisioner 1.0/1.1 (MicroK8s 1.20-1.23): not pinned
    assert world.find("persistentvolumeclaims", "data")["status"]["phase"] == "Bound"
    assert world.find("pods", "writer")["spec"].get("nodeName")
    assert volumes.PROVISIONER not in world.find("persistentvolumeclaims", "data")["metadata"]["annotations"]
    message = next(m for r, m, _k in world.events if r == "ExternalProvisioning")
    assert message == (
        'waiting for a volume to be created, either by external provisioner "microk8s.io/hostpath" '
        "or manually created by system administrator"
    )


def test_without_a_running_provisioner_the_claim_stays_pending():
    world = World(running=())
    world.objects["persistentvolumeclaims"].append(claim())
    world.objects["pods"].append(pod())
    world.rounds()
    assert world.find("persistentvolumeclaims", "data")["status"]["phase"] == "Pending"
    assert not world.objects["persistentvolumes"] and not world.find("pods", "writer")["spec"].get("nodeName")
    assert world.reasons() == ["WaitForFirstConsumer", "ExternalProvisioning"]


def test_missing_class_no_class_and_missing_claim():
    world = World()
    world.objects["persistentvolumeclaims"] += [claim("lost", storage_class="nope"), claim("plain", storage_class="")]
    world.objects["pods"].append(pod(claim_name="absent"))
    world.rounds()
    assert ("ProvisioningFailed", 'storageclass.storage.k8s.io "nope" not found', "Warning") in world.events
    assert (
        "FailedBinding",
        "no persistent volumes available for this claim and no storage class is set",
        "Normal",
    ) in world.events
    scheduled = next(c for c in world.find("pods", "writer")["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["message"] == '0/2 nodes are available: persistentvolumeclaim "absent" not found.'


def test_static_volumes_bind_by_class_size_and_access_modes():
    world = World(classes=())
    small = {
        "metadata": {"name": "small"},
        "spec": {
            "capacity": {"storage": "500Mi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "hostPath": {"path": "/srv/small"},
        },
        "status": {},
    }
    big = {
        "metadata": {"name": "big"},
        "spec": {
            "capacity": {"storage": "2Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "hostPath": {"path": "/srv/big"},
        },
        "status": {},
    }
    world.objects["persistentvolumes"] += [small, big]
    world.objects["persistentvolumeclaims"].append(claim(storage_class=""))
    world.rounds()
    assert world.find("persistentvolumeclaims", "data")["spec"]["volumeName"] == "big"
    assert world.find("persistentvolumes", "small")["status"]["phase"] == "Available"
    assert world.find("persistentvolumes", "big")["metadata"]["annotations"] == {volumes.BOUND_BY_CONTROLLER: "yes"}


def test_a_volume_pre_bound_by_name_goes_to_that_claim_only():
    world = World(classes=())
    reserved = {
        "metadata": {"name": "reserved"},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "claimRef": {"namespace": "default", "name": "mine"},
        },
        "status": {},
    }
    world.objects["persistentvolumes"].append(reserved)
    world.objects["persistentvolumeclaims"].append(claim("other", storage_class=""))
    world.rounds()
    assert world.find("persistentvolumes", "reserved")["status"]["phase"] == "Available"
    world.objects["persistentvolumeclaims"].append(claim("mine", storage_class=""))
    world.rounds()
    assert world.find("persistentvolumeclaims", "mine")["spec"]["volumeName"] == "reserved"
    assert world.find("persistentvolumeclaims", "mine")["status"]["phase"] == "Bound"
    assert world.find("persistentvolumes", "reserved")["spec"]["claimRef"]["uid"] == "mine-uid"
    assert world.find("persistentvolumeclaims", "other")["status"]["phase"] == "Pending"


@pytest.mark.parametrize(("policy", "left"), [("Delete", None), ("Retain", "Released")])
def test_reclaim_policy_when_the_claim_is_deleted(policy, left):
    world = World(classes=(dict(HOSTPATH_CLASS, reclaimPolicy=policy),))
    world.objects["persistentvolumeclaims"].append(claim())
    world.objects["pods"].append(pod())
    world.rounds()
    assert world.find("persistentvolumes", "pvc-data-uid")["status"]["phase"] == "Bound"
    world.objects["persistentvolumeclaims"], world.objects["pods"] = [], []
    world.rounds()
    volume = world.find("persistentvolumes", "pvc-data-uid")
    assert (volume or {}).get("status", {}).get("phase") == left


def test_a_bound_claim_whose_volume_vanished_is_lost():
    world = World()
    world.objects["persistentvolumeclaims"].append(claim())
    world.objects["pods"].append(pod())
    world.rounds()
    world.objects["persistentvolumes"] = []
    world.rounds()
    assert world.find("persistentvolumeclaims", "data")["status"]["phase"] == "Lost"
    assert (
        "ClaimLost",
        "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        "Warning",
    ) in world.events


def test_the_api_serves_storage_kinds_and_gives_claims_the_default_class(tmp_path):
    with api_server(tmp_path) as api:
        client = api.client
        plain = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "plain"},
            "provisioner": "example.com/none",
        }
        client.create("storageclasses", plain)
        client.create("persistentvolumeclaims", claim("before", storage_class=None), namespace="default")
        assert "storageClassName" not in client.get("persistentvolumeclaims", "before", "default")["spec"]
        default = dict(HOSTPATH_CLASS, apiVersion="storage.k8s.io/v1", kind="StorageClass")
        client.create("storageclasses", default)
        client.create("persistentvolumeclaims", claim("after", storage_class=None), namespace="default")
        client.create("persistentvolumeclaims", claim("explicit", storage_class=""), namespace="default")
        assert client.get("persistentvolumeclaims", "after", "default")["spec"]["storageClassName"] == (
            "microk8s-hostpath"
        )
        assert client.get("persistentvolumeclaims", "explicit", "default")["spec"]["storageClassName"] == ""
        stored = client.get("storageclasses", "plain")
        assert (stored["reclaimPolicy"], stored["volumeBindingMode"]) == ("Delete", "Immediate")
        client.create(
            "persistentvolumes",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": "pv1"},
                "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/srv"}},
            },
        )
        assert client.get("persistentvolumes", "pv1")["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


# -- the kubelet ----------------------------------------------------------------------------------------------------
IMAGE_REF = "docker.io/library/hello:local"


def test_the_kubelet_mounts_the_claim_volume_once_bound(tmp_path):
    where = tmp_path / "default-storage" / "default-data-pvc-data-uid"
    volume = {"metadata": {"name": "pvc-data-uid"}, "spec": {"hostPath": {"path": str(where)}}}
    pending = claim()
    client = FakeClient(
        nodes=[{"metadata": {"name": "node1"}, "spec": {"podCIDR": "10.1.3.0/24"}}],
        pods=[pod(node_name="node1")],
        services=[],
        persistentvolumeclaims=[pending],
        persistentvolumes=[volume],
    )
    host = FakeHost({IMAGE_REF: "sha256:manifest1"})
    kubelet = Kubelet(client, Runtime(host, tmp_path / "pods", tmp_path / "c.sock"), FakeNetwork(), "node1", "10.0.0.1")
    kubelet.sync()
    state = client.pod("writer")["status"]["containerStatuses"][0]["state"]
    assert state["waiting"]["reason"] == "ContainerCreating" and not host.spawned
    bound = client.find("persistentvolumeclaims", "data")
    bound["spec"]["volumeName"], bound["status"]["phase"] = "pvc-data-uid", "Bound"
    kubelet.sync()
    assert "running" in client.pod("writer")["status"]["containerStatuses"][0]["state"]
    launches = list((tmp_path / "pods").rglob("launch.json"))
    assert launches, "the container was launched"
    assert where.is_dir()
    text = launches[0].read_text()
    assert f'"source": "{where}", "target": "/data"' in text


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_lists_classes_volumes_and_claims(tmp_path):
    with api_server(tmp_path) as api:
        config = api.kubeconfig(tmp_path)

        def kubectl(*args: str) -> list[list[str]]:
            done = subprocess.run(
                ["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60, check=True
            )
            return [line.split() for line in done.stdout.splitlines()]

        api.client.create("storageclasses", dict(HOSTPATH_CLASS, apiVersion="storage.k8s.io/v1", kind="StorageClass"))
        assert kubectl("get", "sc")[1][:6] == [
            "microk8s-hostpath",
            "(default)",
            "microk8s.io/hostpath",
            "Delete",
            "WaitForFirstConsumer",
            "false",
        ]
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "pv1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/srv"}},
        }
        api.client.create("persistentvolumes", volume)
        assert kubectl("get", "pv")[0][:4] == ["NAME", "CAPACITY", "ACCESS", "MODES"]
        assert kubectl("get", "pv")[1][:4] == ["pv1", "1Gi", "RWO", "Retain"]
