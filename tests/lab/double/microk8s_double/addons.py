# SPDX-License-Identifier: GPL-3.0-or-later
"""The addon catalog per version and which addons are enabled.

Real MicroK8s derives "enabled" from the Kubernetes API, so every node of a cluster sees the same; the double keeps
the set in the cluster's datastore (key ENABLED_KEY; absent = a fresh install's defaults), except where the real
check is a file: ha-cluster (var/lock/ha-cluster) and repositories ($SNAP_COMMON/addons).
"""

from __future__ import annotations

from dataclasses import dataclass

from microk8s_double import datastore
from microk8s_double.node import Node
from microk8s_double.paths import Paths
from microk8s_double.profiles import Profile

# name: (description, first minor, last minor) of the core repository (built-in addons before 1.24).
CORE = {
    "cert-manager": ("Cloud native certificate management", 25, 99),
    "cis-hardening": ("Apply CIS K8s hardening", 28, 99),
    "community": ("The community addons repository", 24, 99),
    "dashboard": ("The Kubernetes dashboard", 20, 99),
    "dns": ("CoreDNS", 20, 99),
    "gpu": ("Automatic enablement of Nvidia CUDA", 20, 28),
    "ha-cluster": ("Configure high availability on the current node", 20, 99),
    "helm": ("Helm - the package manager for Kubernetes", 20, 99),
    "helm3": ("Helm 3 - the package manager for Kubernetes", 20, 99),
    "host-access": ("Allow Pods connecting to Host services smoothly", 20, 99),
    "hostpath-storage": ("Storage class; allocates storage from host directory", 24, 99),
    "ingress": ("Ingress controller for external access", 20, 99),
    "mayastor": ("OpenEBS MayaStor", 24, 99),
    "metallb": ("Loadbalancer for your Kubernetes cluster", 20, 99),
    "metrics-server": ("K8s Metrics Server for API access to service metrics", 20, 99),
    "minio": ("MinIO object storage", 26, 99),
    "nvidia": ("NVIDIA hardware (GPU and network) support", 29, 99),
    "observability": ("A lightweight observability stack for logs, traces and metrics", 25, 99),
    "openebs": ("OpenEBS is the open-source storage solution for Kubernetes", 21, 23),
    "prometheus": ("Prometheus operator for monitoring and logging", 20, 24),
    "rbac": ("Role-Based Access Control for authorisation", 20, 99),
    "registry": ("Private image registry exposed on localhost:32000", 20, 99),
    "rook-ceph": ("Distributed Ceph storage using Rook", 28, 99),
    "storage": ("Alias to hostpath-storage add-on, deprecated", 20, 99),
}
COMMUNITY = {
    "argocd": "Argo CD is a declarative continuous deployment for Kubernetes.",
    "istio": "Core Istio service mesh services",
    "linkerd": "Linkerd is a service mesh for Kubernetes and other frameworks",
    "openebs": "OpenEBS is the open-source storage solution for Kubernetes",
    "traefik": "traefik Ingress controller",
}
# Enabled on a fresh install: the HA datastore always, helm (its binary ships in the snap) 1.24+, dns 1.27+.
DEFAULT_ENABLED = {"helm": 24, "helm3": 24, "dns": 27}
ENABLED_KEY = "/registry/microk8s-double/enabled-addons"


@dataclass(frozen=True)
class Addon:
    name: str
    repository: str
    description: str

    @property
    def full_name(self) -> str:
        return f"{self.repository}/{self.name}"


def repositories(paths: Paths, profile: Profile) -> list[str]:
    """Enabled repositories: checkouts under $SNAP_COMMON/addons (1.24+); one built-in set before."""
    if not profile.since(24):
        return ["core"]
    root = paths.snap_common / "addons"
    return sorted(p.parent.name for p in root.glob("*/addons.yaml"))


def catalog(paths: Paths, profile: Profile) -> list[Addon]:
    known = {"core": {n: d for n, (d, first, last) in CORE.items() if first <= profile.minor <= last}}
    known["community"] = COMMUNITY
    return [
        Addon(name, repo, description)
        for repo in repositories(paths, profile)
        for name, description in sorted(known.get(repo, {}).items())
    ]


def enabled_set(node: Node) -> set[str]:
    """Raises datastore.DatastoreError when the datastore does not answer (the API server is down)."""
    stored = datastore.execute(node, [{"op": "get", "key": ENABLED_KEY}])[0]
    if stored is None:
        return {f"core/{name}" for name, since in DEFAULT_ENABLED.items() if node.profile.since(since)}
    return set(stored)


def is_enabled(node: Node, addon: Addon, enabled: set[str]) -> bool:
    if addon.name == "ha-cluster":
        return node.paths.lock("ha-cluster").exists()
    if addon.name == "community":
        return (node.paths.snap_common / "addons" / "community" / "addons.yaml").exists()
    return addon.full_name in enabled


def set_enabled(node: Node, full_name: str, enabled: bool) -> None:
    names = enabled_set(node)
    names = names | {full_name} if enabled else names - {full_name}
    datastore.execute(node, [{"op": "put", "key": ENABLED_KEY, "value": sorted(names)}])


def install_defaults(paths: Paths, profile: Profile) -> None:
    """What a fresh snap install has on disk: the HA datastore and, 1.24+, the core repository."""
    paths.lock("ha-cluster").touch()
    if profile.since(24):
        core = paths.snap_common / "addons" / "core"
        core.mkdir(parents=True, exist_ok=True)
        (core / "addons.yaml").write_text("microk8s-addons:\n  description: Core MicroK8s addons\n")
