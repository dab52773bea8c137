# SPDX-License-Identifier: GPL-3.0-or-later
"""A node's networking, inside `daemon-kubelite` on every node: the pod network's routes (podnet), kube-proxy
(proxy), MetalLB's speaker while `metallb-system/config` exists (speaker) and the ingress controller while the
ingress addon's `ingress/nginx-load-balancer-microk8s-conf` exists (ingress).

Two loops: every `network_sync_interval` s (default 1) read the API and bring routes, kube-proxy's rules (the
suite's userspace listeners) and ingress routing in line; every 0.5 s ping the other speakers and (re)announce
LoadBalancer addresses from the last view, so a dead announcer is replaced even while the API is slow to answer
(e.g. the datastore electing a new leader).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable

from ..controllers import services as service_alloc
from ..kubeclient import KubeClient
from ..node import Node
from . import ingress, podnet, proxy, speaker
from .runner import Runner

SPEAK_INTERVAL = 0.5
INGRESS_NAMESPACE = "ingress"
INGRESS_CONFIG = "nginx-load-balancer-microk8s-conf"


def port_setting(node: Node, name: str, default: int) -> int:
    return int(node.settings.get("ports", {}).get(name, default))


class NodeNetwork:
    def __init__(self, node: Node, client: Callable[[], KubeClient], runner: Runner | None = None):
        self.node, self.client = node, client  # a new client per round: a join replaces the CA and token
        self.runner = runner or Runner()
        self.netns = podnet.uses_netns(node.settings)
        self.pods = podnet.for_node(node, self.runner)
        # kube-proxy: rules in the node's kernel on real nodes, listeners in userspace for the suite (no root)
        self.proxy = None if self.netns else proxy.Proxy()
        self.rules = proxy.KernelProxy(node.hostname) if self.netns else None
        self.speaker = speaker.Speaker(node.hostname, node.ip, self.runner)
        self.members: speaker.Members | None = None
        self.ingress: ingress.IngressController | None = None
        self.view: dict | None = None
        self.pool: list = []

    def read(self) -> dict:
        client = self.client()
        view = {
            "nodes": client.list("nodes"),
            "services": client.list("services"),
            "endpoints": client.list("endpoints"),
            "metallb": client.get("configmaps", service_alloc.METALLB_CONFIG, service_alloc.METALLB_NAMESPACE),
            "ingress": client.get("configmaps", INGRESS_CONFIG, INGRESS_NAMESPACE),
        }
        if view["ingress"]:
            view["ingresses"] = client.list("ingresses")
            wanted = set(ingress.tls_hosts(view["ingresses"]).values())
            wanted |= {(namespace, name) for namespace, name, _verify in ingress.auth_tls(view["ingresses"]).values()}
            view["secrets"] = [s for s in client.list("secrets") if (s["metadata"]["namespace"],
                               s["metadata"]["name"]) in wanted]  # fmt: skip
        return view

    def apply(self, view: dict) -> None:
        if self.netns:
            self.pods.sync_node(self.node.hostname, view["nodes"])
        if self.rules:
            self.rules.sync(view["services"], view["endpoints"])
        else:
            self.proxy.sync(proxy.listeners(view["services"], view["endpoints"], self.node.bind_address))
        if view["metallb"]:
            self.pool = service_alloc.pool_ranges(view["metallb"])
            if self.members is None:
                dead_after = self.node.setting("speaker_dead_after", speaker.DEAD_AFTER)
                port = port_setting(self.node, "memberlist", speaker.MEMBERLIST_PORT)
                self.members = speaker.Members(self.node.ip, port, dead_after)
        self.view = view  # the speaker works from this view whatever happens to the ingress below
        self.apply_ingress(view)

    def apply_ingress(self, view: dict) -> None:
        if view["ingress"] and self.ingress is None:
            controller = ingress.IngressController(self.node.paths.state / "ingress")
            # The node's own address, as the NGINX controller's hostPorts are (a wildcard bind would also collide
            # with the suite's userspace proxy listening on the kubernetes service, 10.152.183.1:443).
            controller.listen(
                self.node.ip,
                port_setting(self.node, "ingress_http", 80),
                port_setting(self.node, "ingress_https", 443),
            )
            self.ingress = controller  # only once it listens: a failed start is retried next round
        if view["ingress"]:
            self.ingress.update(view["ingresses"], view["services"], view["endpoints"], view["secrets"])
        elif self.ingress is not None:
            self.ingress.close()
            self.ingress = None

    def speak(self) -> None:
        view = self.view
        if view is None or self.members is None:
            return
        peers = {}
        for other in view["nodes"]:
            addresses = {a["type"]: a["address"] for a in other.get("status", {}).get("addresses", [])}
            if other["metadata"]["name"] != self.node.hostname and addresses.get("InternalIP"):
                peers[other["metadata"]["name"]] = addresses["InternalIP"]
        self.members.set_peers(peers)
        self.members.ping()
        alive = self.members.alive() | {self.node.hostname}
        wanted = speaker.assignments(view["services"], view["endpoints"], alive) if view["metallb"] else {}
        if self.netns:
            self.speaker.announce(wanted, lambda ip: service_alloc.in_pool(ip, self.pool))

    def start(self) -> NodeNetwork:
        interval = self.node.setting("network_sync_interval", 1)
        threading.Thread(target=forever, args=(lambda: self.apply(self.read()), interval), daemon=True).start()
        threading.Thread(target=forever, args=(self.speak, SPEAK_INTERVAL), daemon=True).start()
        return self


def forever(step, interval: float) -> None:
    """Run `step` every `interval` seconds; a failure is logged and the loop goes on (the daemon must not die)."""
    while True:
        try:
            step()
        except Exception:  # any failure of one round: the next round retries
            print(f"network: {traceback.format_exc(limit=3)}", file=sys.stderr, flush=True)
        time.sleep(interval)


RUNNING: dict[str, NodeNetwork] = {}


def sync(node: Node) -> None:
    """kubelite's hook, called every round: the first call starts this node's loops, later ones find them running."""
    if node.hostname not in RUNNING:
        RUNNING[node.hostname] = NodeNetwork(node, lambda: KubeClient.for_node(node)).start()
