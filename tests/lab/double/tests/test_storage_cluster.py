# SPDX-License-Identifier: GPL-3.0-or-later
"""Persistent volumes in running daemons (nodes on loopback, no containerd): the hostpath provisioner runs only
while its addon is enabled; a claim of the WaitForFirstConsumer class waits for its pod, the scheduler picks a node,
the volume is provisioned there and the pod is bound to it; deleting the claim deletes the volume (Delete)."""

from __future__ import annotations

import pytest
from cluster_fixtures import FAST_ARGS, clusters, wait_for
from microk8s_double import addons
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import volumes
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
    reasons = [e["reason"] for e in client.list("events", namespace="default")
               if e["involvedObject"]["name"] == "data"]  # fmt: skip
    assert {"WaitForFirstConsumer", "ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} <= set(reasons)
    client.delete("pods", "writer", "default", {"gracePeriodSeconds": 0})
    client.delete("persistentvolumeclaims", "data", "default")
    wait_for(lambda: not client.list("persistentvolumes"), timeout=20, what="the volume deleted (reclaim Delete)")
    assert {first.hostname, worker.hostname} >= {node_name}
