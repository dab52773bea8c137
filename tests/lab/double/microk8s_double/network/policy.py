# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkPolicy (networking.k8s.io/v1) as Calico's Felix enforces it on a MicroK8s node, in the node's kernel.

Only while the node runs Calico: MicroK8s with `ha-cluster` enabled (`$SNAP_DATA/var/lock/ha-cluster`); a node with
`ha-cluster` disabled runs flannel, which ignores policies (the API still stores them). `enforces(node)`.

Felix polices traffic on the workload interfaces (`cali*`) of the node that hosts the pod: a pod selected by a
policy of type Ingress accepts a new connection only when one rule of one such policy allows it (peers: podSelector
in the policy's namespace, namespaceSelector, both = pods matching both, ipBlock cidr minus except; ports: protocol,
number, endPort range, named ports of the pod), else the packet is dropped (Calico's default: the client's SYNs go
unanswered). `ingress: []` or no rules denies everything; an empty `from` or `ports` allows any peer or port; pods
no policy selects accept everything. The same for Egress on the sending pod's node (traffic out of its `cali*`
interface, to other pods, the node itself or beyond; named egress ports are resolved on the destination pods).
Established connections and their replies pass (conntrack), so a new or changed policy affects new connections
only, as with Felix. Traffic from the node itself to its own pods is never policed (Felix: "We don't currently
police host -> endpoint"); traffic from other nodes is, with their addresses as source. Policies see traffic after
kube-proxy's DNAT (the pod, not the service) and before its masquerade (the client pod's own address).

Written as one nf_tables table `ip calico-filter`, replaced whenever the wanted rules change (a few seconds after
a pod, namespace or policy change at most: the node's network loop reads them every `network_sync_interval`).
`ruleset()` is pure: policies, pods and namespaces in, a table out.

The double's ingress controller runs in each node's own network namespace, not as a pod; it stands in for the
`ingress/nginx-ingress-microk8s-controller` pods (label `name: nginx-ingress-microk8s`) by connecting to
backends from an address of the node's pod CIDR (`podnet.ingress_source`), which policies see as such a pod."""

from __future__ import annotations

import ipaddress
import sys

from ..api import selectors
from . import nftables as nft
from . import podnet

TABLE = "calico-filter"
WORKLOADS = "cali"  # Felix's workload interface prefix
PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132}
INGRESS_POD_LABELS = {"name": "nginx-ingress-microk8s"}
INGRESS_NAMESPACE = "ingress"
STAND_IN = "microk8s-double/stand-in"  # annotation of the ingress controller's stand-in pods (never in the API)
ESTABLISHED_RELATED = 0x2 | 0x4  # NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED)
DIRECTIONS = {"Ingress": ("ingress", "from", "saddr"), "Egress": ("egress", "to", "daddr")}


def enforces(node) -> bool:
    """Calico (ha-cluster enabled) enforces policies; flannel does not."""
    return node.paths.lock("ha-cluster").exists()


def ingress_pods(nodes: list[dict]) -> list[dict]:
    """The ingress controller's stand-in pods, one per node with a pod CIDR (while the ingress addon is enabled)."""
    found = []
    for node in nodes:
        cidr, name = node.get("spec", {}).get("podCIDR"), node["metadata"]["name"]
        if cidr:
            meta = {"name": f"nginx-ingress-microk8s-controller-{name}", "namespace": INGRESS_NAMESPACE,
                    "labels": dict(INGRESS_POD_LABELS), "annotations": {STAND_IN: "true"}}  # fmt: skip
            found.append(
                {"metadata": meta, "spec": {"nodeName": name}, "status": {"podIP": podnet.ingress_source(cidr)}}
            )
    return found


def endpoints(pods: list[dict]) -> list[dict]:
    """Pods that are workload endpoints: an address of their own, not host network, not finished."""
    return [
        p
        for p in pods
        if (p.get("status") or {}).get("podIP")
        and not (p.get("spec") or {}).get("hostNetwork")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def policy_types(policy: dict) -> list[str]:
    spec = policy.get("spec") or {}
    return spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def selects(policy: dict, pod: dict) -> bool:
    return pod["metadata"].get("namespace") == policy["metadata"].get("namespace") and selectors.matches(
        (policy.get("spec") or {}).get("podSelector"), pod["metadata"].get("labels")
    )


def peer_pods(peer: dict, namespace: str, pods: list[dict], namespace_labels: dict[str, dict]) -> list[dict]:
    """The pods a podSelector and/or namespaceSelector peer names (without namespaceSelector: the policy's own)."""
    chosen = []
    for pod in pods:
        pod_namespace = pod["metadata"].get("namespace")
        if "namespaceSelector" in peer and peer["namespaceSelector"] is not None:
            if not selectors.matches(peer["namespaceSelector"], namespace_labels.get(pod_namespace, {})):
                continue
        elif pod_namespace != namespace:
            continue
        if peer.get("podSelector") is None or selectors.matches(peer["podSelector"], pod["metadata"].get("labels")):
            chosen.append(pod)
    return chosen


def in_block(ip: str, block: dict) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"], strict=False):
        return False
    return not any(address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])


def named_port(pod: dict, name: str, protocol: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def port_parts(protocol: str, first: int | None, last: int | None) -> list:
    """Expressions matching one protocol and optionally a port or an inclusive port range."""
    number = PROTOCOLS[protocol]
    meta = ("meta", [(2, nft.be32(nft.META_L4PROTO)), (1, nft.be32(nft.REG_1))])
    parts = [([meta, nft.cmp(bytes([number]))], f"meta l4proto {protocol.lower()}")]
    if first is not None:
        load = ("payload", [(1, nft.be32(nft.REG_1)), (2, nft.be32(nft.PAYLOAD_TRANSPORT)), (3, nft.be32(2)),
                            (4, nft.be32(2))])  # fmt: skip
        if last is None or last == first:
            parts.append(([load, nft.cmp(first.to_bytes(2, "big"))], f"th dport {first}"))
        else:  # big-endian bytes compare as numbers do (nft_cmp is a memcmp)
            exprs = [load, nft.cmp(first.to_bytes(2, "big"), op=5), nft.cmp(last.to_bytes(2, "big"), op=3)]
            parts.append((exprs, f"th dport {first}-{last}"))
    return parts


def ct_established() -> tuple[list, str]:
    load = ("ct", [(1, nft.be32(nft.REG_1)), (2, nft.be32(0))])  # NFT_CT_STATE into reg 1
    mask = nft.bitwise(ESTABLISHED_RELATED.to_bytes(4, sys.byteorder), b"\0" * 4)
    return [load, mask, nft.cmp(b"\0" * 4, op=1)], "ct state established,related"


def interface(direction: str, prefix: str) -> tuple[list, str]:
    """`iifname|oifname "PREFIX*"`: the interface name starts with PREFIX."""
    key = 6 if direction == "in" else 7  # NFT_META_IIFNAME, NFT_META_OIFNAME
    load = ("meta", [(2, nft.be32(key)), (1, nft.be32(nft.REG_1))])
    return [load, nft.cmp(prefix.encode())], f'{direction[0]}ifname "{prefix}*"'


def rule_matches(rule: dict, kind: str, policy: dict, pod: dict, pods: list[dict], labels: dict) -> list[list]:
    """Each alternative (a list of expression parts) by which one rule of `policy` allows traffic for `pod`."""
    _key, peers_key, field = DIRECTIONS[kind]
    peers = rule.get(peers_key) or []
    namespace = policy["metadata"].get("namespace")
    peer_alternatives: list[list] = [] if peers else [[]]
    peer_ips: set[str] = set()
    blocks = []
    for peer in peers:
        if peer.get("ipBlock"):
            block = peer["ipBlock"]
            if ipaddress.ip_network(block["cidr"], strict=False).version != 4:
                continue  # the table is IPv4's (as the pod network): an IPv6 block matches nothing here
            blocks.append(block)
            # host bits are allowed, as the API allows them
            blocked = [block["cidr"], *(block.get("except") or [])]
            cidr, *excepts = [str(ipaddress.ip_network(c, strict=False)) for c in blocked]
            peer_alternatives.append([nft.address(field, cidr), *(nft.address(field, e, negate=True) for e in excepts)])
        else:
            for other in peer_pods(peer, namespace, pods, labels):
                if other["status"]["podIP"] not in peer_ips:
                    peer_ips.add(other["status"]["podIP"])
                    peer_alternatives.append([nft.address(field, other["status"]["podIP"])])
    found = []
    for port in rule.get("ports") or [{}]:
        protocol, number = port.get("protocol", "TCP"), port.get("port")
        if not port:
            found += peer_alternatives
        elif isinstance(number, str) and kind == "Ingress":  # a name: this pod's port of that name
            resolved = named_port(pod, number, protocol)
            if resolved is not None:
                found += [[*peer, *port_parts(protocol, resolved, None)] for peer in peer_alternatives]
        elif isinstance(number, str):  # egress: the destinations' ports of that name
            for other in pods:
                ip, resolved = other["status"]["podIP"], named_port(other, number, protocol)
                wanted = not peers or ip in peer_ips or any(in_block(ip, b) for b in blocks)
                if resolved is not None and wanted:
                    found.append([nft.address(field, ip), *port_parts(protocol, resolved, None)])
        else:
            ports = port_parts(protocol, number, port.get("endPort"))
            found += [[*peer, *ports] for peer in peer_alternatives]
    return found


def ruleset(policies: list[dict], pods: list[dict], namespaces: list[dict], node_name: str) -> nft.Table:
    """The node's table: its pods' ingress and egress policies (pods are the API's, stand-ins included)."""
    table = nft.Table(TABLE)
    workloads = endpoints(pods)
    labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in namespaces}
    forward = table.chain("forward", ("filter", "forward", 0))
    inbound = table.chain("input", ("filter", "input", 0))
    table.add(forward, ct_established(), nft.verdict("accept"))
    table.add(inbound, ct_established(), nft.verdict("accept"))
    dispatch = {"Egress": table.chain("from-wl"), "Ingress": table.chain("to-wl")}
    table.add(forward, interface("in", WORKLOADS), nft.verdict("jump", dispatch["Egress"]))
    table.add(inbound, interface("in", WORKLOADS), nft.verdict("jump", dispatch["Egress"]))
    table.add(forward, interface("out", WORKLOADS), nft.verdict("jump", dispatch["Ingress"]))
    local = [p for p in workloads if (p.get("spec") or {}).get("nodeName") == node_name]
    stand_ins = [p["status"]["podIP"] for p in local if STAND_IN in (p["metadata"].get("annotations") or {})]
    if stand_ins:  # the ingress controller's traffic leaves this node's own namespace: policed as a pod's is
        outbound = table.chain("output", ("filter", "output", 0))
        table.add(outbound, ct_established(), nft.verdict("accept"))
        for ip in stand_ins:
            table.add(outbound, nft.address("saddr", ip), interface("out", WORKLOADS), nft.verdict("jump", "to-wl"))
    for pod in sorted(local, key=lambda p: ipaddress.ip_address(p["status"]["podIP"])):
        ip = pod["status"]["podIP"]
        for kind, chain_prefix, own in (("Ingress", "tw", "daddr"), ("Egress", "fw", "saddr")):
            applying = [p for p in policies if kind in policy_types(p) and selects(p, pod)]
            if not applying:
                continue  # not selected for this direction: everything passes
            chain = table.chain(f"{chain_prefix}-{ip}")
            table.add(dispatch[kind], nft.address(own, ip), nft.verdict("jump", chain))
            seen = set()
            for policy in applying:
                for rule in (policy.get("spec") or {}).get(DIRECTIONS[kind][0]) or []:
                    for parts in rule_matches(rule or {}, kind, policy, pod, workloads, labels):
                        text = " ".join(p[1] for p in parts)
                        if text not in seen:
                            seen.add(text)
                            table.add(chain, *parts, nft.verdict("return"))
            table.add(chain, nft.verdict("drop"))
    return table


class KernelPolicy:
    """Keeps the node's policy table in line with the API's view; loads it only when it changed, removes it when
    the node stops enforcing (or never had it: a missing table is no error)."""

    def __init__(self, node_name: str, kernel: nft.Kernel | None = None):
        self.node_name, self.kernel = node_name, kernel or nft.Kernel()
        self.loaded: str | None = None
        self.reported: str | None = None

    def sync(self, policies: list[dict] | None, pods: list[dict], namespaces: list[dict]) -> None:
        """`policies` None: the CNI does not enforce them (flannel)."""
        table = ruleset(policies, pods, namespaces, self.node_name) if policies else None
        text = nft.describe(table) if table else ""
        if text == self.loaded:
            return
        try:
            if table:
                self.kernel.replace(table)
            else:
                self.kernel.delete(TABLE)
        except OSError as error:
            if str(error) != self.reported:  # once per distinct failure; retried every round
                print(f"policy: {error}", file=sys.stderr, flush=True)
                self.reported = str(error)
            return
        self.loaded, self.reported = text, None
