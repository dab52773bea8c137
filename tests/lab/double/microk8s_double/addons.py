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

# (name, first minor, last minor, description, version) of the core addons on amd64: the built-in
# `microk8s-resources/wrappers/addon-lists.yaml` of canonical/microk8s 1.20-1.23, then `addons.yaml` of
# canonical/microk8s-core-addons per release branch 1.24-1.35 (99 = still so on the newest branch).
# fmt: off
CORE_RELEASES = [
    ('ambassador', 20, 23, 'Ambassador API Gateway and Ingress', ''),
    ('cert-manager', 25, 32, 'Cloud native certificate management', '1.8.0'),
    ('cert-manager', 33, 33, 'Cloud native certificate management', '1.17.1'),
    ('cert-manager', 34, 34, 'Cloud native certificate management', '1.18.2'),
    ('cert-manager', 35, 99, 'Cloud native certificate management', '1.19.1'),
    ('cilium', 20, 20, 'SDN, fast with full network policy', '1.6'),
    ('cilium', 21, 21, 'SDN, fast with full network policy', '1.8'),
    ('cilium', 22, 23, 'SDN, fast with full network policy', '1.10'),
    ('cis-hardening', 28, 99, 'Apply CIS K8s hardening', '1.0.0'),
    ('community', 24, 99, 'The community addons repository', ''),
    ('dashboard', 20, 21, 'The Kubernetes dashboard', '2.0.0'),
    ('dashboard', 22, 24, 'The Kubernetes dashboard', '2.3.0'),
    ('dashboard', 25, 32, 'The Kubernetes dashboard', '2.6.0'),
    ('dashboard', 33, 33, 'The Kubernetes dashboard', '7.11.1'),
    ('dashboard', 34, 34, 'The Kubernetes dashboard', '7.13.0'),
    ('dashboard', 35, 99, 'The Kubernetes dashboard', '7.14.0'),
    ('dashboard-ingress', 23, 23, 'Ingress definition for Kubernetes dashboard', '1.0.0'),
    ('dns', 20, 20, 'CoreDNS', '1.6.6'),
    ('dns', 21, 23, 'CoreDNS', '1.8.0'),
    ('dns', 24, 24, 'CoreDNS', '1.9.0'),
    ('dns', 25, 27, 'CoreDNS', '1.9.3'),
    ('dns', 28, 32, 'CoreDNS', '1.10.1'),
    ('dns', 33, 33, 'CoreDNS', '1.12.1'),
    ('dns', 34, 34, 'CoreDNS', '1.12.3'),
    ('dns', 35, 99, 'CoreDNS', '1.13.1'),
    ('fluentd', 20, 20, 'Elasticsearch-Fluentd-Kibana logging and monitoring', '3.0.2'),
    ('fluentd', 21, 23, 'Elasticsearch-Fluentd-Kibana logging and monitoring', '3.1.0'),
    ('gpu', 20, 21, 'Automatic enablement of Nvidia CUDA', '1.11'),
    ('gpu', 22, 23, 'Automatic enablement of Nvidia CUDA', '1.7.0'),
    ('gpu', 24, 26, 'Automatic enablement of Nvidia CUDA', '1.11.0'),
    ('gpu', 27, 28, 'Automatic enablement of Nvidia CUDA', '22.9.1'),
    ('gpu', 29, 32, 'Alias to nvidia add-on', '22.9.1'),
    ('gpu', 33, 33, 'Alias to nvidia add-on', '25.3.0'),
    ('gpu', 34, 34, 'Alias to nvidia add-on', '25.3.2'),
    ('gpu', 35, 99, 'Alias to nvidia add-on', '25.10.0'),
    ('ha-cluster', 20, 99, 'Configure high availability on the current node', '0.1.0'),
    ('helm', 20, 24, 'Helm 2 - the package manager for Kubernetes', '2.16.0'),
    ('helm', 25, 33, 'Helm - the package manager for Kubernetes', '3.9.1'),
    ('helm', 34, 99, 'Helm - the package manager for Kubernetes', '3.18.6'),
    ('helm3', 20, 23, 'Helm 3 - Kubernetes package manager', '3.0.2'),
    ('helm3', 24, 24, 'Helm 3 - Kubernetes package manager', '3.8.0'),
    ('helm3', 25, 33, 'Helm 3 - the package manager for Kubernetes', '3.9.1'),
    ('helm3', 34, 99, 'Helm 3 - the package manager for Kubernetes', '3.18.6'),
    ('host-access', 20, 99, 'Allow Pods connecting to Host services smoothly', '1.0.0'),
    ('hostpath-storage', 24, 24, 'Storage class; allocates storage from host directory', '1.1.0'),
    ('hostpath-storage', 25, 33, 'Storage class; allocates storage from host directory', '1.4.2'),
    ('hostpath-storage', 34, 99, 'Storage class; allocates storage from host directory', '1.5.0'),
    ('inaccel', 23, 23, 'Simplifying FPGA management in Kubernetes', ''),
    ('ingress', 20, 21, 'Ingress controller for external access', '0.25.1'),
    ('ingress', 22, 22, 'Ingress controller for external access', '1.0.0-alpha.2'),
    ('ingress', 23, 23, 'Ingress controller for external access', '1.2.0'),
    ('ingress', 24, 27, 'Ingress controller for external access', '1.5.1'),
    ('ingress', 28, 32, 'Ingress controller for external access', '1.8.0'),
    ('ingress', 33, 33, 'Ingress controller for external access', '1.12.1'),
    ('ingress', 34, 34, 'Ingress controller for external access', '1.13.1'),
    ('ingress', 35, 99, 'Ingress controller for external access', '3.6.2'),
    ('istio', 20, 21, 'Core Istio service mesh services', '1.5.1'),
    ('istio', 22, 23, 'Core Istio service mesh services', '1.10.3'),
    ('jaeger', 20, 20, 'Kubernetes Jaeger operator with its simple config', '1.14.0'),
    ('jaeger', 21, 21, 'Kubernetes Jaeger operator with its simple config', '1.21.3'),
    ('jaeger', 22, 23, 'Kubernetes Jaeger operator with its simple config', '1.24.0'),
    ('kata', 22, 23, 'Kata Containers is a secure runtime with lightweight VMS', 'latest/stable'),
    ('keda', 20, 20, 'Kubernetes-based Event Driven Autoscaling', '2.0.0'),
    ('keda', 21, 23, 'Kubernetes-based Event Driven Autoscaling', '2.1.0'),
    ('knative', 20, 20, 'The Knative framework on Kubernetes.', '0.13.0'),
    ('knative', 21, 21, 'The Knative framework on Kubernetes.', '0.21.0'),
    ('knative', 22, 23, 'The Knative framework on Kubernetes.', '0.24.0'),
    ('kube-ovn', 25, 32, 'An advanced network fabric for Kubernetes', '1.10.0-alpha1'),
    ('kube-ovn', 33, 99, 'An advanced network fabric for Kubernetes', '1.13.8'),
    ('kubeflow', 20, 23, 'Kubeflow for easy ML deployments', ''),
    ('linkerd', 20, 20, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.9.2'),
    ('linkerd', 21, 21, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.9.4'),
    ('linkerd', 22, 22, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.10.2'),
    ('linkerd', 23, 23, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.11.1'),
    ('mayastor', 24, 26, 'OpenEBS MayaStor', '1.0.1-alpha-2'),
    ('mayastor', 27, 99, 'OpenEBS MayaStor', '2.0.0-microk8s-1'),
    ('metallb', 20, 24, 'Loadbalancer for your Kubernetes cluster', '0.9.3'),
    ('metallb', 25, 32, 'Loadbalancer for your Kubernetes cluster', '0.13.3'),
    ('metallb', 33, 33, 'Loadbalancer for your Kubernetes cluster', '0.14.9'),
    ('metallb', 34, 99, 'Loadbalancer for your Kubernetes cluster', '0.15.2'),
    ('metrics-server', 20, 21, 'K8s Metrics Server for API access to service metrics', '0.3.6'),
    ('metrics-server', 22, 27, 'K8s Metrics Server for API access to service metrics', '0.5.0'),
    ('metrics-server', 28, 32, 'K8s Metrics Server for API access to service metrics', '0.6.3'),
    ('metrics-server', 33, 33, 'K8s Metrics Server for API access to service metrics', '0.7.2'),
    ('metrics-server', 34, 99, 'K8s Metrics Server for API access to service metrics', '0.8.0'),
    ('minio', 26, 32, 'MinIO object storage', '4.5.1'),
    ('minio', 33, 34, 'MinIO object storage', 'v6.0.4'),
    ('minio', 35, 99, 'MinIO object storage (DEPRECATED). This addon is deprecated and will be completely removed '
     'in the upcoming versions', 'v7.1.1'),
    ('multus', 20, 23, 'Multus CNI enables attaching multiple network interfaces to pods', '3.4.2'),
    ('nvidia', 29, 32, 'NVIDIA hardware (GPU and network) support', 'gpu=22.9.1/network=23.7.0/microk8s-1'),
    ('nvidia', 33, 33, 'NVIDIA hardware (GPU and network) support', 'gpu=25.3.0/network=25.1.0/microk8s-1'),
    ('nvidia', 34, 34, 'NVIDIA hardware (GPU and network) support', 'gpu=25.3.2/network=25.1.0/microk8s-1'),
    ('nvidia', 35, 99, 'NVIDIA hardware (GPU and network) support', 'gpu=25.10.0/network=25.7.0/microk8s-1'),
    ('observability', 25, 32, 'A lightweight observability stack for logs, traces and metrics', '0.57.0'),
    ('observability', 33, 33, 'A lightweight observability stack for logs, traces and metrics', '0.70.4'),
    ('observability', 34, 34, 'A lightweight observability stack for logs, traces and metrics', '76.4.1'),
    ('observability', 35, 99, 'A lightweight observability stack for logs, traces and metrics', '77.6.2'),
    ('openebs', 21, 23, 'OpenEBS is the open-source storage solution for Kubernetes', '2.6.0'),
    ('openfaas', 21, 22, 'openfaas serverless framework', '6.2.2'),
    ('openfaas', 23, 23, 'OpenFaaS serverless framework', '6.2.2'),
    ('portainer', 20, 23, 'Portainer UI for your Kubernetes cluster', '2.0.0'),
    ('prometheus', 20, 20, 'Prometheus operator for monitoring and logging', 'v0.6.0'),
    ('prometheus', 21, 21, 'Prometheus operator for monitoring and logging', 'v0.7.0'),
    ('prometheus', 22, 99, 'Prometheus operator for monitoring and logging', 'v0.8.0'),
    ('rbac', 20, 99, 'Role-Based Access Control for authorisation', ''),
    ('registry', 20, 24, 'Private image registry exposed on localhost:32000', '2.6'),
    ('registry', 25, 32, 'Private image registry exposed on localhost:32000', '2.8.1'),
    ('registry', 33, 99, 'Private image registry exposed on localhost:32000', '2.8.3'),
    ('rook-ceph', 28, 32, 'Distributed Ceph storage using Rook', '1.11.9'),
    ('rook-ceph', 33, 33, 'Distributed Ceph storage using Rook', '1.16.6'),
    ('rook-ceph', 34, 34, 'Distributed Ceph storage using Rook', '1.18.0'),
    ('rook-ceph', 35, 99, 'Distributed Ceph storage using Rook', '1.18.7'),
    ('storage', 20, 23, 'Storage class; allocates storage from host directory', '1.0.0'),
    ('storage', 24, 24, 'Alias to hostpath-storage add-on, deprecated', '1.1.0'),
    ('storage', 25, 33, 'Alias to hostpath-storage add-on, deprecated', '1.4.0'),
    ('storage', 34, 99, 'Alias to hostpath-storage add-on, deprecated', '1.5.0'),
    ('traefik', 20, 21, 'traefik Ingress controller for external access', '2.3.0'),
    ('traefik', 22, 23, 'traefik Ingress controller for external access', '2.5.0'),
]
# fmt: on
# The same for canonical/microk8s-community-addons' addons.yaml per release branch (1.24-1.35).
# fmt: off
COMMUNITY_RELEASES = [
    ('amd', 34, 99, 'AMD hardware support', '1.0.0'),
    ('argocd', 24, 27, 'Argo CD is a declarative continuous deployment for Kubernetes.', '2.3.3'),
    ('argocd', 28, 99, 'Argo CD is a declarative continuous deployment for Kubernetes.', '2.7.2'),
    ('cilium', 24, 26, 'SDN, fast with full network policy', '1.10'),
    ('cilium', 27, 27, 'SDN, fast with full network policy', '1.11.12'),
    ('cilium', 28, 30, 'SDN, fast with full network policy', '1.13.4'),
    ('cilium', 31, 99, 'SDN, fast with full network policy', '1.15.2'),
    ('cloudnative-pg', 29, 99, 'PostgreSQL operator CloudNativePG', '0.0.1'),
    ('dashboard-ingress', 24, 99, 'Ingress definition for Kubernetes dashboard', '1.0.0'),
    ('easyhaproxy', 27, 99, 'EasyHAProxy can configure HAProxy automatically based on ingress labels', '0.1.5'),
    ('falco', 29, 30, 'Cloud-native runtime threat detection tool for Linux and K8s', '3.7.1'),
    ('falco', 31, 99, 'Cloud-native runtime threat detection tool for Linux and K8s', '4.5.1'),
    ('fluentd', 24, 99, 'Elasticsearch-Fluentd-Kibana logging and monitoring', '3.1.0'),
    ('forgejo', 35, 99, 'Open source git platform. https://forgejo.org/', '1.0.0'),
    ('gopaddle', 28, 30, 'DevSecOps and Multi-Cloud Kubernetes Platform', '4.2.9'),
    ('gopaddle', 31, 99, 'Low-Code Kubernetes IDE with AI Co-pilot', '5.0'),
    ('gopaddle-lite', 26, 27, 'Cheapest, fastest and simplest way to modernize your applications', '4.2.5'),
    ('inaccel', 24, 99, 'Simplifying FPGA management in Kubernetes', ''),
    ('istio', 24, 24, 'Core Istio service mesh services', '1.10.3'),
    ('istio', 25, 25, 'Core Istio service mesh services', '1.14.4'),
    ('istio', 26, 27, 'Core Istio service mesh services', '1.15.3'),
    ('istio', 28, 99, 'Core Istio service mesh services', '1.18.2'),
    ('jaeger', 24, 24, 'Kubernetes Jaeger operator with its simple config', '1.24.0'),
    ('jaeger', 25, 99, 'Kubernetes Jaeger operator with its simple config', '1.36.0'),
    ('kata', 24, 99, 'Kata Containers is a secure runtime with lightweight VMS', 'latest/stable'),
    ('keda', 24, 27, 'Kubernetes-based Event Driven Autoscaling', '2.6.1'),
    ('keda', 28, 28, 'Kubernetes-based Event Driven Autoscaling', '2.11.1'),
    ('keda', 29, 99, 'Kubernetes-based Event Driven Autoscaling', '2.12.0'),
    ('knative', 24, 24, 'The Knative framework on Kubernetes.', '0.24.0'),
    ('knative', 25, 99, 'Knative Serverless and Event Driven Applications', '1.6.0'),
    ('kubearmor', 28, 99, 'Cloud-native runtime security enforcement system for k8s', '0.10.2'),
    ('kwasm', 26, 99, 'WebAssembly support for WasmEdge (Docker Wasm) and Spin (Azure AKS WASI)', '0.2.0'),
    ('linkerd', 24, 24, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.11.1'),
    ('linkerd', 25, 27, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.11.3'),
    ('linkerd', 28, 28, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.13.5'),
    ('linkerd', 29, 99, 'Linkerd is a service mesh for Kubernetes and other frameworks', '2.14.3'),
    ('microcks', 28, 99, 'Open source Kubernetes Native tool for API Mocking and Testing', '1.7.1'),
    ('multus', 24, 24, 'Multus CNI enables attaching multiple network interfaces to pods', '3.4.2'),
    ('multus', 25, 99, 'Multus CNI enables attaching multiple network interfaces to pods', '3.9'),
    ('nfs', 25, 99, 'NFS Server Provisioner', '1.4.0'),
    ('ngrok', 29, 31, "ngrok's Kubernetes-native operator — bring API gateway power to your "
     'cluster with automated connectivity, auth, and observability', '0.19.0'),
    ('ngrok', 32, 34, 'ngrok Ingress Controller instantly adds connectivity, load balancing, '
     'authentication, and observability to your services', '0.0.1'),
    ('ngrok', 35, 99, "ngrok's Kubernetes-native operator — bring API gateway power to your "
     'cluster with automated connectivity, auth, and observability', '0.19.0'),
    ('ondat', 26, 28, 'Ondat is a software-defined, cloud native storage platform for Kubernetes.', 'latest'),
    ('openebs', 24, 99, 'OpenEBS is the open-source storage solution for Kubernetes', '2.6.0'),
    ('openfaas', 24, 99, 'OpenFaaS serverless framework', '6.2.2'),
    ('osm-edge', 25, 99, 'osm-edge is a lightweight SMI compatible service mesh for the edge-computing.', '1.1.0'),
    ('parking', 27, 99, 'Static webserver to park a domain. Works with EasyHAProxy.', '0.1.0'),
    ('portainer', 24, 99, 'Portainer UI for your Kubernetes cluster', '2.0.0'),
    ('shifu', 27, 99, 'Kubernetes native IoT software development framework.', '0.11.0'),
    ('sosivio', 26, 27, 'Kubernetes Predictive Troubleshooting, Observability, and Resource Optimization', '1.0.0'),
    ('sosivio', 28, 99, 'Kubernetes Predictive Troubleshooting, Observability, and Resource Optimization', '1.7.1'),
    ('sriov-device-plugin', 31, 99, 'SR-IOV Network Device Plugin.', '3.7.0'),
    ('starboard', 24, 25, 'Kubernetes-native security toolkit', '0.14.1'),
    ('stunner', 30, 99, 'A Kubernetes media gateway for WebRTC', '0.0.1'),
    ('traefik', 24, 24, 'traefik Ingress controller', '2.9.4'),
    ('traefik', 25, 34, 'traefik Ingress controller', '2.9.6'),
    ('traefik', 35, 99, 'Traefik Ingress controller (DEPRECATED). Replaced by ingress core addon.', '2.9.6'),
    ('trivy', 26, 26, 'Kubernetes-native security scanner', '0.2.0'),
    ('trivy', 27, 99, 'Kubernetes-native security scanner', '0.15.1'),
]
# fmt: on
# Enabled on a fresh install: the HA datastore always, helm (its binary ships in the snap) 1.24+, dns 1.27+.
DEFAULT_ENABLED = {"helm": 24, "helm3": 24, "dns": 27}
ENABLED_KEY = "/registry/microk8s-double/enabled-addons"


@dataclass(frozen=True)
class Addon:
    name: str
    repository: str
    description: str
    version: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.repository}/{self.name}"


def repositories(paths: Paths, profile: Profile) -> list[str]:
    """Enabled repositories: checkouts under $SNAP_COMMON/addons (1.24+); one built-in set before."""
    if not profile.since(24):
        return ["core"]
    root = paths.snap_common / "addons"
    return sorted(p.parent.name for p in root.glob("*/addons.yaml"))


def releases(table: list[tuple], minor: int) -> dict[str, tuple[str, str]]:
    """name -> (description, version) of one repository's addons in one version."""
    return {name: (text, version) for name, first, last, text, version in table if first <= minor <= last}


def core(minor: int) -> dict[str, tuple[str, str]]:
    return releases(CORE_RELEASES, minor)


def community(minor: int) -> dict[str, tuple[str, str]]:
    return releases(COMMUNITY_RELEASES, minor)


def catalog(paths: Paths, profile: Profile) -> list[Addon]:
    known = {"core": core(profile.minor), "community": community(profile.minor)}
    return [
        Addon(name, repo, description, version)
        for repo in repositories(paths, profile)
        for name, (description, version) in sorted(known.get(repo, {}).items())
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
