# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet of `daemon-kubelite` on every node: `sync(node)` runs one round of the pod sync (pods.py) with the
node's containerd (runtime.py) and pod network (network/podnet.py: a netns per pod, or the node's own address
with the double setting `pod_network: host`)."""

from __future__ import annotations

from ..kubeclient import KubeClient
from ..network import podnet
from ..node import Node
from .csi import Csi
from .pods import Kubelet
from .runtime import Host, Runtime

KUBELETS: dict[str, Kubelet] = {}


class HostNetwork:
    """Pods share the node's address and network namespace (the contract suite's nodes on loopback)."""

    def __init__(self, ip: str):
        self.ip = ip

    def attach(self, uid: str, pod_cidr: str) -> str:
        return self.ip

    def detach(self, uid: str) -> None:
        return None

    def netns(self, uid: str) -> str | None:
        return None


class NetnsNetwork:
    """A netns `pod-<uid8>` with its own address from the node's pod CIDR per pod. Set up (or checked, which costs an
    `ip netns exec`) once per pod and pod CIDR while this kubelet runs, not on every round, as a CNI ADD is run once
    per sandbox."""

    def __init__(self, node: Node, host: Host):
        self.pods = podnet.for_node(node, host)
        self.attached: dict[str, tuple[str, str]] = {}  # pod uid -> (pod CIDR, IP)

    def attach(self, uid: str, pod_cidr: str) -> str:
        known = self.attached.get(uid)
        if known and known[0] == pod_cidr:
            return known[1]
        ip = self.pods.attach(uid, pod_cidr)
        self.attached[uid] = (pod_cidr, ip)
        return ip

    def detach(self, uid: str) -> None:
        self.attached.pop(uid, None)
        self.pods.detach(uid)

    def netns(self, uid: str) -> str | None:
        return podnet.netns(uid)


def for_node(node: Node) -> Kubelet:
    host = Host()
    network = NetnsNetwork(node, host) if podnet.uses_netns(node.settings) else HostNetwork(node.ip)
    runtime = Runtime(host, node.paths.snap_common / "run" / "double-pods", node.paths.containerd_socket)
    client = KubeClient.for_node(node)
    kubelet = Kubelet(client, runtime, network, node.hostname, node.ip)
    kubelet.csi = Csi(client, node.hostname, node.paths.snap_common / "var" / "lib" / "kubelet", node.port("io_engine"))
    return kubelet


def sync(node: Node, refresh: bool = True) -> None:
    """One round of this node's kubelet; `refresh`: read its pods from the API again (see Kubelet.sync)."""
    kubelet = KUBELETS.get(node.hostname)
    if kubelet is None:
        kubelet = KUBELETS[node.hostname] = for_node(node)
    elif refresh:
        kubelet.client = KubeClient.for_node(node)  # a join replaces the CA and token
        if kubelet.csi is not None:
            kubelet.csi.client = kubelet.client
    kubelet.sync(refresh)


def busy(node: Node) -> bool:
    """Pods are bound to this node or still have containers here: the kubelet then looks every second."""
    kubelet = KUBELETS.get(node.hostname)
    return kubelet is None or kubelet.pod_count > 0 or bool(kubelet.runtime.pod_uids())
