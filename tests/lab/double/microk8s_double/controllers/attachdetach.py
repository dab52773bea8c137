# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-controller-manager's attach-detach controller and the CSI external-attacher of the attachable drivers
(mayastor), on the lease holder, as a pure `reconcile` over pods, claims, volumes, VolumeAttachments and nodes.

- Desired: (CSI volume, node) for every pod bound to a node and not terminated (kubernetes' IsPodTerminated: phase
  Succeeded/Failed, or a deletionTimestamp with no container running by its status; a pod on a powered-off node
  keeps its last status, so it stays desired while it is Terminating) that mounts a bound claim of that volume.
- Detach first (reconciler.go): an attached (volume, node) no longer desired is detached (its VolumeAttachment
  deleted) at once when the node does not report it in `status.volumesInUse` or has the
  `node.kubernetes.io/out-of-service` taint (NodeOutOfServiceVolumeDetach, 1.26+; before, the taint is ignored);
  otherwise only when the node is not Ready and MAX_WAIT_FOR_UNMOUNT (6 min, a constant of kube-controller-manager,
  no flag) passed since it was first found not desired.
- Attach: a desired (volume, node) without attachment gets `VolumeAttachment` `csi-<sha256(pv + attacher + node)>`,
  which the external-attacher marks `status.attached: true`, unless the volume is ReadWriteOnce(-Pod) and attached
  to another node: then each pod waiting for it gets Warning `FailedAttachVolume` `Multi-Attach error for volume
  "<pv>" Volume is already used by pod(s) <pods of its namespace on the other nodes>` (`... and N pod(s) in
  different namespaces`, `Volume is already used by N pod(s) in different namespaces`), or, with no such pod
  left, `... Volume is already exclusively attached to one node and can't be attached to another`, once per text;
  once attached, Normal `SuccessfulAttachVolume` `AttachVolume.Attach succeeded for volume "<pv>" ` (the trailing
  blank is operation_generator.go's empty detail).
Clocks of pending detaches are kept in memory by the lease holder (a new holder starts them afresh, as the real
controller's actual state of world is rebuilt at start)."""

from __future__ import annotations

import hashlib
import threading
import time

from .actions import Action, apply

ATTACHERS = ("io.openebs.csi-mayastor", "jiva.csi.openebs.io")
MAX_WAIT_FOR_UNMOUNT = 360.0  # reconciler's maxWaitForUnmountDuration (attach_detach_controller.go: 6 * time.Minute)
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
RECHECK = 1.0
COMPONENT = "attachdetach-controller"
EXCLUSIVE = "Volume is already exclusively attached to one node and can't be attached to another"


def attachment_name(pv: str, attacher: str, node: str) -> str:
    return "csi-" + hashlib.sha256(f"{pv}{attacher}{node}".encode()).hexdigest()


def unique_name(pv: dict) -> str:
    """The volume's name in node.status.volumesInUse: kubernetes.io/csi/<driver>^<volumeHandle>."""
    csi = pv["spec"]["csi"]
    return f"kubernetes.io/csi/{csi['driver']}^{csi['volumeHandle']}"


def terminated(pod: dict) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return True
    if not pod["metadata"].get("deletionTimestamp"):
        return False
    containers = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return all("running" not in (c.get("state") or {"waiting": {}}) for c in containers)


def ready(node: dict | None) -> bool:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def out_of_service(node: dict | None, minor: int) -> bool:
    taints = ((node or {}).get("spec") or {}).get("taints") or []
    return minor >= 26 and any(t.get("key") == OUT_OF_SERVICE and t.get("effect") == "NoExecute" for t in taints)


class Decisions:
    def __init__(self):
        self.actions: list[Action] = []
        self.events: list[tuple[dict, str, str, str, str]] = []
        self.due: float | None = None  # when a pending force detach falls due (the clock's time)


def reconcile(pods: list[dict], claims: list[dict], volumes: list[dict], attachments: list[dict], nodes: list[dict],
              now: float, minor: int, pending: dict, seen: set) -> Decisions:  # fmt: skip
    """One pass. `pending`: (pv, node) -> when it was first found attached but not desired; `seen`: events sent.
    Both are kept by the caller between passes."""
    out = Decisions()
    by_claim = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in claims}
    by_pv = {v["metadata"]["name"]: v for v in volumes}
    by_node = {n["metadata"]["name"]: n for n in nodes}
    desired: dict[tuple[str, str], list[dict]] = {}
    for pod in pods:
        node_name = pod["spec"].get("nodeName")
        if not node_name or terminated(pod):
            continue
        for volume in pod["spec"].get("volumes") or []:
            claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            claim = by_claim.get((pod["metadata"]["namespace"], claim_name))
            if not claim or (claim.get("status") or {}).get("phase") != "Bound":
                continue
            pv = by_pv.get((claim.get("spec") or {}).get("volumeName") or "")
            if pv and ((pv.get("spec") or {}).get("csi") or {}).get("driver") in ATTACHERS:
                desired.setdefault((pv["metadata"]["name"], node_name), []).append(pod)
    attached: dict[tuple[str, str], dict] = {}
    for attachment in attachments:
        spec = attachment.get("spec") or {}
        if spec.get("attacher") in ATTACHERS and not attachment["metadata"].get("deletionTimestamp"):
            pv_name = (spec.get("source") or {}).get("persistentVolumeName", "")
            attached[(pv_name, spec.get("nodeName", ""))] = attachment

    gone = set()
    for key, attachment in sorted(attached.items()):
        if key in desired:
            pending.pop(key, None)
            continue
        pv_name, node_name = key
        since = pending.setdefault(key, now)
        node = by_node.get(node_name)
        pv = by_pv.get(pv_name)
        in_use = node is not None and pv is not None and unique_name(pv) in ((node.get("status") or {}).get(
            "volumesInUse") or [])  # fmt: skip
        force = node is not None and not ready(node) and now - since > MAX_WAIT_FOR_UNMOUNT
        if in_use and not force and not out_of_service(node, minor):
            # look again when the force detach falls due; on a Ready node, every RECHECK s for its kubelet's
            # unmount (a node's status does not wake the controllers, as the real one's node informer would)
            when = since + MAX_WAIT_FOR_UNMOUNT if node is not None and not ready(node) else now + RECHECK
            out.due = min(out.due or when, when)
            continue
        out.actions.append(Action("delete", "volumeattachments", None, attachment["metadata"]["name"]))
        pending.pop(key, None)
        gone.add(key)
    for attachment in attachments:  # the external-attacher: ControllerPublishVolume, then status.attached
        if attachment["metadata"].get("deletionTimestamp"):
            out.actions.append(Action("delete", "volumeattachments", None, attachment["metadata"]["name"]))
        elif (attachment.get("spec") or {}).get("attacher") in ATTACHERS and not (
            (attachment.get("status") or {}).get("attached")
        ):
            out.actions.append(Action("status", "volumeattachments", None, attachment["metadata"]["name"],
                                      {"status": {"attached": True}}))  # fmt: skip
            spec = attachment.get("spec") or {}
            key = ((spec.get("source") or {}).get("persistentVolumeName", ""), spec.get("nodeName", ""))
            for pod in desired.get(key, []):  # the attach-detach controller's event once the attach succeeded
                text = f'AttachVolume.Attach succeeded for volume "{key[0]}" '
                if (pod["metadata"]["uid"], text) not in seen:
                    seen.add((pod["metadata"]["uid"], text))
                    out.events.append((dict(pod, kind="Pod", apiVersion="v1"), "SuccessfulAttachVolume", text,
                                       "Normal", COMPONENT))  # fmt: skip

    still = {k for k in attached if k not in gone}
    for (pv_name, node_name), waiting in sorted(desired.items()):
        if (pv_name, node_name) in attached:
            continue
        pv = by_pv[pv_name]
        modes = (pv.get("spec") or {}).get("accessModes") or ["ReadWriteOnce"]
        elsewhere = sorted(n for p, n in still if p == pv_name and n != node_name)
        if elsewhere and not {"ReadWriteMany", "ReadOnlyMany"} & set(modes):
            for pod in waiting:
                users = [p for n in elsewhere for p in desired.get((pv_name, n), [])]
                message = multi_attach_message(pv_name, pod, users)
                if (pod["metadata"]["uid"], message) not in seen:
                    seen.add((pod["metadata"]["uid"], message))
                    out.events.append((dict(pod, kind="Pod", apiVersion="v1"), "FailedAttachVolume", message,
                                       "Warning", COMPONENT))  # fmt: skip
            continue
        attacher = pv["spec"]["csi"]["driver"]
        name = attachment_name(pv_name, attacher, node_name)
        out.actions.append(
            Action(
                "create",
                "volumeattachments",
                None,
                name,
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "VolumeAttachment",
                    "metadata": {"name": name},
                    "spec": {"attacher": attacher, "nodeName": node_name, "source": {"persistentVolumeName": pv_name}},
                },
            )
        )
        still.add((pv_name, node_name))
    return out


def multi_attach_message(pv_name: str, pod: dict, others: list[dict]) -> str:
    namespace = pod["metadata"]["namespace"]
    local = sorted(p["metadata"]["name"] for p in others if p["metadata"]["namespace"] == namespace)
    foreign = len([p for p in others if p["metadata"]["namespace"] != namespace])
    if not others:
        text = EXCLUSIVE
    elif local:
        text = f"Volume is already used by pod(s) {', '.join(local)}"
        text += f" and {foreign} pod(s) in different namespaces" if foreign else ""
    else:
        text = f"Volume is already used by {foreign} pod(s) in different namespaces"
    return f'Multi-Attach error for volume "{pv_name}" {text}'


# -- on the lease holder ------------------------------------------------------------------------------------------
PENDING: dict = {}
SEEN: set = set()
_due: list[float | None] = [None]
_due_lock = threading.Lock()


def due() -> float | None:
    """When the earliest force detach falls due (epoch seconds), for kubelite's wake-up."""
    with _due_lock:
        return _due[0]


def sync(client, node) -> None:
    attachments = client.list("volumeattachments")
    volumes = client.list("persistentvolumes")
    if not attachments and not any((v.get("spec") or {}).get("csi") for v in volumes):
        with _due_lock:
            _due[0] = None
        return
    decided = reconcile(client.list("pods"), client.list("persistentvolumeclaims"), volumes, attachments,
                        client.list("nodes"), time.time(), node.profile.minor, PENDING, SEEN)  # fmt: skip
    with _due_lock:
        _due[0] = decided.due + 0.5 if decided.due is not None else None
    apply(client, decided.actions)
    for obj, reason, message, event_type, component in decided.events:
        client.event(obj, reason, message, component, event_type)
