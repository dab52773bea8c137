# SPDX-License-Identifier: GPL-3.0-or-later
"""A node's networking, inside `daemon-kubelite` on every node: the pod network's routes (podnet), kube-proxy
(proxy), Calico's NetworkPolicy enforcement while the node runs Calico (policy), MetalLB's speaker while
`metallb-system/config` exists (speaker) and the ingress controller while the ingress addon's
`ingress/nginx-load-balancer-microk8s-conf` exists (ingress).

Two loops. The first reads the API and brings routes, kube-proxy's rules (the suite's userspace listeners), policy
rules (policies only on Calico nodes; pods and namespaces only while some policy exists) and ingress routing in line,
then sleeps until one of the collections it follows changes (the datastore's change feed, as kube-proxy and Felix
follow watches), at least every `RESYNC_PERIOD` s (nodes: their heartbeats are not worth a round each), and
`network_sync_interval` s (default 1) after a failed round or on a worker (no local datastore to ask). The second
pings the other speakers every 0.5 s and (re)announces LoadBalancer addresses from the last view,
so a dead announcer is replaced even while the API is slow to answer (e.g. the datastore electing a new leader).
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
import traceback
from collections.abc import Callable

from .. import datastore
from ..controllers import nodeipam
from ..controllers import services as service_alloc
from ..kubeclient import KubeClient
from ..node import Node
from . import ingress, podnet, policy, proxy, speaker
from .runner import Runner

SPEAK_INTERVAL = 0.5
# What read() follows: a change of any of these wakes the loop at once (nodes only count at the resync).
# networkpolicies, pods and namespaces: the policy rules (a Calico node reads them; Felix follows them by watch)
WATCHED = ["services", "endpoints", "configmaps", "ingresses", "secrets", "networkpolicies", "pods", "namespaces"]
RESYNC_PERIOD = 10.0
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
        self.policy = policy.KernelPolicy(node.hostname) if self.netns else None
        self.nat = podnet.NatOutgoing() if self.netns else None  # Calico's natOutgoing
        self.ingress_source: str | None = None  # the address the ingress controller connects from
        self.speaker = speaker.Speaker(node.hostname, node.ip, self.runner)
        self.members: speaker.Members | None = None
        self.alive_members: set[str] = set()  # the last membership logged
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
        # Policies only where Calico enforces them; pods and namespaces only while there are policies.
        enforcing = self.policy is not None and policy.enforces(self.node)
        view["networkpolicies"] = client.list("networkpolicies") if enforcing else None
        if view["networkpolicies"]:
            view["pods"], view["namespaces"] = client.list("pods"), client.list("namespaces")
        return view

    def apply(self, view: dict) -> None:
        if self.netns:
            self.pods.sync_node(self.node.hostname, view["nodes"])
            self.nat.sync()
        if self.rules:
            self.rules.sync(view["services"], view["endpoints"])
            self.apply_ingress_source(view)
            stand_ins = policy.ingress_pods(view["nodes"]) if view["ingress"] else []
            self.policy.sync(view["networkpolicies"], view.get("pods", []) + stand_ins, view.get("namespaces", []))
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

    def apply_ingress_source(self, view: dict) -> None:
        """While the ingress addon is on: an address of this node's pod CIDR for the ingress controller to connect
        to backends from (see policy.py), so policies see it as the ingress namespace's pod. On `lo` with scope host:
        a socket bound to it reaches other nodes (and their answers come back through the tunnel), but Linux never
        picks it as the source of the node's other connections (a global address on `lo` would become the source
        of every connection from the node to its own pods, the kubelet's probes too)."""
        me = next((n for n in view["nodes"] if n["metadata"]["name"] == self.node.hostname), {})
        cidr = me.get("spec", {}).get("podCIDR")
        wanted = podnet.ingress_source(cidr) if view["ingress"] and cidr else None
        if wanted == self.ingress_source:
            return
        # Also what an earlier run left (before a restart or a join gave this node another pod CIDR).
        for line in self.runner.run("ip", "-4", "-o", "addr", "show", "dev", "lo")[1].splitlines():
            fields = line.split()
            address = fields[fields.index("inet") + 1].split("/")[0] if "inet" in fields else None
            if address and address != wanted and ipaddress.ip_address(address) in nodeipam.CLUSTER_CIDR:
                self.runner.run("ip", "addr", "del", f"{address}/32", "dev", "lo")
        if wanted:
            self.runner.run("ip", "addr", "replace", f"{wanted}/32", "dev", "lo", "scope", "host")
        self.ingress_source = wanted

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
            self.ingress.source = self.ingress_source
            config = view["ingress"]  # the controller's ConfigMap
            self.ingress.update(view["ingresses"], view["services"], view["endpoints"], view["secrets"], config)
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
        if alive != self.alive_members:
            print(f"speaker {self.node.hostname}: members alive {sorted(alive)}", file=sys.stderr, flush=True)
            self.alive_members = alive
        wanted = speaker.assignments(view["services"], view["endpoints"], alive) if view["metallb"] else {}
        if self.netns:
            self.speaker.announce(wanted, lambda ip: service_alloc.in_pool(ip, self.pool))

    def start(self) -> NodeNetwork:
        threading.Thread(target=self.follow, daemon=True).start()
        threading.Thread(target=forever, args=(self.speak, SPEAK_INTERVAL), daemon=True).start()
        return self

    def follow(self) -> None:
        """Read and apply, then sleep until a followed collection changes (or the resync, or the retry after a
        failed round; on workers, without a local datastore to ask, every `network_sync_interval`)."""
        retry = self.node.setting("network_sync_interval", 1)
        worker = datastore.is_worker(self.node)
        waker = datastore.Waker(self.node, WATCHED, local=not worker, error_pause=retry)
        while True:
            try:
                self.apply(self.read())
                ok = True
            except Exception:  # any failure of one round: the next round retries
                print(f"network: {traceback.format_exc(limit=3)}", file=sys.stderr, flush=True)
                ok = False
            waker.wait(RESYNC_PERIOD if ok and not worker else retry)


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
