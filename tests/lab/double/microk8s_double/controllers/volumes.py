# SPDX-License-Identifier: GPL-3.0-or-later
"""The PersistentVolume controller (kube-controller-manager's persistentvolume-binder) and the external
provisioners the storage addons run, on the lease holder, as pure decisions over claims, volumes and classes.

- Binding: a claim with `spec.volumeName` binds to that volume; otherwise to the smallest Available volume of its
  class (`""` = no class) with the access modes, size and selector it asks for. A bound pair carries the
  controller's annotations (`pv.kubernetes.io/bind-completed`, `pv.kubernetes.io/bound-by-controller`), the claim's
  status gets phase Bound, capacity and access modes, the volume's phase Bound.
- Classes with `volumeBindingMode: WaitForFirstConsumer` wait (event `WaitForFirstConsumer`) until the scheduler
  annotates the claim with `volume.kubernetes.io/selected-node` (controllers/scheduler.py); Immediate ones, and
  those once a node is selected, are annotated with the class's provisioner
  (`volume.beta.kubernetes.io/storage-provisioner`, 1.23+ also `volume.kubernetes.io/storage-provisioner`) and get
  the `ExternalProvisioning` event; a missing class gives `ProvisioningFailed`.
- Provisioners run while their addon is enabled (PROVISIONERS): `microk8s.io/hostpath` (hostpath-storage, or
  storage before 1.24) creates `pvc-<claim uid>` with a hostPath under `$SNAP_COMMON/default-storage`
  (`<namespace>-<claim>-pvc-<uid>`, cdkbot/hostpath-provisioner's naming), pre-bound to the claim, with node
  affinity to the selected node from 1.24 (provisioner 1.4, WaitForFirstConsumer class), without before;
  `openebs.io/local` (openebs) the same under `$SNAP_COMMON/var/openebs/local/pvc-<uid>`, always pinned;
  `io.openebs.csi-mayastor` (mayastor) a CSI volume with `repl` replicas on distinct Ready nodes (the selected
  node first when the class says `local: "true"`), placement in the annotation REPLICA_NODES, or
  `ProvisioningFailed` (Not enough suitable pools) while too few nodes qualify. Jiva's provisioner is not
  modelled: its claims stay Pending.
- Reclaim: a bound volume whose claim is gone turns Released; `Retain` keeps it so, `Delete` has the provisioner
  delete it (and its directory where it lives on this host); without a provisioner that can: phase Failed.
Events are sent once per transition (the real controller repeats them every resync, counted by kubectl)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .actions import Action
from .podutil import selector_matches

SELECTED_NODE = "volume.kubernetes.io/selected-node"
BETA_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
HOSTPATH = "microk8s.io/hostpath"
COMPONENT = "persistentvolume-controller"
OPENEBS_LOCAL = "openebs.io/local"
MAYASTOR = "io.openebs.csi-mayastor"
JIVA = "jiva.csi.openebs.io"  # the openebs addon's Jiva CSI driver (1.24+; 3 replicas by openebs-jiva-default-policy)
REPLICATED = (MAYASTOR, JIVA)
REPLICA_NODES = "double.microk8s.io/replica-nodes"  # the double's record of a mayastor volume's replica placement
MAYASTOR_OFF = "microk8s.io/mayastor"  # label value `disable`: no io-engine (no pool) on that node
# provisioner name -> (addons (any) that run it, its base directory under $SNAP_COMMON)
PROVISIONERS = {HOSTPATH: (("hostpath-storage", "storage"), "default-storage"),
                OPENEBS_LOCAL: (("openebs",), "var/openebs/local"),
                MAYASTOR: (("mayastor",), "mayastor/replicas"),
                JIVA: (("openebs",), "var/openebs/jiva/replicas")}  # fmt: skip
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
         "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}  # fmt: skip


def quantity(text) -> int:
    """A resource quantity (`1Gi`, `500M`, `1024`) in bytes; 0 when absent or unreadable."""
    text = str(text or "0").strip()
    for suffix in sorted(UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return int(float(text[: -len(suffix)]) * UNITS[suffix])
            except ValueError:
                return 0
    try:
        return int(float(text))
    except ValueError:
        return 0


def external_provisioning_message(provisioner: str, minor: int) -> str:
    if minor >= 24:
        return (
            f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by"
            " the system administrator. If volume creation is delayed, please verify that the provisioner is running"
            " and correctly registered."
        )
    return (
        f'waiting for a volume to be created, either by external provisioner "{provisioner}" or manually created by'
        " system administrator"
    )


def class_of(claim: dict) -> str:
    return (claim.get("spec") or {}).get("storageClassName") or ""


def binding_mode(storage_class: dict | None) -> str:
    return (storage_class or {}).get("volumeBindingMode") or "Immediate"


def requested(claim: dict) -> int:
    return quantity((((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage"))


def ref(claim: dict) -> dict:
    meta = claim["metadata"]
    return {"kind": "PersistentVolumeClaim", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")}  # fmt: skip


def claim_key(claim: dict) -> tuple[str, str]:
    return claim["metadata"]["namespace"], claim["metadata"]["name"]


def node_affinity_matches(volume: dict, node: dict | None) -> bool:
    """The volume's required node affinity against a node (no affinity: any node)."""
    required = (((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")
    if not required:
        return True
    if node is None:
        return False
    from .scheduler import term_matches  # the scheduler imports this module

    labels = node["metadata"].get("labels") or {}
    return any(term_matches(term, labels) for term in required)


def matches(claim: dict, volume: dict) -> bool:
    spec, vspec = claim.get("spec") or {}, volume.get("spec") or {}
    if (vspec.get("storageClassName") or "") != class_of(claim):
        return False
    if not set(spec.get("accessModes") or []) <= set(vspec.get("accessModes") or []):
        return False
    if quantity((vspec.get("capacity") or {}).get("storage")) < requested(claim):
        return False
    if spec.get("selector") and not selector_matches(spec["selector"], volume["metadata"].get("labels")):
        return False
    return (vspec.get("volumeMode") or "Filesystem") == (spec.get("volumeMode") or "Filesystem")


def prebound_to(volume: dict, claim: dict) -> bool:
    """The volume's claimRef names this claim: by uid, or (an administrator's pre-binding) by namespace and name."""
    claim_ref = (volume.get("spec") or {}).get("claimRef") or {}
    if claim_ref.get("uid"):
        return claim_ref["uid"] == claim["metadata"]["uid"]
    return bool(claim_ref) and claim_key(claim) == (claim_ref.get("namespace"), claim_ref.get("name"))


def bind(claim: dict, volume: dict) -> list[Action]:
    """Both halves of a binding, as the controller writes them (volume first, then the claim)."""
    actions = []
    vmeta, cmeta = volume["metadata"], claim["metadata"]
    claim_ref = (volume.get("spec") or {}).get("claimRef") or {}
    if claim_ref.get("uid") != cmeta["uid"]:
        body = {"spec": {"claimRef": ref(claim)}, "metadata": {"annotations": {BOUND_BY_CONTROLLER: "yes"}}}
        actions.append(Action("patch", "persistentvolumes", None, vmeta["name"], body))
    if (volume.get("status") or {}).get("phase") != "Bound":
        actions.append(Action("status", "persistentvolumes", None, vmeta["name"], {"status": {"phase": "Bound"}}))
    annotations = {BIND_COMPLETED: "yes"}
    if not (claim.get("spec") or {}).get("volumeName"):
        annotations[BOUND_BY_CONTROLLER] = "yes"
    if (claim.get("spec") or {}).get("volumeName") != vmeta["name"] or any(
        (cmeta.get("annotations") or {}).get(k) != v for k, v in annotations.items()
    ):
        body = {"spec": {"volumeName": vmeta["name"]}, "metadata": {"annotations": annotations}}
        actions.append(Action("patch", "persistentvolumeclaims", cmeta["namespace"], cmeta["name"], body))
    vspec = volume.get("spec") or {}
    wanted = {"phase": "Bound", "accessModes": vspec.get("accessModes") or [],
              "capacity": dict(vspec.get("capacity") or {})}  # fmt: skip
    if {k: (claim.get("status") or {}).get(k) for k in wanted} != wanted:
        actions.append(Action("status", "persistentvolumeclaims", cmeta["namespace"], cmeta["name"],
                              {"status": wanted}))  # fmt: skip
    return actions


class Decisions:
    """What one round decided: actions, and events as (object, reason, message, type, component)."""

    def __init__(self):
        self.actions: list[Action] = []
        self.events: list[tuple[dict, str, str, str, str]] = []

    def event(self, obj: dict, reason: str, message: str, event_type: str = "Normal", component: str = COMPONENT):
        self.events.append((obj, reason, message, event_type, component))


def reconcile(
    claims: list[dict],
    volumes: list[dict],
    classes: list[dict],
    nodes: list[dict],
    running: set[str],
    common: str,
    minor: int,
    seen: set | None = None,
) -> Decisions:
    """One pass of the PV controller and the running provisioners. `seen`: (claim uid, reason) of events already
    sent (kept by the caller between rounds)."""
    seen = set() if seen is None else seen
    out = Decisions()
    by_class = {c["metadata"]["name"]: c for c in classes}
    by_name = {v["metadata"]["name"]: v for v in volumes}
    by_node = {n["metadata"]["name"]: n for n in nodes}
    live = {c["metadata"]["uid"]: c for c in claims if not c["metadata"].get("deletionTimestamp")}
    taken = {((v.get("spec") or {}).get("claimRef") or {}).get("uid") for v in volumes} - {None}

    def once(claim: dict, reason: str, message: str, event_type: str = "Normal", component: str = COMPONENT):
        if (claim["metadata"]["uid"], reason) not in seen:
            seen.add((claim["metadata"]["uid"], reason))
            shown = dict(claim, kind="PersistentVolumeClaim", apiVersion="v1")
            out.event(shown, reason, message, event_type, component)

    for claim in sorted(live.values(), key=lambda c: c["metadata"].get("creationTimestamp", "")):
        meta, spec = claim["metadata"], claim.get("spec") or {}
        annotations = meta.get("annotations") or {}
        phase = (claim.get("status") or {}).get("phase")
        if spec.get("volumeName"):
            volume = by_name.get(spec["volumeName"])
            if volume is None:
                if (phase == "Bound" or annotations.get(BIND_COMPLETED)) and phase != "Lost":
                    out.actions.append(Action("status", "persistentvolumeclaims", meta["namespace"], meta["name"],
                                              {"status": {"phase": "Lost"}}))  # fmt: skip
                    once(claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is "
                         "lost!", "Warning")  # fmt: skip
                continue
            claim_ref = (volume.get("spec") or {}).get("claimRef") or {}
            if claim_ref.get("uid") in (None, meta["uid"]) and (
                claim_ref.get("uid") or (claim_ref.get("name"), claim_ref.get("namespace")) in (
                    (None, None), (meta["name"], meta["namespace"]))):  # fmt: skip
                out.actions += bind(claim, volume)
            continue
        storage_class = by_class.get(class_of(claim))
        mode = binding_mode(storage_class)
        selected = annotations.get(SELECTED_NODE)
        prebound = [v for v in volumes if prebound_to(v, claim)]
        candidates = prebound or sorted(
            (v for v in volumes if (v.get("status") or {}).get("phase") == "Available"
             and not (v.get("spec") or {}).get("claimRef") and v["metadata"]["name"] not in taken
             and matches(claim, v)
             and (mode == "Immediate" or (selected and node_affinity_matches(v, by_node.get(selected))))),
            key=lambda v: (quantity(v["spec"].get("capacity", {}).get("storage")), v["metadata"]["name"]),
        )  # fmt: skip
        if candidates:
            out.actions += bind(claim, candidates[0])
            taken.add(meta["uid"])
            taken.add(candidates[0]["metadata"]["name"])
            continue
        if phase != "Pending":
            out.actions.append(Action("status", "persistentvolumeclaims", meta["namespace"], meta["name"],
                                      {"status": {"phase": "Pending"}}))  # fmt: skip
        if not class_of(claim):
            once(claim, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
            continue
        if storage_class is None:
            once(claim, "ProvisioningFailed",
                 f'storageclass.storage.k8s.io "{class_of(claim)}" not found', "Warning")  # fmt: skip
            continue
        if mode == "WaitForFirstConsumer" and not selected:
            once(claim, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
            continue
        provisioner = storage_class.get("provisioner", "")
        wanted = {BETA_PROVISIONER: provisioner, **({PROVISIONER: provisioner} if minor >= 23 else {})}
        if any(annotations.get(k) != v for k, v in wanted.items()):
            out.actions.append(Action("patch", "persistentvolumeclaims", meta["namespace"], meta["name"],
                                      {"metadata": {"annotations": wanted}}))  # fmt: skip
        once(claim, "ExternalProvisioning", external_provisioning_message(provisioner, minor))
        if provisioner in running:
            name = f"pvc-{meta['uid']}"
            if name not in by_name:
                component = f"{provisioner}_{selected or 'provisioner'}"
                once(claim, "Provisioning", f'External provisioner is provisioning volume for claim '
                     f'"{meta["namespace"]}/{meta["name"]}"', component=component)  # fmt: skip
                pinned = selected if minor >= 24 or provisioner != HOSTPATH else None
                if provisioner in REPLICATED:
                    parameters = storage_class.get("parameters") or {}
                    wanted_replicas = int(parameters.get("repl") or parameters.get("replicaCount")
                                          or (3 if provisioner == JIVA else 1))  # fmt: skip
                    placed = replica_nodes(storage_class, nodes, selected, wanted_replicas)
                    if len(placed) < wanted_replicas:
                        once(claim, "ProvisioningFailed", f"failed to provision volume with StorageClass "
                             f'"{storage_class["metadata"]["name"]}": rpc error: code = ResourceExhausted desc = '
                             f"Not enough suitable pools available, {len(placed)}/{wanted_replicas}", "Warning",
                             component=component)  # fmt: skip
                        continue
                    volume = provision_mayastor(claim, storage_class, name, placed, provisioner)
                else:
                    volume = provision(claim, storage_class, name, common, pinned)
                out.actions.append(Action("create", "persistentvolumes", None, name, volume))
                once(claim, "ProvisioningSucceeded", f"Successfully provisioned volume {name}", component=component)

    for volume in volumes:
        vmeta, vspec = volume["metadata"], volume.get("spec") or {}
        phase = (volume.get("status") or {}).get("phase")
        claim_ref = vspec.get("claimRef") or {}
        if not claim_ref.get("uid"):  # free, or reserved by name for a claim not bound yet
            if phase != "Available":
                out.actions.append(Action("status", "persistentvolumes", None, vmeta["name"],
                                          {"status": {"phase": "Available"}}))  # fmt: skip
            continue
        if claim_ref["uid"] in live:
            continue
        if phase not in ("Released", "Failed"):
            out.actions.append(Action("status", "persistentvolumes", None, vmeta["name"],
                                      {"status": {"phase": "Released"}}))  # fmt: skip
        policy = vspec.get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Delete":
            provisioner = (vmeta.get("annotations") or {}).get(PROVISIONED_BY)
            if provisioner in running:
                out.actions.append(Action("delete", "persistentvolumes", None, vmeta["name"]))
            elif phase != "Failed":
                message = f'error getting deleter volume plugin for volume "{vmeta["name"]}": no deletable volume ' \
                          "plugin matched"  # fmt: skip
                out.actions.append(Action("status", "persistentvolumes", None, vmeta["name"],
                                          {"status": {"phase": "Failed", "message": message}}))  # fmt: skip
    return out


def provision(claim: dict, storage_class: dict, name: str, common: str, node_name: str | None) -> dict:
    """The PersistentVolume cdkbot/hostpath-provisioner creates for a claim (pre-bound through claimRef)."""
    source = {"hostPath": {"path": volume_path(storage_class["provisioner"], common, claim, name), "type": ""}}
    volume = provisioned_volume(claim, storage_class, name, {PROVISIONED_BY: storage_class["provisioner"]}, source)
    if node_name:
        term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}
        volume["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    return volume


def replica_nodes(storage_class: dict, nodes: list[dict], selected: str | None, count: int) -> list[str]:
    """Nodes for a mayastor volume's replicas: Ready, io-engine not disabled by label; with `local: "true"` the
    selected node first, then by name."""

    def eligible(node: dict) -> bool:
        labels = node["metadata"].get("labels") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (node.get("status") or {}).get("conditions") or [])  # fmt: skip
        return ready and labels.get(MAYASTOR_OFF) != "disable"

    names = sorted(n["metadata"]["name"] for n in nodes if eligible(n))
    local = (storage_class.get("parameters") or {}).get("local") == "true"
    if local and selected in names:
        names.remove(selected)
        names.insert(0, selected)
    return names[:count]


def provision_mayastor(claim: dict, storage_class: dict, name: str, placed: list[str], driver: str = MAYASTOR) -> dict:
    """The PersistentVolume of the mayastor CSI controller: a CSI volume (`volumeHandle` = the claim's uid) whose
    replicas live on `placed` (the double keeps the placement in an annotation; mayastor in its own store)."""
    attributes = dict(storage_class.get("parameters") or {})
    source = {"csi": {"driver": driver, "volumeHandle": claim["metadata"]["uid"], "fsType": "ext4",
                      "volumeAttributes": attributes}}  # fmt: skip
    annotations = {PROVISIONED_BY: driver, REPLICA_NODES: ",".join(placed)}
    return provisioned_volume(claim, storage_class, name, annotations, source)


def provisioned_volume(claim: dict, storage_class: dict, name: str, annotations: dict, source: dict) -> dict:
    """A provisioner's PersistentVolume for `claim` (its size, access and volume modes, pre-bound through claimRef)
    with the class's reclaim policy and the volume `source` (hostPath, csi)."""
    spec = claim.get("spec") or {}
    requests = (spec.get("resources") or {}).get("requests") or {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "capacity": {"storage": requests.get("storage", "0")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "claimRef": ref(claim),
            **source,
        },
    }


def volume_path(provisioner: str, common: str, claim: dict, name: str) -> str:
    """hostpath-provisioner: `<PV_DIR>/<namespace>-<claim>-<volume>`; openebs local: `<basePath>/<volume>`."""
    base = f"{common}/{PROVISIONERS[provisioner][1]}"
    if provisioner == HOSTPATH:
        return f"{base}/{claim['metadata']['namespace']}-{claim['metadata']['name']}-{name}"
    return f"{base}/{name}"


def destroy_replicas(volume: dict, nodes: list[dict], port: int) -> None:
    """The replicated engines' DeleteVolume: each replica node's io-engine drops its replica (one that does not
    answer keeps it, as a pool that was offline does)."""
    csi = (volume.get("spec") or {}).get("csi") or {}
    if csi.get("driver") not in REPLICATED:
        return
    from ..mayastor.nexus import Replica

    addresses = {n["metadata"]["name"]: a["address"] for n in nodes
                 for a in (n.get("status") or {}).get("addresses") or [] if a.get("type") == "InternalIP"}  # fmt: skip
    pool = "jiva" if csi["driver"] == JIVA else "mayastor"
    for name in ((volume["metadata"].get("annotations") or {}).get(REPLICA_NODES) or "").split(","):
        if name in addresses:
            replica = Replica(addresses[name], port, timeout=2)
            try:
                replica.call({"op": "destroy", "volume": csi["volumeHandle"], "pool": pool})
            except (OSError, ValueError):
                pass
            finally:
                replica.close()


# -- on the lease holder ------------------------------------------------------------------------------------------
SEEN: set = set()


def running_provisioners(node) -> set[str]:
    from .. import addons, datastore

    try:
        enabled = {name.split("/", 1)[-1] for name in addons.enabled_set(node)}
    except datastore.DatastoreError:
        return set()
    return {name for name, (wanted, _base) in PROVISIONERS.items() if enabled & set(wanted)}


def sync(client, node) -> None:
    from .actions import apply

    claims, volumes = client.list("persistentvolumeclaims"), client.list("persistentvolumes")
    classes, nodes = client.list("storageclasses"), client.list("nodes")
    running = running_provisioners(node)
    common = str(node.paths.snap_common)
    decided = reconcile(claims, volumes, classes, nodes, running, common, node.profile.minor, SEEN)
    apply(client, decided.actions)
    for action in decided.actions:  # the provisioner's deleter removes the directory it made
        if action.verb == "delete" and action.resource == "persistentvolumes":
            gone = next((v for v in volumes if v["metadata"]["name"] == action.name), {})
            destroy_replicas(gone, nodes, node.port("io_engine"))
            path = ((gone.get("spec") or {}).get("hostPath") or {}).get("path", "")
            if path.startswith(common + "/") and Path(path).is_dir():
                shutil.rmtree(path, ignore_errors=True)
    for obj, reason, message, event_type, component in decided.events:
        client.event(obj, reason, message, component, event_type)
