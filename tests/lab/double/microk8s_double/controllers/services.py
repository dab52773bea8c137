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


def assign_load_balancers(services: list[dict], ranges: list) -> list[dict]:
    """LoadBalancer services that get an address now (status.loadBalancer.ingress set): spec.loadBalancerIP when
    it is in the pool and free, else the first free address; none when the pool is empty or exhausted."""
    used = {external_ip(s) for s in services if s["spec"].get("type") == "LoadBalancer"} - {None}
    changed = []
    for service in sorted(services, key=lambda s: s["metadata"].get("creationTimestamp", "")):
        if service["spec"].get("type") != "LoadBalancer" or external_ip(service) or not ranges:
            continue
        wanted = service["spec"].get("loadBalancerIP")
        if wanted and in_pool(wanted, ranges) and wanted not in used:
            address = wanted
        else:
            address = next((ip for ip in pool_addresses(ranges) if ip not in used and not wanted), None)
        if address is None:
            continue
        used.add(address)
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
