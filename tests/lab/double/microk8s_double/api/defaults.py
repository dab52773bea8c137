# SPDX-License-Identifier: GPL-3.0-or-later
"""The defaults the real API server fills in on create and update, for the fields clients and controllers read
(kubectl describe and rollout status dereference them; the kubelet reads imagePullPolicy)."""

from __future__ import annotations

POD_DEFAULTS = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "securityContext": {},
}


def apply(resource: str, obj: dict, minor: int = 99) -> dict:
    spec = obj.setdefault("spec", {}) if resource in SPEC_DEFAULTS else obj.get("spec")
    if resource in SPEC_DEFAULTS:
        SPEC_DEFAULTS[resource](spec)
    if resource == "statefulsets" and minor >= 27:  # StatefulSetAutoDeletePVC: beta, on by default, from 1.27
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    if resource == "namespaces":
        obj.setdefault("status", {})["phase"] = obj.get("status", {}).get("phase", "Active")
    if resource == "secrets":
        obj.setdefault("type", "Opaque")
    if resource == "storageclasses":  # StorageClass has no spec: its fields are top-level
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")
    if resource == "persistentvolumes":
        obj.setdefault("spec", {}).setdefault("persistentVolumeReclaimPolicy", "Retain")
    if resource in ("persistentvolumes", "persistentvolumeclaims"):
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    return obj


def pod_spec(spec: dict) -> None:
    for key, value in POD_DEFAULTS.items():
        spec.setdefault(key, value)
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        container.setdefault("imagePullPolicy", pull_policy(container.get("image", "")))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports", []):
            port.setdefault("protocol", "TCP")


def pull_policy(image: str) -> str:
    """Always for `:latest` or untagged images (no digest), else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def template(spec: dict) -> None:
    pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def replica_set(spec: dict) -> None:
    spec.setdefault("replicas", 1)
    template(spec)


def deployment(spec: dict) -> None:
    replica_set(spec)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", "25%")
        strategy["rollingUpdate"].setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def stateful_set(spec: dict) -> None:
    """SetDefaults_StatefulSet, and the claim templates' volumeMode (SetDefaults_PersistentVolumeClaimSpec)."""
    replica_set(spec)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):  # an empty strategy gets a RollingUpdate with its defaults
        strategy.update(type="RollingUpdate", rollingUpdate=strategy.get("rollingUpdate") or {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    for claim in spec.get("volumeClaimTemplates") or []:
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        claim.setdefault("status", {}).setdefault("phase", "Pending")


def job(spec: dict) -> None:
    """SetDefaults_Job (NonIndexed): one pod to one completion unless told, 6 retries."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    template(spec)


def cron_job(spec: dict) -> None:
    """SetDefaults_CronJob; the job template's pod spec gets the pod defaults."""
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))


JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def job_selector(obj: dict, minor: int) -> None:
    """The Job strategy's generateSelector (unless spec.manualSelector): the template gets the Job's uid and name as
    labels (1.27+ both the batch.kubernetes.io/ ones and the old ones, before only the old) and the selector matches
    the uid; the Job's own labels, when it has none, are the template's (SetDefaults_Job on every read)."""
    spec, meta = obj.setdefault("spec", {}), obj["metadata"]
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    if not spec.get("manualSelector"):
        names = slice(0, 2) if minor >= 27 else slice(1, 2)
        labels = dict(template_meta.get("labels") or {})
        labels.update({key: meta["uid"] for key in JOB_UID_LABELS[names]})
        labels.update({key: meta["name"] for key in JOB_NAME_LABELS[names]})
        template_meta["labels"] = labels
        spec["selector"] = {"matchLabels": {JOB_UID_LABELS[names][0]: meta["uid"]}}
    if not meta.get("labels") and template_meta.get("labels"):
        meta["labels"] = dict(template_meta["labels"])


def service(spec: dict) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")


def network_policy(spec: dict) -> None:
    """SetDefaults_NetworkPolicySpec: policyTypes Ingress, plus Egress when egress rules exist; ports TCP."""
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for port in (rule or {}).get("ports") or []:
            port.setdefault("protocol", "TCP")


SPEC_DEFAULTS = {"pods": pod_spec, "deployments": deployment, "replicasets": replica_set, "statefulsets": stateful_set,
                 "jobs": job, "cronjobs": cron_job, "services": service, "networkpolicies": network_policy}  # fmt: skip
