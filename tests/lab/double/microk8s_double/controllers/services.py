# SPDX-License-Identifier: GPL-3.0-or-later
"""Service addresses: cluster IPs from 10.152.183.0/24 and NodePorts from 30000-32767 (what kube-apiserver allocates
when a Service is created) and LoadBalancer addresses from the MetalLB pool (MetalLB's controller: the first free
address of the `metallb-system/config` pools; without it EXTERNAL-IP stays `<pending>`)."""

from __future__ import annotations

import ipaddress
import random

SERVICE_CIDR = ipaddress.ip_network("10.152.183.0/24")
KUBERNETES_IP = "10.152.183.1"
NODE_PORTS = range(30000, 32768)
METALLB_NAMESPACE = "metallb-system"
METALLB_CONFIG = "config"


def allocate(service: dict, existing: list[dict], rng: random.Random | None = None) -> dict:
    """The service with a cluster IP and node ports where it needs them and has none; existing ones are kept."""
    rng = rng or random.Random()
    spec = dict(service.get("spec", {}))
    others = [s for s in existing if s["metadata"].get("uid") != service["metadata"].get("uid")]
    if not spec.get("clusterIP"):
        used = {s["spec"].get("clusterIP") for s in others} | {KUBERNETES_IP}
        free = [str(ip) for ip in SERVICE_CIDR.hosts() if str(ip) not in used]
        spec["clusterIP"] = rng.choice(free)
    if spec["clusterIP"] != "None":
        spec["clusterIPs"] = [spec["clusterIP"]]
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        used_ports = {p.get("nodePort") for s in others for p in s["spec"].get("ports", [])}
        ports = []
        for port in spec.get("ports", []):
            if not port.get("nodePort"):
                port = dict(port, nodePort=rng.choice([n for n in NODE_PORTS if n not in used_ports]))
            used_ports.add(port["nodePort"])
            ports.append(port)
        spec["ports"] = ports
    return dict(service, spec=spec)


def needs_node_ports(service: dict) -> bool:
    return (service.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")


def patch_allocated_values(new: dict, old: dict) -> dict:
    """kube-apiserver's patchAllocatedValues on an update: what it allocated and the update leaves out is kept, so
    resubmitting the created YAML (PUT, or a JSON merge patch that replaces `ports`) changes nothing: the cluster IP
    while both need one, and each port's NodePort, matched by the port's name, while both types have NodePorts."""
    spec, before = dict(new.get("spec") or {}), old.get("spec") or {}
    if before.get("clusterIP") and spec.get("type") != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = before["clusterIP"]
        if not spec.get("clusterIPs") and before.get("clusterIPs"):
            spec["clusterIPs"] = before["clusterIPs"]
    if needs_node_ports(old) and needs_node_ports(new):
        by_name = {p.get("name", ""): p.get("nodePort") for p in before.get("ports") or []}
        used = {p.get("nodePort") for p in spec.get("ports") or []}  # given in the update: not to be patched in
        ports = []
        for port in spec.get("ports") or []:
            kept = by_name.get(port.get("name", ""))
            ports.append(dict(port, nodePort=kept) if not port.get("nodePort") and kept and kept not in used else port)
        spec["ports"] = ports
    return dict(new, spec=spec)


def pool_ranges(config_map: dict | None) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
    """The layer-2 pools of MetalLB's `config` ConfigMap (`address-pools: [{addresses: [A-B | CIDR]}]`)."""
    text = ((config_map or {}).get("data") or {}).get("config", "")
    ranges = []
    for line in text.splitlines():
        item = line.strip()
        if not item.startswith("- ") or "name:" in item or "protocol:" in item:
            continue
        item = item[2:].strip().strip("'\"")
        try:
            if "-" in item:
                first, last = (ipaddress.ip_address(part.strip()) for part in item.split("-", 1))
            else:
                network = ipaddress.ip_network(item, strict=False)
                first, last = network[0], network[-1]
        except ValueError:
            continue
        ranges.append((first, last))
    return ranges


def pool_addresses(ranges: list):
    """Every address of the pools, in order (lazily: a pool may be a large CIDR)."""
    return (str(ipaddress.ip_address(n)) for first, last in ranges for n in range(int(first), int(last) + 1))


def in_pool(ip: str, ranges: list) -> bool:
    address = ipaddress.ip_address(ip)
    return any(first <= address <= last for first, last in ranges)


def external_ip(service: dict) -> str | None:
    ingress = (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


SHARING_ANNOTATION = "metallb.universe.tf/allow-shared-ip"


def sharing_key(service: dict) -> tuple[str, str]:
    """MetalLB's (sharing key, backend key): the allow-shared-ip annotation, and the selector when the traffic
    policy is Local (Cluster services may share whatever their backends)."""
    annotations = service["metadata"].get("annotations") or {}
    spec = service.get("spec") or {}
    backend = ""
    if spec.get("externalTrafficPolicy") == "Local":
        backend = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return annotations.get(SHARING_ANNOTATION, ""), backend


def lb_ports(service: dict) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p.get("port")) for p in (service.get("spec") or {}).get("ports") or []}


class Allocations:
    """MetalLB's allocator (internal/allocator, 0.9 to 0.15 alike): which services hold each address, with which
    sharing key and ports. An address takes another service only if every holder and the newcomer carry the same
    non-empty allow-shared-ip key (and backend key) and no (protocol, port) of the newcomer is already in use there."""

    def __init__(self, services: list[dict]):
        self.holders: dict[str, list[dict]] = {}
        for service in services:
            ip = external_ip(service) if service["spec"].get("type") == "LoadBalancer" else None
            if ip:
                self.holders.setdefault(ip, []).append(service)

    def refusal(self, service: dict, ip: str) -> str | None:
        """Why `ip` cannot take `service` (None: it can), in MetalLB's words."""
        others = [s for s in self.holders.get(ip, []) if s["metadata"].get("uid") != service["metadata"].get("uid")]
        if not others:
            return None
        (existing, existing_backend), (wanted, backend) = sharing_key(others[0]), sharing_key(service)
        if not existing:
            return "existing service does not allow sharing"
        if not wanted:
            return "new service does not allow sharing"
        if existing != wanted:
            return f'sharing key "{wanted}" does not match existing sharing key "{existing}"'
        if existing_backend != backend:
            return f'backend key "{backend}" does not match existing sharing key "{existing_backend}"'
        in_use = set().union(*(lb_ports(s) for s in others))
        for protocol, port in sorted(lb_ports(service) & in_use):
            return f'port {port}/{protocol} is already in use on "{ip}"'
        return None

    def take(self, service: dict, ip: str) -> None:
        self.holders.setdefault(ip, []).append(service)


def assign_load_balancers(services: list[dict], ranges: list) -> list[dict]:
    """LoadBalancer services that get an address now (status.loadBalancer.ingress set), in creation order:
    spec.loadBalancerIP when it is in the pool and can take the service, else (none requested) the first pool
    address that can: a free one, or one whose services share it with this one (allow-shared-ip, see Allocations).
    None when the requested address cannot take it, or the pool is empty or exhausted (EXTERNAL-IP `<pending>`)."""
    allocations = Allocations(services)
    changed = []
    for service in sorted(services, key=lambda s: s["metadata"].get("creationTimestamp", "")):
        if service["spec"].get("type") != "LoadBalancer" or external_ip(service) or not ranges:
            continue
        wanted = service["spec"].get("loadBalancerIP")
        if wanted:
            address = wanted if in_pool(wanted, ranges) and allocations.refusal(service, wanted) is None else None
        else:
            address = next((ip for ip in pool_addresses(ranges) if allocations.refusal(service, ip) is None), None)
        if address is None:
            continue
        allocations.take(service, address)
        status = dict(service.get("status") or {}, loadBalancer={"ingress": [{"ip": address}]})
        changed.append(dict(service, status=status))
    return changed


def unallocated(service: dict) -> bool:
    """Created without the addresses its type needs (ExternalName services have none)."""
    spec = service.get("spec", {})
    if spec.get("type") == "ExternalName":
        return False
    missing_ports = spec.get("type") in ("NodePort", "LoadBalancer") and any(
        not p.get("nodePort") for p in spec.get("ports", [])
    )
    return not spec.get("clusterIP") or missing_ports


def kubernetes_service() -> dict:
    """`default/kubernetes`, which kube-apiserver's bootstrap controller keeps (its endpoints: endpoints.py)."""
    port = {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 16443}
    spec = {"type": "ClusterIP", "clusterIP": KUBERNETES_IP, "clusterIPs": [KUBERNETES_IP], "ports": [port],
            "sessionAffinity": "None"}  # fmt: skip
    labels = {"component": "apiserver", "provider": "kubernetes"}
    metadata = {"name": "kubernetes", "namespace": "default", "labels": labels}
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def sync(client) -> None:
    """One pass: the `kubernetes` service, addresses for services created without them, then MetalLB's pass over
    LoadBalancer services."""
    if client.get("services", "kubernetes", "default") is None:
        client.create("services", kubernetes_service())
    services = client.list("services")
    for service in services:
        if unallocated(service):
            client.update("services", allocate(service, services))
    ranges = pool_ranges(client.get("configmaps", METALLB_CONFIG, METALLB_NAMESPACE))
    for service in assign_load_balancers(client.list("services"), ranges):
        client.update("services", service, subresource="status")
