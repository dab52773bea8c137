# SPDX-License-Identifier: GPL-3.0-or-later
"""Persistent volumes in running daemons (nodes on loopback, no containerd): the hostpath provisioner runs only
while its addon is enabled; a claim of the WaitForFirstConsumer class waits for its pod, the scheduler picks a node,
the volume is provisioned there and the pod is bound to it; deleting the claim deletes the volume (Delete)."""

from __future__ import annotations

import os
import subprocess

import pytest
from cluster_fixtures import FAST_ARGS, clusters, wait_for
from microk8s_double import addons
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import attachdetach, volumes
from microk8s_double.kubeclient import KubeClient


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def test_hostpath_claim_is_provisioned_on_the_pod_node_once_the_addon_runs(make_cluster):
    cluster = make_cluster(args=FAST_ARGS, pod_network="host")
    first = cluster.new_node()
    (worker,) = cluster.grow(1, worker=True)
    client = KubeClient.for_node(first.node)
    wait_for(lambda: len(client.list("nodes")) == 2, what="both nodes registered")
    client.create("storageclasses", addon_workloads.hostpath_class(first.node))
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    client.create("persistentvolumeclaims", claim, namespace="default")

    def claim_events():
        return {
            e["reason"] for e in client.list("events", namespace="default") if e["involvedObject"]["name"] == "data"
        }

    # The real PV controller sees a new claim within milliseconds (an informer event), before any pod could be
    # scheduled; the double's controllers run in rounds: a pod created in the same round could be scheduled first,
    # and then no WaitForFirstConsumer is due (the claim already names its node), as in kube-controller-manager.
    wait_for(lambda: "WaitForFirstConsumer" in claim_events(), timeout=20, what="the claim waiting for its consumer")
    mount = {"name": "store", "mountPath": "/data"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer"},
           "spec": {"containers": [{"name": "app", "image": "hello:local", "volumeMounts": [mount]}],
                    "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": "data"}}]}}  # fmt: skip
    client.create("pods", pod, namespace="default")

    def selected():
        found = client.get("persistentvolumeclaims", "data", "default")
        return (found["metadata"].get("annotations") or {}).get(volumes.SELECTED_NODE)

    node_name = wait_for(selected, timeout=20, what="the scheduler's selected-node on the claim")
    assert client.get("persistentvolumeclaims", "data", "default")["spec"]["storageClassName"] == "microk8s-hostpath"
    assert not client.list("persistentvolumes")  # the addon is not enabled: no provisioner runs
    assert not client.get("pods", "writer", "default")["spec"].get("nodeName")
    addons.set_enabled(first.node, "core/hostpath-storage", True)

    def bound():
        found = client.get("pods", "writer", "default")["spec"].get("nodeName")
        return found and client.get("persistentvolumeclaims", "data", "default")["status"].get("phase") == "Bound"

    wait_for(bound, timeout=20, what="the claim bound and the pod scheduled")
    assert client.get("pods", "writer", "default")["spec"]["nodeName"] == node_name
    (volume,) = client.list("persistentvolumes")
    assert volume["spec"]["hostPath"]["path"].endswith(f"/default-storage/default-data-{volume['metadata']['name']}")
    assert {"WaitForFirstConsumer", "ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} <= claim_events()
    client.delete("pods", "writer", "default", {"gracePeriodSeconds": 0})
    client.delete("persistentvolumeclaims", "data", "default")
    wait_for(lambda: not client.list("persistentvolumes"), timeout=20, what="the volume deleted (reclaim Delete)")
    assert {first.hostname, worker.hostname} >= {node_name}


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs root and /dev/fuse")
def test_mayastor_volume_is_replicated_mounted_and_moves_with_the_out_of_service_taint(make_cluster):
    """Three nodes (a control plane, two workers) with the mayastor addon: a mayastor-3 claim gets replicas on all
    three, the pod's node gets the VolumeAttachment, its kubelet mounts the nexus (FUSE) and reports volumesInUse;
    the node loses power, the pod is force-deleted and the node tainted out-of-service: the volume is detached at
    once and the replacement's node mounts it with the data (the image is missing here: volumes come first)."""
    cluster = make_cluster(args=FAST_ARGS, pod_network="host", ports={"io_engine": 18420})
    first = cluster.new_node()
    workers = cluster.grow(2, worker=True)
    client = KubeClient.for_node(first.node)
    wait_for(lambda: len(client.list("nodes")) == 3, what="three nodes registered")
    for storage_class in addon_workloads.mayastor_classes():
        client.create("storageclasses", storage_class)
    addons.set_enabled(first.node, "core/mayastor", True)
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "mayastor-3",
                      "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    client.create("persistentvolumeclaims", claim, namespace="default")
    target = workers[0].hostname
    mount = {"name": "store", "mountPath": "/data"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer"},
           "spec": {"nodeSelector": {"kubernetes.io/hostname": target},
                    "containers": [{"name": "app", "image": "hello:local", "volumeMounts": [mount]}],
                    "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": "data"}}]}}  # fmt: skip
    client.create("pods", pod, namespace="default")
    (volume,) = wait_for(lambda: client.list("persistentvolumes"), timeout=20, what="the mayastor volume")
    placed = volume["metadata"]["annotations"][volumes.REPLICA_NODES].split(",")
    assert placed[0] == target and sorted(placed) == sorted(n.hostname for n in cluster.nodes)
    name = volume["metadata"]["name"]

    def mounted_on(node):
        base = node.paths.snap_common / "var/lib/kubelet/pods"
        return [p for p in base.glob(f"*/volumes/kubernetes.io~csi/{name}/mount") if os.path.ismount(p)]

    (where,) = wait_for(lambda: mounted_on(workers[0]), timeout=30, what="the nexus mounted on the pod's node")
    with open(where / "log", "a") as handle:
        handle.write("acknowledged\n")
        handle.flush()
        os.fsync(handle.fileno())
    in_use = f"kubernetes.io/csi/io.openebs.csi-mayastor^{volume['spec']['csi']['volumeHandle']}"
    wait_for(lambda: in_use in client.get("nodes", target)["status"].get("volumesInUse", []), timeout=20,
             what="volumesInUse on the pod's node")  # fmt: skip
    (attachment,) = client.list("volumeattachments")
    assert attachment["spec"]["nodeName"] == target and attachment["status"]["attached"] is True

    with workers[0].powered_off():
        subprocess.run(["umount", "-l", str(where)], check=False)  # its nexus dies with the node
        wait_for(lambda: not attachdetach.ready(client.get("nodes", target)), timeout=30, what="the node NotReady")
        client.delete("pods", "writer", "default", {"gracePeriodSeconds": 0})
        taint = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}
        client.patch("nodes", target, {"spec": {"taints": [taint]}})
        other = workers[1].hostname
        moved = dict(pod, spec=dict(pod["spec"], nodeSelector={"kubernetes.io/hostname": other}))
        client.create("pods", moved, namespace="default")
        (again,) = wait_for(lambda: mounted_on(workers[1]), timeout=30, what="the volume mounted on the other node")
        assert (again / "log").read_text() == "acknowledged\n"
        (attachment,) = client.list("volumeattachments")
        assert attachment["spec"]["nodeName"] == other
        client.delete("pods", "writer", "default", {"gracePeriodSeconds": 0})
        wait_for(lambda: not mounted_on(workers[1]), timeout=30, what="the volume unmounted with its pod")
        client.delete("persistentvolumeclaims", "data", "default")
        wait_for(lambda: not client.list("persistentvolumes"), timeout=30, what="the volume deleted (reclaim Delete)")
        handle = volume["spec"]["csi"]["volumeHandle"]

        def replica(node):
            return node.paths.snap_common / "mayastor" / "replicas" / handle

        wait_for(lambda: not replica(first).exists() and not replica(workers[1]).exists(), timeout=10,
                 what="the replicas destroyed on the nodes that answer")  # fmt: skip
        assert replica(workers[0]).exists()  # powered off: its pool keeps the replica
