# SPDX-License-Identifier: GPL-3.0-or-later
"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for (`as=Table`), with the columns and cell texts
kube-apiserver's printers give per kind (wide columns at priority 1); other kinds get Name and Created At."""

from __future__ import annotations

from collections.abc import Callable

from .. import nodes
from . import selectors

NONE = "<none>"


def age(obj: dict) -> str:
    created = obj["metadata"].get("creationTimestamp")
    return nodes.human_duration((nodes.now() - nodes.parse(created)).total_seconds()) if created else "<unknown>"


def selector_text(labels: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or NONE


def containers(obj: dict) -> list[dict]:
    spec = obj.get("spec", {})
    return spec.get("template", {}).get("spec", {}).get("containers", []) or spec.get("containers", [])


def workload_wide(obj: dict) -> list[str]:
    selector = obj["spec"].get("selector", {}).get("matchLabels")
    return [
        ",".join(c["name"] for c in containers(obj)),
        ",".join(c["image"] for c in containers(obj)),
        selector_text(selector),
    ]


def pod_status(pod: dict) -> tuple[str, str, int]:
    """(READY, STATUS, RESTARTS) as kubectl's pod printer derives them."""
    status = pod.get("status", {})
    statuses = status.get("containerStatuses", [])
    reason = status.get("reason") or status.get("phase", "Pending")
    for container in reversed(statuses):
        state = container.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    return f"{ready}/{len(pod.get('spec', {}).get('containers', []))}", reason, restarts


def pod_row(pod: dict) -> list:
    ready, reason, restarts = pod_status(pod)
    status = pod.get("status", {})
    node = pod.get("spec", {}).get("nodeName") or NONE
    return [pod["metadata"]["name"], ready, reason, restarts, age(pod), status.get("podIP") or NONE, node, NONE, NONE]


def external_ips(service: dict) -> str:
    spec = service["spec"]
    loaded = service.get("status", {}).get("loadBalancer", {}).get("ingress", [])
    addresses = spec.get("externalIPs", []) + [i.get("ip") or i.get("hostname") for i in loaded]
    if spec.get("type") == "LoadBalancer" and not loaded:
        return ",".join([*addresses, "<pending>"])
    return ",".join(addresses) or NONE


def ports_text(service: dict) -> str:
    texts = []
    for port in service["spec"].get("ports", []):
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        texts.append(f"{port['port']}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(texts) or NONE


def service_row(service: dict) -> list:
    spec = service["spec"]
    cluster_ip = spec.get("clusterIP") or NONE
    cells = [spec.get("type", "ClusterIP"), cluster_ip, external_ips(service), ports_text(service), age(service)]
    return [service["metadata"]["name"], *cells, selector_text(spec.get("selector"))]


def endpoints_text(endpoints: dict) -> str:
    addresses = [
        f"{a['ip']}:{p['port']}" if subset.get("ports") else a["ip"]
        for subset in endpoints.get("subsets") or []
        for a in subset.get("addresses", [])
        for p in subset.get("ports") or [{}]
    ]
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    return ",".join(addresses[:3]) + more if addresses else NONE


def ingress_row(ingress: dict) -> list:
    spec = ingress.get("spec", {})
    hosts = ",".join(r["host"] for r in spec.get("rules", []) if r.get("host")) or "*"
    loaded = ingress.get("status", {}).get("loadBalancer", {}).get("ingress", [])
    address = ",".join(i.get("ip") or i.get("hostname", "") for i in loaded)
    ports = "80, 443" if spec.get("tls") else "80"
    return [ingress["metadata"]["name"], spec.get("ingressClassName") or NONE, hosts, address, ports, age(ingress)]


def pvc_row(claim: dict) -> list:
    spec, status = claim.get("spec", {}), claim.get("status", {})
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    access = ",".join(modes.get(m, m) for m in status.get("accessModes", []))
    capacity = status.get("capacity", {}).get("storage", "")
    name = claim["metadata"]["name"]
    return [name, status.get("phase", "Pending"), spec.get("volumeName", ""), capacity, access,
            spec.get("storageClassName", ""), age(claim)]  # fmt: skip


def pv_row(volume: dict) -> list:
    spec, status = volume.get("spec", {}), volume.get("status", {})
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    access = ",".join(modes.get(m, m) for m in spec.get("accessModes", []))
    ref = spec.get("claimRef") or {}
    claim = f"{ref['namespace']}/{ref['name']}" if ref.get("name") else ""
    return [volume["metadata"]["name"], spec.get("capacity", {}).get("storage", ""), access,
            spec.get("persistentVolumeReclaimPolicy", ""), status.get("phase", ""), claim,
            spec.get("storageClassName", ""), status.get("reason", ""), age(volume),
            spec.get("volumeMode", "")]  # fmt: skip


def storage_class_row(storage_class: dict) -> list:
    name = storage_class["metadata"]["name"]
    annotations = storage_class["metadata"].get("annotations") or {}
    if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
        name += " (default)"
    expansion = "true" if storage_class.get("allowVolumeExpansion") else "false"
    return [name, storage_class.get("provisioner", ""), storage_class.get("reclaimPolicy", "Delete"),
            storage_class.get("volumeBindingMode", "Immediate"), expansion, age(storage_class)]  # fmt: skip


def workload_row(counts: Callable[[dict], tuple]) -> Callable[[dict], list]:
    return lambda obj: [obj["metadata"]["name"], *counts(obj), age(obj), *workload_wide(obj)]


def deployment_counts(obj: dict) -> tuple:
    status, replicas = obj.get("status", {}), obj["spec"].get("replicas", 1)
    ready = f"{status.get('readyReplicas', 0)}/{replicas}"
    return ready, status.get("updatedReplicas", 0), status.get("availableReplicas", 0)


def replicaset_counts(obj: dict) -> tuple:
    status = obj.get("status", {})
    return obj["spec"].get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0)


def stateful_set_row(obj: dict) -> list:
    """printStatefulSet: ready/desired and age; wide: containers and images (no selector)."""
    ready = f"{obj.get('status', {}).get('readyReplicas', 0)}/{obj['spec'].get('replicas', 1)}"
    return [obj["metadata"]["name"], ready, age(obj), *workload_wide(obj)[:2]]


def job_row(obj: dict) -> list:
    """printJob (1.28+ columns): status, completions (`1/1`, `0/1 of 3` for a work queue), duration; wide as a
    workload's."""
    spec, status = obj["spec"], obj.get("status") or {}
    held = {c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = next((k for k in ("Complete", "Failed") if k in held), None)
    if state is None:
        state = (
            "Terminating"
            if obj["metadata"].get("deletionTimestamp")
            else next((k for k in ("Suspended", "FailureTarget", "SuccessCriteriaMet") if k in held), "Running")
        )
    succeeded, parallelism = status.get("succeeded", 0), spec.get("parallelism")
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    else:
        completions = f"{succeeded}/1 of {parallelism}" if (parallelism or 1) > 1 else f"{succeeded}/1"
    start, end = status.get("startTime"), status.get("completionTime")
    duration = ""
    if start:
        until = nodes.parse(end) if end else nodes.now()
        duration = nodes.human_duration((until - nodes.parse(start)).total_seconds())
    return [obj["metadata"]["name"], state, completions, duration, age(obj), *workload_wide(obj)]


def cron_job_row(obj: dict) -> list:
    """printCronJob: schedule, time zone, suspend, active Jobs, last schedule; wide: containers, images, selector of
    the job template."""
    spec, status = obj["spec"], obj.get("status") or {}
    last = status.get("lastScheduleTime")
    since = nodes.human_duration((nodes.now() - nodes.parse(last)).total_seconds()) if last else NONE
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    wide = workload_wide({"spec": job_spec})
    return [obj["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or NONE,
            str(bool(spec.get("suspend"))), len(status.get("active") or []), since, age(obj), *wide]  # fmt: skip


def event_row(event: dict) -> list:
    """kubectl's event printer: last seen, type, reason, kind/name, message; wide: subobject, source, first seen,
    count, name."""
    involved, source = event.get("involvedObject", {}), event.get("source", {})
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    first = event.get("firstTimestamp") or last
    since = {"metadata": {"creationTimestamp": last}}
    origin = ", ".join(v for v in (source.get("component"), source.get("host")) if v)
    kind_name = f"{involved.get('kind', '').lower()}/{involved.get('name', '')}"
    return [age(since), event.get("type", ""), event.get("reason", ""), kind_name, event.get("message", ""),
            involved.get("fieldPath", ""), origin, age({"metadata": {"creationTimestamp": first}}),
            event.get("count", 1), event["metadata"]["name"]]  # fmt: skip


def budget_row(budget: dict) -> list:
    spec, status = budget.get("spec", {}), budget.get("status", {})
    return [budget["metadata"]["name"], str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            status.get("disruptionsAllowed", 0), age(budget)]  # fmt: skip


def csr_row(obj: dict) -> list:
    """printCertificateSigningRequest: the condition Denied/Approved/Pending, then ,Failed and ,Issued."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or []}
    condition = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    condition += ",Failed" * ("Failed" in types) + ",Issued" * bool(status.get("certificate"))
    seconds = spec.get("expirationSeconds")
    requested = NONE if seconds is None else nodes.human_duration(float(seconds))
    return [obj["metadata"]["name"], age(obj), spec.get("signerName", ""), spec.get("username", ""), requested,
            condition]  # fmt: skip


WIDE = ["Containers", "Images", "Selector"]


def attachment_row(o: dict) -> list:
    spec = o.get("spec", {})
    source = spec.get("source", {}).get("persistentVolumeName", "")
    return [o["metadata"]["name"], spec.get("attacher", ""), source, spec.get("nodeName", ""),
            bool(o.get("status", {}).get("attached")), age(o)]  # fmt: skip


PRINTERS = {  # resource -> (columns, wide columns (priority 1), row function giving the cells of both)
    "pods": (
        ["Name", "Ready", "Status", "Restarts", "Age"],
        ["IP", "Node", "Nominated Node", "Readiness Gates"],
        pod_row,
    ),
    "deployments": (["Name", "Ready", "Up-to-date", "Available", "Age"], WIDE, workload_row(deployment_counts)),
    "replicasets": (["Name", "Desired", "Current", "Ready", "Age"], WIDE, workload_row(replicaset_counts)),
    "statefulsets": (["Name", "Ready", "Age"], WIDE[:2], stateful_set_row),
    "jobs": (["Name", "Status", "Completions", "Duration", "Age"], WIDE, job_row),
    "cronjobs": (["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"], WIDE, cron_job_row),
    "services": (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"], service_row),
    "endpoints": (["Name", "Endpoints", "Age"], [], lambda o: [o["metadata"]["name"], endpoints_text(o), age(o)]),
    "configmaps": (
        ["Name", "Data", "Age"],
        [],
        lambda o: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)],
    ),
    "secrets": (
        ["Name", "Type", "Data", "Age"],
        [],
        lambda o: [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}), age(o)],
    ),
    "serviceaccounts": (
        ["Name", "Secrets", "Age"],
        [],
        lambda o: [o["metadata"]["name"], len(o.get("secrets") or []), age(o)],
    ),
    "namespaces": (
        ["Name", "Status", "Age"],
        [],
        lambda o: [o["metadata"]["name"], o.get("status", {}).get("phase", "Active"), age(o)],
    ),
    "ingresses": (["Name", "Class", "Hosts", "Address", "Ports", "Age"], [], ingress_row),
    "networkpolicies": (
        ["Name", "Pod-Selector", "Age"],
        [],
        lambda o: [o["metadata"]["name"], selectors.to_text(o.get("spec", {}).get("podSelector")) or NONE, age(o)],
    ),
    "events": (
        ["Last Seen", "Type", "Reason", "Object", "Message"],
        ["Subobject", "Source", "First Seen", "Count", "Name"],
        event_row,
    ),
    "poddisruptionbudgets": (
        ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"],
        [],
        budget_row,
    ),
    "persistentvolumeclaims": (
        ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "Age"],
        [],
        pvc_row,
    ),
    "persistentvolumes": (
        ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "Reason", "Age"],
        ["VolumeMode"],
        pv_row,
    ),
    "storageclasses": (
        ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
        [],
        storage_class_row,
    ),
    "volumeattachments": (
        ["Name", "Attacher", "PV", "Node", "Attached", "Age"],
        [],
        attachment_row,
    ),
    "leases": (
        ["Name", "Holder", "Age"],
        [],
        lambda o: [o["metadata"]["name"], o.get("spec", {}).get("holderIdentity", ""), age(o)],
    ),
}
PRINTERS["certificatesigningrequests"] = (
    ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"],
    [],
    csr_row,
)


def condition_of(obj: dict, kind: str, field: str = "status") -> str:
    found = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})
    return found.get(field, "")


def issuer_row(obj: dict) -> list:
    return [obj["metadata"]["name"], condition_of(obj, "Ready"), age(obj), condition_of(obj, "Ready", "message")]


# cert-manager's CRDs' additionalPrinterColumns (priority 1 = -o wide)
PRINTERS.update({
    "certificates": (["Name", "Ready", "Secret", "Age"], ["Issuer", "Status"],
                     lambda o: [o["metadata"]["name"], condition_of(o, "Ready"), o["spec"].get("secretName", ""),
                                age(o), (o["spec"].get("issuerRef") or {}).get("name", ""),
                                condition_of(o, "Ready", "message")]),
    "certificaterequests": (["Name", "Approved", "Denied", "Ready", "Issuer", "Requestor", "Age"], ["Status"],
                            lambda o: [o["metadata"]["name"], condition_of(o, "Approved"), condition_of(o, "Denied"),
                                       condition_of(o, "Ready"), (o["spec"].get("issuerRef") or {}).get("name", ""),
                                       o["spec"].get("username", ""), age(o), condition_of(o, "Ready", "message")]),
    "issuers": (["Name", "Ready", "Age"], ["Status"], issuer_row),
    "clusterissuers": (["Name", "Ready", "Age"], ["Status"], issuer_row),
})  # fmt: skip
DEFAULT = (["Name", "Created At"], [], lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")])


def table(resource: str, objects: list[dict], resource_version: str) -> dict:
    if resource == "nodes":
        return nodes.table(objects, resource_version)
    normal, wide, row = PRINTERS.get(resource, DEFAULT)
    columns = [(name, 0) for name in normal] + [(name, 1) for name in wide]
    definitions = [
        {"name": name, "type": "string", "format": "name" * (name == "Name"), "description": "", "priority": rank}
        for name, rank in columns
    ]
    rows = [
        {
            "cells": row(o)[: len(columns)],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
        }
        for o in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
