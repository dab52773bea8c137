# SPDX-License-Identifier: GPL-3.0-or-later
"""The kinds the API server serves: group, version, scope, short names, verbs and subresources, as discovery lists
them, and where each object lives in the datastore (`/registry/<resource>/<namespace>/<name>`)."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    name: str  # plural, as in URLs
    kind: str
    group: str = ""  # "" = the core group (/api/v1)
    version: str = "v1"
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    generation: bool = False  # metadata.generation counts spec changes
    verbs: tuple[str, ...] = ALL_VERBS  # as discovery lists them
    minors: tuple[int, int] = (0, 999)  # the Kubernetes minor versions that serve it (first, last)
    crd: bool = False  # served only while its CustomResourceDefinition `<name>.<group>` exists

    def served(self, minor: int | None) -> bool:
        return minor is None or self.minors[0] <= minor <= self.minors[1]

    @property
    def crd_name(self) -> str:
        return f"{self.name}.{self.group}"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """The URL prefix of the group version: /api/v1 or /apis/<group>/<version>."""
        return f"/apis/{self.group_version}" if self.group else "/api/v1"

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        parts = [self.prefix] + (["namespaces", namespace] if self.namespaced and namespace else [])
        parts += [self.name] + ([name] if name else []) + ([subresource] if subresource else [])
        return "/".join(parts)

    def key(self, namespace: str | None, name: str = "") -> str:
        """Datastore key of one object (or, without a name, the prefix of a namespace's objects)."""
        store_name = "minions" if self.name == "nodes" else self.name
        scope = f"{namespace}/" if self.namespaced and namespace else ""
        return f"/registry/{store_name}/{scope}{name}"


WORKLOAD = ("all",)
SUBRESOURCE_VERBS = {"log": ["get"], "binding": ["create"], "eviction": ["create"], "token": ["create"]}
SUBRESOURCE_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "eviction": ("policy", "v1", "Eviction"),
                     "token": ("authentication.k8s.io", "v1", "TokenRequest")}  # fmt: skip
RESOURCES = [
    Resource("namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",)),
    Resource("nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",)),
    Resource(
        "pods",
        "Pod",
        short_names=("po",),
        subresources=("status", "log", "binding", "eviction"),
        categories=WORKLOAD,
    ),
    Resource("services", "Service", short_names=("svc",), subresources=("status",), categories=WORKLOAD),
    Resource("endpoints", "Endpoints", short_names=("ep",)),
    Resource("configmaps", "ConfigMap", short_names=("cm",)),
    Resource("secrets", "Secret"),
    Resource("serviceaccounts", "ServiceAccount", short_names=("sa",), subresources=("token",)),
    Resource("events", "Event", short_names=("ev",)),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), subresources=("status",)),
    Resource("persistentvolumes", "PersistentVolume", namespaced=False, short_names=("pv",), subresources=("status",)),
    Resource(
        "deployments",
        "Deployment",
        group="apps",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=WORKLOAD,
        generation=True,
    ),
    Resource(
        "replicasets",
        "ReplicaSet",
        group="apps",
        short_names=("rs",),
        subresources=("status", "scale"),
        categories=WORKLOAD,
        generation=True,
    ),
    Resource(
        "statefulsets",
        "StatefulSet",
        group="apps",
        short_names=("sts",),
        subresources=("status", "scale"),
        categories=WORKLOAD,
        generation=True,
    ),
    Resource(
        "daemonsets",
        "DaemonSet",
        group="apps",
        short_names=("ds",),
        subresources=("status",),
        categories=WORKLOAD,
        generation=True,
    ),
    Resource(
        "jobs",
        "Job",
        group="batch",
        subresources=("status",),
        categories=WORKLOAD,
        generation=True,
    ),
    Resource(
        "cronjobs",
        "CronJob",
        group="batch",
        short_names=("cj",),
        subresources=("status",),
        categories=WORKLOAD,
        generation=True,
        minors=(21, 999),
    ),
    Resource("leases", "Lease", group="coordination.k8s.io"),
    Resource("events", "Event", group="events.k8s.io", short_names=("ev",)),
    Resource(
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        group="policy",
        short_names=("pdb",),
        subresources=("status",),
        generation=True,
    ),
    Resource("ingresses", "Ingress", group="networking.k8s.io", short_names=("ing",), subresources=("status",)),
    Resource("ingressclasses", "IngressClass", group="networking.k8s.io", namespaced=False),
    Resource("networkpolicies", "NetworkPolicy", group="networking.k8s.io", short_names=("netpol",), generation=True),
    Resource("storageclasses", "StorageClass", group="storage.k8s.io", namespaced=False, short_names=("sc",)),
    Resource(
        "volumeattachments", "VolumeAttachment", group="storage.k8s.io", namespaced=False, subresources=("status",)
    ),
    Resource("roles", "Role", group="rbac.authorization.k8s.io"),
    Resource("rolebindings", "RoleBinding", group="rbac.authorization.k8s.io"),
    Resource("clusterroles", "ClusterRole", group="rbac.authorization.k8s.io", namespaced=False),
    Resource("clusterrolebindings", "ClusterRoleBinding", group="rbac.authorization.k8s.io", namespaced=False),
    Resource(
        "customresourcedefinitions",
        "CustomResourceDefinition",
        group="apiextensions.k8s.io",
        namespaced=False,
        short_names=("crd", "crds"),
        subresources=("status",),
        generation=True,
    ),
    # cert-manager's kinds (its addon's CRDs; controllers/certmanager.py plays its controller).
    *(
        Resource(
            name,
            kind,
            group=group,
            namespaced=namespaced,
            short_names=short,
            subresources=("status",),
            categories=("cert-manager",),
            generation=True,
            crd=True,
        )
        for name, kind, group, namespaced, short in (
            ("certificates", "Certificate", "cert-manager.io", True, ("cert", "certs")),
            ("certificaterequests", "CertificateRequest", "cert-manager.io", True, ("cr", "crs")),
            ("issuers", "Issuer", "cert-manager.io", True, ()),
            ("clusterissuers", "ClusterIssuer", "cert-manager.io", False, ()),
            ("orders", "Order", "acme.cert-manager.io", True, ()),
            ("challenges", "Challenge", "acme.cert-manager.io", True, ()),
        )
    ),
    # Reviews (auth/reviews.py answers them; nothing is stored): create only.
    Resource("localsubjectaccessreviews", "LocalSubjectAccessReview", group="authorization.k8s.io", verbs=("create",)),
    *(
        Resource(name, kind, group="authorization.k8s.io", namespaced=False, verbs=("create",))
        for name, kind in (
            ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
            ("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
            ("subjectaccessreviews", "SubjectAccessReview"),
        )
    ),
    # authentication (auth/): CSRs are stored, SelfSubjectReviews only answered (kubectl auth whoami)
    Resource(
        "certificatesigningrequests",
        "CertificateSigningRequest",
        group="certificates.k8s.io",
        namespaced=False,
        short_names=("csr",),
        subresources=("status", "approval"),
    ),
    Resource("tokenreviews", "TokenReview", group="authentication.k8s.io", namespaced=False, verbs=("create",)),
    Resource(
        "selfsubjectreviews",
        "SelfSubjectReview",
        group="authentication.k8s.io",
        namespaced=False,
        verbs=("create",),
        minors=(28, 999),
    ),
    Resource(
        "selfsubjectreviews",
        "SelfSubjectReview",
        group="authentication.k8s.io",
        version="v1beta1",
        namespaced=False,
        verbs=("create",),
        minors=(27, 29),
    ),
]
BY_PATH = {(r.group_version, r.name): r for r in RESOURCES}
BY_NAME = {r.name: r for r in reversed(RESOURCES)}  # events: the core group's


def find(name: str) -> Resource:
    """A resource by plural name (`pods`, `deployments`, `leases`); KeyError for an unknown one."""
    return BY_NAME[name]


def group_versions(minor: int | None = None, crds: frozenset[str] | None = None) -> list[str]:
    """The group versions besides the core v1, in discovery order (those a Kubernetes minor version serves; `crds`:
    the defined CRDs' names, None = all)."""
    return list(dict.fromkeys(r.group_version for r in RESOURCES if r.group and available(r, minor, crds)))


def defined(resource: Resource, crds: frozenset[str] | None) -> bool:
    return not resource.crd or crds is None or resource.crd_name in crds


def available(resource: Resource, minor: int | None, crds: frozenset[str] | None) -> bool:
    return resource.served(minor) and defined(resource, crds)


def discovery(group_version: str, minor: int | None = None, crds: frozenset[str] | None = None) -> dict:
    """The APIResourceList of one group version, with the subresources kubectl looks up (e.g. deployments/scale)."""
    entries = []
    for resource in (r for r in RESOURCES if r.group_version == group_version and available(r, minor, crds)):
        entry = {
            "name": resource.name,
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        entry.update({"shortNames": list(resource.short_names)} if resource.short_names else {})
        entry.update({"categories": list(resource.categories)} if resource.categories else {})
        entries.append(entry)
        for sub in resource.subresources:
            group, version, kind = SUBRESOURCE_KINDS.get(sub, ("", "", resource.kind))
            entries.append(
                {
                    "name": f"{resource.name}/{sub}",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": kind,
                    "verbs": SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"]),
                    **({"group": group, "version": version} if group else {}),
                }
            )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def group_list(minor: int | None = None, crds: frozenset[str] | None = None) -> dict:
    """One entry per group, its versions in order (the first preferred)."""
    groups: dict[str, dict] = {}
    for group_version in group_versions(minor, crds):
        group, version = group_version.split("/")
        entry = {"groupVersion": group_version, "version": version}
        found = groups.setdefault(group, {"name": group, "versions": [], "preferredVersion": entry})
        found["versions"].append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(groups.values())}
