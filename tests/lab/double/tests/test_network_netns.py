# SPDX-License-Identifier: GPL-3.0-or-later
"""Service routing and MetalLB layer-2 failover for real, in network namespaces on one bridge: three nodes run
their real network loop (netns_node.py: kube-proxy's nf_tables rules, the VXLAN pod network, the speaker) over an
API view in a file, with pods in their own netns; a client namespace connects from outside. Needs root, `ip` and
`bridge` (iproute2), `nsenter` and a kernel with nf_tables and vxlan; skipped otherwise, or with
MICROK8S_DOUBLE_NETNS=0.

A node's power cut is played as its processes killed and its link down: what is left on the wire answers nothing."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cluster_fixtures import wait_for

HERE = Path(__file__).resolve().parent
NODES = {"n1": "10.99.0.11", "n2": "10.99.0.12", "n3": "10.99.0.13"}
CLIENT = "10.99.0.200"
LB_IP, CLUSTER_IP, EMPTY_IP, NODE_PORT = "10.99.0.240", "10.152.183.185", "10.152.183.186", 31305
pytestmark = pytest.mark.skipif(
    os.environ.get("MICROK8S_DOUBLE_NETNS") == "0"
    or os.geteuid() != 0
    or not all(shutil.which(tool) for tool in ("ip", "bridge", "nsenter")),
    reason="needs root, iproute2 and nsenter (changes the host's network namespaces); MICROK8S_DOUBLE_NETNS=0 skips",
)


def sh(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20)
    assert done.returncode == 0, f"{' '.join(argv)}: rc {done.returncode}, stderr {done.stderr.strip()!r}"
    return done.stdout


def service(name: str, cluster_ip: str, external: str | None) -> dict:
    port = {"port": 8081, "targetPort": APP_PORT, "protocol": "TCP"}
    spec = {"type": "ClusterIP", "clusterIP": cluster_ip, "ports": [port]}
    if external:
        spec["type"], port["nodePort"] = "LoadBalancer", NODE_PORT
    status = {"loadBalancer": {"ingress": [{"ip": external}]}} if external else {}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec, "status": status}


APP_PORT = 8080
PEER_PORT = 8090


def view(endpoints: dict[str, str], pods: list | None = None, pod_cidrs: bool = False) -> dict:
    """Services `hello` (LoadBalancer, endpoints: ip -> node name) and `empty` (no endpoints); nodes n1..n3."""
    addresses = [{"ip": ip, "nodeName": name} for ip, name in endpoints.items()]
    nodes = [
        {
            "metadata": {"name": name},
            "spec": {"podCIDR": f"10.1.{k}.0/24"} if pod_cidrs else {},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }
        for k, (name, ip) in enumerate(NODES.items())
    ]
    hello = {
        "metadata": {"name": "hello", "namespace": "default"},
        "subsets": [{"addresses": addresses, "ports": [{"port": APP_PORT, "protocol": "TCP"}]}],
    }
    return {
        "nodes": nodes,
        "services": [service("hello", CLUSTER_IP, LB_IP), service("empty", EMPTY_IP, None)],
        "endpoints": [hello],
        "pods": pods or [],
    }


class Lab:
    """Namespaces on a bridge: n1..n3 (10.99.0.11-13) and a client (10.99.0.200); default routes via 10.99.0.1."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.tag = f"{random.randint(0, 0xFFFF):04x}"
        self.namespaces = {name: f"w3{name}{self.tag}" for name in [*NODES, "client"]}
        self.created: list[str] = []
        self.processes: dict[str, subprocess.Popen] = {}
        self.view_file = tmp_path / "view.json"

    def pod_uid(self, node: str) -> str:
        return f"{self.tag}{node[1]}000-0000-0000-0000-000000000000"

    def write(self, content: dict) -> None:
        temporary = self.view_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(content))
        temporary.replace(self.view_file)

    def start(self, content: dict) -> Lab:
        self.write(content)
        switch = f"w3sw{self.tag}"
        for namespace in [switch, *self.namespaces.values()]:
            sh("ip", "netns", "add", namespace)
            self.created.append(namespace)
        sh("ip", "netns", "exec", switch, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", switch, "ip", "link", "set", "br0", "up")
        hosts = {**NODES, "client": CLIENT}
        for port, (name, ip) in enumerate(hosts.items()):
            namespace = self.namespaces[name]
            sh("ip", "link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", f"p{port}", "netns",
               switch)  # fmt: skip
            sh("ip", "netns", "exec", switch, "ip", "link", "set", f"p{port}", "master", "br0", "up")
            for command in (
                ["addr", "add", f"{ip}/24", "dev", "eth0"],
                ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"],
                ["route", "add", "default", "via", "10.99.0.1"],
            ):
                sh("ip", "netns", "exec", namespace, "ip", *command)
        for name in NODES:
            self.start_node(name)
        return self

    def start_node(self, name: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(HERE.parent), HOST_MNT=f"/proc/{os.getpid()}/ns/mnt")
        log = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
        argv = [
            sys.executable,
            str(HERE / "netns_node.py"),
            "node",
            name,
            str(self.tmp / name),
            str(self.view_file),
        ]
        self.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.namespaces[name], *argv],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its pods' apps in the same group: killed together
        )

    def stop_node(self, name: str) -> None:
        """Its processes killed (kubelite stopped: its network loop and speaker with it); link and addresses stay."""
        os.killpg(self.processes.pop(name).pid, signal.SIGKILL)

    def power_off(self, name: str) -> None:
        self.stop_node(name)
        sh("ip", "netns", "exec", self.namespaces[name], "ip", "link", "set", "eth0", "down")

    def mac(self, name: str) -> str:
        return sh("ip", "netns", "exec", self.namespaces[name], "cat", "/sys/class/net/eth0/address").strip()

    def client_sends_to(self, ip: str) -> str | None:
        """The node whose MAC the client's neighbour entry for `ip` names (None: no entry, or no node's)."""
        line = sh("ip", "netns", "exec", self.namespaces["client"], "ip", "neigh", "show", ip)
        fields = line.split()
        mac = fields[fields.index("lladdr") + 1] if "lladdr" in fields else None
        return next((name for name in NODES if mac and self.mac(name) == mac), None)

    def probe(self, where: str, host: str, port: int, count: int, timeout: float, mode: str = "serial") -> list:
        """[outcome, seconds] per new connection from namespace `where` (a node, the client, pod-<node> or
        uid:<a pod's uid>)."""
        if where.startswith("uid:"):
            namespace = f"pod-{where[4:12]}"
        else:
            namespace = f"pod-{self.pod_uid(where[4:])[:8]}" if where.startswith("pod-") else self.namespaces[where]
        return run_in_namespace(namespace, ["probe", host, str(port), str(count), str(timeout), mode], count * timeout)

    def answers(self, where: str, host: str, port: int) -> str | None:
        outcome = self.probe(where, host, port, 1, 1)[0][0]
        return outcome if outcome not in ("timeout", "refused", "reset", "closed") else None

    def holder(self, among=tuple(NODES)) -> str | None:
        held = [
            name
            for name in among
            if f"{LB_IP}/32" in sh("ip", "netns", "exec", self.namespaces[name], "ip", "-o", "addr")
        ]
        return held[0] if len(held) == 1 else None

    def close(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for pod in json.loads(self.view_file.read_text()).get("pods", []):
            uid = pod["metadata"]["uid"]
            subprocess.run(["ip", "netns", "del", f"pod-{uid[:8]}"], check=False, capture_output=True)
        for namespace in self.created:
            subprocess.run(["ip", "netns", "del", namespace], check=False)


@contextlib.contextmanager
def lab(tmp_path: Path, content):
    running = Lab(tmp_path)
    try:
        yield running.start(content(running))
    finally:
        running.close()


def api_pod(uid: str, name: str, node: str, ip: str, namespace: str = "default", labels=None, ports=()) -> dict:
    """A pod as the API lists it, bound to `node` with address `ip` (what podnet gives it)."""
    container = {"name": "app", "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]}
    meta = {"name": name, "namespace": namespace, "uid": uid, "labels": labels or {}}
    return {"metadata": meta, "spec": {"nodeName": node, "containers": [container]},
            "status": {"phase": "Running", "podIP": ip}}  # fmt: skip


def pod_view(lab_: Lab, alive=tuple(NODES)) -> dict:
    """One pod per node (netns pod-<uid8>, 10.1.k.1, answering "pod-<node>"), the ones on `alive` nodes ready."""
    pods = [api_pod(lab_.pod_uid(name), f"pod-{name}", name, f"10.1.{k}.1") for k, name in enumerate(NODES)]
    endpoints = {f"10.1.{k}.1": name for k, name in enumerate(NODES) if name in alive}
    return view(endpoints, pods, pod_cidrs=True)


@pytest.fixture(scope="module")
def pods_lab(tmp_path_factory):
    with lab(tmp_path_factory.mktemp("netns"), pod_view) as running:
        wait_for(lambda: running.answers("client", NODES["n1"], NODE_PORT), timeout=20, what="the NodePort answering")
        for k, name in enumerate(NODES):  # every pod reachable across the VXLAN network
            wait_for(lambda k=k: running.answers("n1", f"10.1.{k}.1", APP_PORT), timeout=10, what=f"pod on {name}")
        yield running


def test_each_new_connection_goes_to_one_endpoint_chosen_at_random(pods_lab):
    """Uniform over the endpoints, and random: round robin would never send two connections in a row to one pod."""
    results = pods_lab.probe("client", NODES["n1"], NODE_PORT, 150, 2)
    outcomes = [outcome for outcome, _seconds in results]
    counts = collections.Counter(outcomes)
    assert set(counts) == {"pod-n1", "pod-n2", "pod-n3"}, counts  # from outside, across nodes (SNAT) and locally
    assert min(counts.values()) >= 25, counts  # 50 each expected; 25 is more than 4 standard deviations off
    repeats = sum(a == b for a, b in zip(outcomes, outcomes[1:]))
    print(f"150 new connections: {dict(counts)}, {repeats} times the same pod twice in a row")
    assert repeats >= 20, f"{repeats} repeats in a row of 149 (random: ~50; round robin: 0)"


def test_cluster_ips_serve_the_nodes_and_pods_hairpin_and_a_service_without_endpoints_is_refused(pods_lab):
    from_node = collections.Counter(o for o, _s in pods_lab.probe("n2", CLUSTER_IP, 8081, 30, 2))
    assert set(from_node) <= {"pod-n1", "pod-n2", "pod-n3"} and len(from_node) >= 2, from_node
    from_pod = collections.Counter(o for o, _s in pods_lab.probe("pod-n1", CLUSTER_IP, 8081, 30, 2))
    assert set(from_pod) <= {"pod-n1", "pod-n2", "pod-n3"} and "pod-n1" in from_pod, from_pod  # itself: hairpin
    from_lb = collections.Counter(o for o, _s in pods_lab.probe("client", LB_IP, 8081, 30, 2))
    assert set(from_lb) <= {"pod-n1", "pod-n2", "pod-n3"} and len(from_lb) >= 2, from_lb
    (empty,) = pods_lab.probe("n1", EMPTY_IP, 8081, 1, 2)
    assert empty[0] == "refused" and empty[1] < 1, empty


def test_pods_reach_lan_hosts_and_other_nodes_from_their_nodes_address(pods_lab):
    """Calico's default IPPool has natOutgoing (MicroK8s' cni.yaml; flannel runs with --ip-masq): a pod's connection
    to an address outside the pod network leaves with its node's address, so a LAN host without a route to the pod
    network answers it, and another node sees the pod's node, not the pod."""
    peers = []
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    for where, address in (("client", CLIENT), ("n2", NODES["n2"])):
        argv = [sys.executable, str(HERE / "netns_node.py"), "peer", address, str(PEER_PORT)]
        peers.append(subprocess.Popen(["ip", "netns", "exec", pods_lab.namespaces[where], *argv], env=env))
    try:
        for address in (CLIENT, NODES["n2"]):
            seen = wait_for(lambda a=address: pods_lab.answers("pod-n1", a, PEER_PORT), timeout=10,
                            what=f"an answer from {address} to the pod on n1")  # fmt: skip
            assert seen == NODES["n1"], f"{address} saw the pod's connection come from {seen}"
        # between pods nothing is translated: the pod on n2 sees the pod on n1's own address
        assert pods_lab.answers("pod-n1", "10.1.1.1", APP_PORT) == "pod-n2"
        assert pods_lab.answers("n2", CLIENT, PEER_PORT) == NODES["n2"]  # the node's own traffic as before
    finally:
        for process in peers:
            process.kill()
            process.wait()


def test_a_dead_nodes_pod_takes_its_share_of_new_connections_which_hang_until_endpoints_drop_it(pods_lab):
    pods_lab.power_off("n3")
    # As if n1's ARP entries had aged out: a route via n3's address would now give "no route to host" after 3 s.
    sh("ip", "netns", "exec", pods_lab.namespaces["n1"], "ip", "neigh", "flush", "dev", "eth0")
    with ThreadPoolExecutor(1) as background:
        direct = background.submit(pods_lab.probe, "n1", "10.1.2.1", APP_PORT, 1, 5)  # straight to the dead pod
        results = pods_lab.probe("client", NODES["n1"], NODE_PORT, 60, 2, "parallel")
        assert direct.result()[0][0] == "timeout", direct.result()  # its SYNs lost: no EHOSTUNREACH
    counts = collections.Counter(outcome for outcome, _seconds in results)
    print(f"n3 powered off, 60 new connections: {dict(counts)}")
    assert set(counts) <= {"pod-n1", "pod-n2", "timeout"} and 8 <= counts["timeout"] <= 35, counts  # ~20 expected
    assert all(seconds >= 1.9 for outcome, seconds in results if outcome == "timeout"), results  # hung, not refused
    pods_lab.write(pod_view(pods_lab, alive=("n1", "n2")))  # the endpoints controller drops the NotReady node's pod
    wait_for(  # the nodes' loops read the view every second; on a loaded machine a round can take longer
        lambda: "10.1.2.1" not in sh("ip", "netns", "exec", pods_lab.namespaces["n1"], "nft", "list", "ruleset"),
        timeout=20,
        what="n1's proxy rules to drop n3's pod",
    )
    # New source ports: a SYN reusing the 4-tuple of a connection that hung above matches n1's SYN_SENT conntrack
    # entry (120 s) and keeps its old DNAT to the dead pod, in real kube-proxy's iptables mode too (it clears conntrack
    # for UDP only). With kernel-chosen ports that hit about 1 run in 20.
    client = pods_lab.namespaces["client"]
    sh("ip", "netns", "exec", client, "sh", "-c", "echo 20000 20999 > /proc/sys/net/ipv4/ip_local_port_range")
    after = collections.Counter(o for o, _s in pods_lab.probe("client", NODES["n1"], NODE_PORT, 60, 2, "parallel"))
    print(f"n3's pod out of the Endpoints, 60 new connections: {dict(after)}")
    assert set(after) == {"pod-n1", "pod-n2"}, after


def test_the_load_balancer_address_moves_to_a_live_node_within_seconds(tmp_path):
    """Host-network endpoints (the nodes' own apps); the announcing node is cut off."""
    with lab(tmp_path, lambda _lab: view({ip: name for name, ip in NODES.items()})) as running:
        first = wait_for(running.holder, timeout=20, what="one announcer")
        assert wait_for(lambda: running.answers("client", LB_IP, 8081), what="an answer") in NODES
        cut = time.monotonic()
        running.power_off(first)
        # its app stays in the (fixed) Endpoints: a third of new connections hang, the next one tries again
        assert wait_for(lambda: running.answers("client", LB_IP, 8081), timeout=10, what="an answer after the cut")
        assert time.monotonic() - cut < 10
        assert running.holder([n for n in NODES if n != first]) is not None


def test_a_speaker_restarted_with_its_address_still_held_announces_it_again(tmp_path):
    """kubelite restarted on the announcer (the double's speaker stops with it; the address stays on its interface):
    the next node takes the address and turns the client's ARP entry to itself; when the first comes back and takes
    the address again, its gratuitous ARPs turn the client back (MetalLB's speaker announces every address it takes),
    so a later power cut of the other node costs the client nothing. Without them the client kept sending to the
    other node, whose kube-proxy rules forwarded the traffic unnoticed until that node died: then every new
    connection hung until the client's neighbour entry expired (reachable_time + delay + probes: 20-50 s)."""
    first, second, third = sorted(NODES, key=lambda name: hashlib.sha256(f"{name}#{LB_IP}".encode()).digest())
    with lab(tmp_path, lambda _lab: view({NODES[third]: third})) as running:  # the app on the third node only
        assert wait_for(running.holder, timeout=20, what="one announcer") == first
        assert wait_for(lambda: running.answers("client", LB_IP, 8081), what="an answer") == third
        assert running.client_sends_to(LB_IP) == first
        running.stop_node(first)
        others = [second, third]
        assert wait_for(lambda: running.holder(others), timeout=10, what="the next announcer") == second
        wait_for(lambda: running.answers("client", LB_IP, 8081), timeout=10, what="an answer through the next one")
        assert running.client_sends_to(LB_IP) == second
        running.start_node(first)
        wait_for(lambda: running.holder(others) is None, timeout=20, what=f"{second} giving the address back")
        assert running.holder() == first
        wait_for(lambda: running.client_sends_to(LB_IP) == first, timeout=5, what=f"the client sending to {first}")
        running.power_off(second)
        outcomes = running.probe("client", LB_IP, 8081, 6, 1)
        assert [o for o, _seconds in outcomes if o in ("timeout", "refused", "reset", "closed")] == []


DNS_LB_IP, DNS_CLUSTER_IP, DNS_TCP_CLUSTER_IP = "10.99.0.241", "10.152.183.187", "10.152.183.188"


def udp_view(lab_: Lab, split: bool = False) -> dict:
    """pod_view plus a DNS-like Service: UDP and TCP port 53 on a LoadBalancer address, to the pods' APP_PORT (the
    pods answer datagrams there with their name). `split`: as before Kubernetes 1.24, two Services (UDP, TCP) that
    MetalLB gave the same address (allow-shared-ip), each with its own cluster IP."""
    content = pod_view(lab_)
    ports = [{"name": "dns", "port": 53, "targetPort": APP_PORT, "protocol": "UDP", "nodePort": 31053},
             {"name": "dns-tcp", "port": 53, "targetPort": APP_PORT, "protocol": "TCP", "nodePort": 31054}]  # fmt: skip
    groups = [("names-udp", ports[:1], DNS_CLUSTER_IP), ("names-tcp", ports[1:], DNS_TCP_CLUSTER_IP)] if split else [
        ("names", ports, DNS_CLUSTER_IP)]  # fmt: skip
    addresses = [{"ip": f"10.1.{k}.1", "nodeName": name} for k, name in enumerate(NODES)]
    for name, own_ports, cluster_ip in groups:
        annotations = {"metallb.universe.tf/allow-shared-ip": "names"} if split else {}
        content["services"].append(
            {
                "metadata": {"name": name, "namespace": "default", "annotations": annotations},
                "spec": {"type": "LoadBalancer", "clusterIP": cluster_ip, "ports": own_ports},
                "status": {"loadBalancer": {"ingress": [{"ip": DNS_LB_IP}]}},
            }
        )
        endpoint_ports = [{"name": p["name"], "port": APP_PORT, "protocol": p["protocol"]} for p in own_ports]
        content["endpoints"].append(
            {
                "metadata": {"name": name, "namespace": "default"},
                "subsets": [{"addresses": addresses, "ports": endpoint_ports}],
            }
        )
    return content


def run_in_namespace(namespace: str, arguments: list[str], seconds: float):
    """netns_node.py ARGUMENTS inside a network namespace: its JSON answer (within SECONDS, plus start-up)."""
    argv = [sys.executable, str(HERE / "netns_node.py"), *arguments]
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    return json.loads(done.stdout)


def udp_probe(lab_: Lab, where: str, host: str, port: int, count: int, timeout: float) -> list:
    return run_in_namespace(lab_.namespaces[where], ["udp-probe", host, str(port), str(count), str(timeout)],
                            count * timeout)  # fmt: skip


@pytest.mark.parametrize("split", [False, True], ids=["one-mixed-service", "two-services-one-address"])
def test_udp_datagrams_to_a_load_balancer_address_reach_the_pods_and_are_answered_from_that_address(tmp_path, split):
    """kube-proxy DNATs UDP as TCP: a query to the LoadBalancer address (a DNS server's) from outside the cluster
    reaches a ready pod, and the answer comes back from the address the client asked (conntrack undoes the DNAT).
    The same when UDP and TCP are two Services sharing the address (before 1.24): one announcer, both protocols."""
    with lab(tmp_path, lambda lab_: udp_view(lab_, split)) as running:
        wait_for(lambda: running.answers("client", NODES["n1"], NODE_PORT), timeout=20, what="the NodePort answering")
        wait_for(lambda: running.answers("client", DNS_LB_IP, 53), timeout=20, what="TCP 53 on the DNS address")
        results = udp_probe(running, "client", DNS_LB_IP, 53, 30, 2)
        counts = collections.Counter(outcome for outcome, _seconds in results)
        print(f"30 UDP queries to {DNS_LB_IP}:53 from outside: {dict(counts)}")
        assert set(counts) <= {"pod-n1", "pod-n2", "pod-n3"} and len(counts) >= 2, counts
        in_cluster = collections.Counter(o for o, _s in udp_probe(running, "n2", DNS_CLUSTER_IP, 53, 10, 2))
        assert set(in_cluster) <= {"pod-n1", "pod-n2", "pod-n3"}, in_cluster
