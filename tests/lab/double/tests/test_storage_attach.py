# SPDX-License-Identifier: GPL-3.0-or-later
"""Mayastor volumes in the control plane: the provisioner's replica placement and the attach-detach controller with
kubernetes' rules and timers (pure decisions over objects, an injected clock): VolumeAttachment per (volume, node),
the Multi-Attach error while the volume is attached elsewhere, the 6 min maxWaitForUnmountDuration force detach from
a node that is not Ready, and the out-of-service taint that detaches at once (1.26+)."""

from __future__ import annotations

import pytest
from microk8s_double.controllers import attachdetach, volumes
from microk8s_double.controllers.attachdetach import MAX_WAIT_FOR_UNMOUNT, attachment_name, reconcile

PV = "pvc-data-uid"
DRIVER = "io.openebs.csi-mayastor"
IN_USE = f"kubernetes.io/csi/{DRIVER}^data-uid"
MAYASTOR_3 = {
    "metadata": {"name": "mayastor-3"},
    "provisioner": DRIVER,
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
    "parameters": {"repl": "3", "protocol": "nvmf", "ioTimeout": "60", "local": "true"},
}


def node(name: str, ready: bool = True, in_use: bool = False, taints: list | None = None, **labels) -> dict:
    status = {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}]}
    if in_use:
        status["volumesInUse"] = [IN_USE]
    return {"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints or []}, "status": status}


def claim() -> dict:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "mayastor-3", "volumeName": PV}  # fmt: skip
    return {"metadata": {"name": "data", "namespace": "default", "uid": "data-uid"}, "spec": spec,
            "status": {"phase": "Bound"}}  # fmt: skip


def volume() -> dict:
    placed = volumes.provision_mayastor(dict(claim(), spec={"accessModes": ["ReadWriteOnce"]}), MAYASTOR_3, PV,
                                        ["node-1", "node-2", "node-3"])  # fmt: skip
    return placed


def pod(name: str, node_name: str, deleting: bool = False, running: bool = True, namespace="default") -> dict:
    meta = {"name": name, "namespace": namespace, "uid": f"{name}-uid"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:05:00Z"
    state = {"running": {}} if running else {"terminated": {"exitCode": 137}}
    return {
        "metadata": meta,
        "spec": {"nodeName": node_name, "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": "data"}}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "state": state}]},
    }


def attachment(node_name: str, attached: bool = True) -> dict:
    return {
        "metadata": {"name": attachment_name(PV, DRIVER, node_name)},
        "spec": {"attacher": DRIVER, "nodeName": node_name, "source": {"persistentVolumeName": PV}},
        "status": {"attached": attached},
    }


def run(pods, attachments, nodes, now=0.0, minor=32, pending=None, seen=None):
    pending = {} if pending is None else pending
    seen = set() if seen is None else seen
    return reconcile(pods, [claim()], [volume()], attachments, nodes, now, minor, pending, seen)


def verbs(decided) -> list[tuple[str, str]]:
    return [(a.verb, a.name) for a in decided.actions]


def test_a_pod_on_a_node_gets_a_volume_attachment_which_the_attacher_marks_attached():
    decided = run([pod("writer", "node-1")], [], [node("node-1")])
    name = attachment_name(PV, DRIVER, "node-1")
    assert name.startswith("csi-") and len(name) == 4 + 64
    assert verbs(decided) == [("create", name)]
    body = decided.actions[0].body
    assert body["spec"] == {"attacher": DRIVER, "nodeName": "node-1", "source": {"persistentVolumeName": PV}}
    marked = run([pod("writer", "node-1")], [attachment("node-1", attached=False)], [node("node-1")])
    assert [(a.verb, a.body) for a in marked.actions] == [("status", {"status": {"attached": True}})]
    [(obj, reason, message, kind, _component)] = marked.events
    assert (obj["metadata"]["name"], reason, kind) == ("writer", "SuccessfulAttachVolume", "Normal")
    assert message == f'AttachVolume.Attach succeeded for volume "{PV}" '


def test_the_replacement_waits_with_multi_attach_while_the_evicted_pod_is_terminating_on_the_lost_node():
    """Evicted after NotReady + 300 s, the old pod keeps its last status (container running): still desired."""
    nodes = [node("node-1", ready=False, in_use=True), node("node-2")]
    pods = [
        pod("writer-old", "node-1", deleting=True),
        pod("writer-new", "node-2"),
        pod("other", "node-9", namespace="x"),
    ]
    decided = run(pods, [attachment("node-1")], nodes, now=10_000)
    assert verbs(decided) == []  # neither detached nor attached elsewhere, however long it waits
    [(obj, reason, message, kind, component)] = decided.events
    assert (obj["metadata"]["name"], reason, kind, component) == ("writer-new", "FailedAttachVolume", "Warning",
                                                                  "attachdetach-controller")  # fmt: skip
    assert message == f'Multi-Attach error for volume "{PV}" Volume is already used by pod(s) writer-old'


def test_once_the_old_pod_is_gone_a_lost_node_keeps_the_volume_for_max_wait_for_unmount():
    nodes = [node("node-1", ready=False, in_use=True), node("node-2")]
    pods, pending, seen = [pod("writer-new", "node-2")], {}, set()
    first = run(pods, [attachment("node-1")], nodes, now=1000, pending=pending, seen=seen)
    assert verbs(first) == []
    assert first.due == 1000 + MAX_WAIT_FOR_UNMOUNT == 1360
    [(_obj, _reason, message, _kind, _component)] = first.events
    assert message == (f'Multi-Attach error for volume "{PV}" Volume is already exclusively attached to one node and '
                       "can't be attached to another")  # fmt: skip
    assert verbs(run(pods, [attachment("node-1")], nodes, now=1359, pending=pending, seen=seen)) == []
    forced = run(pods, [attachment("node-1")], nodes, now=1361, pending=pending, seen=seen)
    # detaches are decided first, so the same pass attaches the volume to the replacement's node
    assert verbs(forced) == [("delete", attachment_name(PV, DRIVER, "node-1")),
                             ("create", attachment_name(PV, DRIVER, "node-2"))]  # fmt: skip


@pytest.mark.parametrize(("minor", "at_once"), [(25, False), (26, True), (32, True)])
def test_the_out_of_service_taint_detaches_at_once_from_1_26(minor, at_once):
    taint = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}
    nodes = [node("node-1", ready=False, in_use=True, taints=[taint]), node("node-2")]
    decided = run([pod("writer-new", "node-2")], [attachment("node-1")], nodes, now=5, minor=minor)
    moved = [("delete", attachment_name(PV, DRIVER, "node-1")), ("create", attachment_name(PV, DRIVER, "node-2"))]
    assert verbs(decided) == (moved if at_once else [])


def test_a_ready_node_that_still_mounts_the_volume_is_never_force_detached():
    nodes = [node("node-1", ready=True, in_use=True), node("node-2")]
    pending = {}
    run([pod("writer-new", "node-2")], [attachment("node-1")], nodes, now=0, pending=pending)
    later = run([pod("writer-new", "node-2")], [attachment("node-1")], nodes, now=3600, pending=pending)
    assert verbs(later) == []
    assert later.due == 3600 + attachdetach.RECHECK  # looks again soon for the kubelet's unmount


def test_a_volume_the_node_no_longer_mounts_is_detached_at_once():
    nodes = [node("node-1", ready=True, in_use=False)]
    decided = run([pod("writer", "node-1", deleting=True, running=False)], [attachment("node-1")], nodes)
    assert verbs(decided) == [("delete", attachment_name(PV, DRIVER, "node-1"))]


def test_mayastor_places_replicas_on_distinct_ready_nodes_the_selected_one_first():
    pending_claim = dict(claim(), spec=dict(claim()["spec"], volumeName=None), status={"phase": "Pending"})
    pending_claim["metadata"] = dict(pending_claim["metadata"], annotations={volumes.SELECTED_NODE: "node-2"})
    nodes = [node("node-1"), node("node-2"), node("node-3"), node("node-4", ready=False),
             node("node-5", **{"microk8s.io/mayastor": "disable"})]  # fmt: skip
    decided = volumes.reconcile([pending_claim], [], [MAYASTOR_3], nodes, {DRIVER}, "/common", 32)
    [created] = [a for a in decided.actions if a.verb == "create"]
    assert created.name == "pvc-data-uid"
    assert created.body["metadata"]["annotations"][volumes.REPLICA_NODES] == "node-2,node-1,node-3"
    assert created.body["spec"]["csi"] == {"driver": DRIVER, "volumeHandle": "data-uid", "fsType": "ext4",
                                           "volumeAttributes": MAYASTOR_3["parameters"]}  # fmt: skip
    assert "nodeAffinity" not in created.body["spec"] and "hostPath" not in created.body["spec"]
    too_few = volumes.reconcile([pending_claim], [], [MAYASTOR_3], nodes[:2], {DRIVER}, "/common", 32)
    assert not [a for a in too_few.actions if a.verb == "create"]
    assert ("ProvisioningFailed", "Warning") in [(e[1], e[3]) for e in too_few.events]
    assert any("Not enough suitable pools available, 2/3" in e[2] for e in too_few.events)
    assert DRIVER in attachdetach.ATTACHERS


def test_jiva_csi_volumes_get_three_replicas_without_waiting_for_a_consumer():
    jiva = {"metadata": {"name": "openebs-jiva-csi-default"}, "provisioner": volumes.JIVA, "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "parameters": {"cas-type": "jiva", "policy": "openebs-jiva-default-policy"}}  # fmt: skip
    spec = dict(claim()["spec"], volumeName=None, storageClassName="openebs-jiva-csi-default")
    pending_claim = dict(claim(), spec=spec, status={"phase": "Pending"})
    nodes = [node("node-3"), node("node-1"), node("node-2")]
    decided = volumes.reconcile([pending_claim], [], [jiva], nodes, {volumes.JIVA}, "/common", 28)
    [created] = [a for a in decided.actions if a.verb == "create"]
    assert created.body["metadata"]["annotations"][volumes.REPLICA_NODES] == "node-1,node-2,node-3"
    assert created.body["spec"]["csi"]["driver"] == volumes.JIVA
    assert volumes.JIVA in attachdetach.ATTACHERS
    idle = volumes.reconcile([pending_claim], [], [jiva], nodes, set(), "/c", 28)  # openebs not enabled
    assert not [a for a in idle.actions if a.verb == "create"]
