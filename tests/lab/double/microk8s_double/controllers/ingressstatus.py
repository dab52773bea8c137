# SPDX-License-Identifier: GPL-3.0-or-later
"""The ingress addon's DaemonSet object and ingress-nginx's status updater (its elected leader): the addresses it
writes into `status.loadBalancer.ingress` of the Ingresses it serves.

MicroK8s' NGINX addon (<= 1.34, canonical/microk8s-core-addons `addons/ingress/ingress.yaml` and `enable`) runs
DaemonSet `ingress/nginx-ingress-microk8s-controller` with `--publish-status-address=127.0.0.1` among its args, so
every Ingress shows 127.0.0.1. ingress-nginx (internal/ingress/status) picks, in this order: the addresses of
`--publish-status-address` (comma separated), else the LoadBalancer addresses (or externalIPs) of
`--publish-service=NS/NAME`, else the addresses of the nodes running its pods (ExternalIP, else InternalIP); sorted;
nothing at all with `--update-status=false`. A user changes it by editing the DaemonSet's args (its pods restart
with them). Simplified: the double writes on each controller round (real: at leader election and every 60 s); the
double has no controller pods, so the node case counts every Ready node."""

from __future__ import annotations

import ipaddress

from .endpoints import INGRESS_LABELS, INGRESS_NAMESPACE, INGRESS_PORTS
from .podutil import condition

DAEMONSET = "nginx-ingress-microk8s-controller"
SERVED_CLASSES = {"public", "nginx", None}  # what the double's ingress serves (network/ingress.py)
ARGS = [
    "/nginx-ingress-controller",
    "--configmap=$(POD_NAMESPACE)/nginx-load-balancer-microk8s-conf",
    "--tcp-services-configmap=$(POD_NAMESPACE)/nginx-ingress-tcp-microk8s-conf",
    "--udp-services-configmap=$(POD_NAMESPACE)/nginx-ingress-udp-microk8s-conf",
    "--ingress-class=public",
    " ",  # $DEFAULT_CERT without a default certificate
    "--publish-status-address=127.0.0.1",  # $EXTRA_ARGS
]


def daemonset(default_certificate: str = "") -> dict:
    """The addon's DaemonSet as its manifest applies it (the fields the double reads, and the pod template)."""
    args = list(ARGS)
    if default_certificate:
        args[5] = "--default-ssl-certificate=" + default_certificate
    container = {"name": "nginx-ingress-microk8s", "image": "registry.k8s.io/ingress-nginx/controller",
                 "ports": INGRESS_PORTS, "args": args}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": DAEMONSET, "namespace": INGRESS_NAMESPACE,
                     "labels": {"microk8s-application": "nginx-ingress-microk8s"}},
        "spec": {
            "selector": {"matchLabels": dict(INGRESS_LABELS)},
            "template": {"metadata": {"labels": dict(INGRESS_LABELS)},
                         "spec": {"serviceAccountName": "nginx-ingress-microk8s-serviceaccount",
                                  "terminationGracePeriodSeconds": 60, "containers": [container]}},
        },
    }  # fmt: skip


def flags(args: list[str]) -> dict[str, str]:
    """`--name=value` flags of a container's args (the last one wins, as with Go's flag package)."""
    found = {}
    for arg in args or []:
        if arg.startswith("--"):
            name, _sep, value = arg[2:].partition("=")
            found[name] = value
    return found


def entry(address: str) -> dict:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return {"hostname": address}
    return {"ip": address}


def addresses(daemon: dict, services: list[dict], nodes: list[dict]) -> list[dict] | None:
    """What the status updater publishes; None: it does not update statuses."""
    containers = daemon["spec"]["template"]["spec"].get("containers") or [{}]
    options = flags(containers[0].get("args") or [])
    if options.get("update-status", "true").lower() in ("false", "0"):
        return None
    if options.get("publish-status-address"):
        found = [a.strip() for a in options["publish-status-address"].split(",") if a.strip()]
    elif options.get("publish-service"):
        namespace, _sep, name = options["publish-service"].partition("/")
        keys = [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services]
        service = services[keys.index((namespace, name))] if (namespace, name) in keys else None
        found = []
        if service is not None:
            balanced = (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
            found = [i.get("ip") or i.get("hostname") for i in balanced] or list(service["spec"].get("externalIPs", []))
    else:
        found = []
        for node in nodes:
            if (condition(node, "Ready") or {}).get("status") != "True":
                continue
            by_type = {a["type"]: a["address"] for a in node["status"].get("addresses", [])}
            if by_type.get("ExternalIP") or by_type.get("InternalIP"):
                found.append(by_type.get("ExternalIP") or by_type["InternalIP"])
    return [entry(a) for a in sorted(set(found))]


def ingress_class(ingress: dict) -> str | None:
    annotations = ingress["metadata"].get("annotations") or {}
    return ingress.get("spec", {}).get("ingressClassName") or annotations.get("kubernetes.io/ingress.class")


def plan(daemon: dict | None, ingresses: list[dict], services: list[dict], nodes: list[dict]) -> list[dict]:
    """The Ingresses whose status changes (with the new status)."""
    wanted = addresses(daemon, services, nodes) if daemon else None
    if wanted is None:
        return []
    changed = []
    for ingress in ingresses:
        if ingress_class(ingress) not in SERVED_CLASSES:
            continue
        current = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if current != wanted:
            changed.append(dict(ingress, status={"loadBalancer": {"ingress": wanted} if wanted else {}}))
    return changed


def sync(client) -> None:
    daemon = client.get("daemonsets", DAEMONSET, INGRESS_NAMESPACE)
    if daemon is None:
        return
    for ingress in plan(daemon, client.list("ingresses"), client.list("services"), client.list("nodes")):
        client.update("ingresses", ingress, subresource="status")
