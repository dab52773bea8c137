# SPDX-License-Identifier: GPL-3.0-or-later
"""The endpoints controller: for each Service with a selector, an Endpoints object of the same name listing the
matching pods' IPs (ready ones in `addresses`, the others in `notReadyAddresses`) with the service's target ports
resolved against each pod's container ports (a named targetPort may differ per pod, hence one subset per port set)."""

from __future__ import annotations

from .podutil import condition, is_ready, is_terminating, selector_matches

# The ingress addon (NGINX, MicroK8s <= 1.34) runs DaemonSet `nginx-ingress-microk8s-controller` in namespace
# `ingress`: one pod per node labelled `name: nginx-ingress-microk8s`, container ports http 80, https 443 and health
# 10254 (all also hostPorts). The double's controller is no pod: it listens on the node's own address. A
# Service selecting those pods (a user's LoadBalancer in front of the ingress) gets them here as endpoints, one per
# node, at the node's InternalIP (where the double's controller listens; a real pod's IP differs), ready while the
# node is Ready (node lifecycle marks a lost node's pods NotReady).
INGRESS_NAMESPACE = "ingress"
INGRESS_CONFIG = "nginx-load-balancer-microk8s-conf"
INGRESS_LABELS = {"name": "nginx-ingress-microk8s"}
INGRESS_PORTS = [
    {"name": "http", "containerPort": 80, "hostPort": 80, "protocol": "TCP"},
    {"name": "https", "containerPort": 443, "hostPort": 443, "protocol": "TCP"},
    {"name": "health", "containerPort": 10254, "hostPort": 10254, "protocol": "TCP"},
]


def ingress_pods(nodes: list[dict], config_maps: list[dict]) -> list[dict]:
    """The ingress addon's DaemonSet pods as the endpoints controller sees them, while the addon is enabled."""
    enabled = any(
        (c["metadata"]["namespace"], c["metadata"]["name"]) == (INGRESS_NAMESPACE, INGRESS_CONFIG) for c in config_maps
    )
    pods = []
    for node in nodes if enabled else []:
        address = next((a["address"] for a in node["status"].get("addresses", []) if a["type"] == "InternalIP"), None)
        if not address:
            continue
        ready = (condition(node, "Ready") or {}).get("status") == "True"
        name = node["metadata"]["name"]
        pods.append(
            {
                "metadata": {
                    "name": f"nginx-ingress-microk8s-controller-{name}",
                    "namespace": INGRESS_NAMESPACE,
                    "labels": dict(INGRESS_LABELS),
                },
                "spec": {"nodeName": name, "containers": [{"name": "nginx-ingress-microk8s", "ports": INGRESS_PORTS}]},
                "status": {"podIP": address, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
            }
        )
    return pods


def target_port(service_port: dict, pod: dict) -> int | None:
    """The pod's port for a service port: a number as is, a name looked up in the containers' ports."""
    target = service_port.get("targetPort", service_port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod["spec"].get("containers", []):
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == service_port.get("protocol", "TCP"):
                return port["containerPort"]
    return None


def address(pod: dict) -> dict:
    meta = pod["metadata"]
    entry = {
        "ip": pod["status"]["podIP"],
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta.get("uid", ""),
        },
    }
    if pod["spec"].get("nodeName"):
        entry["nodeName"] = pod["spec"]["nodeName"]
    return entry


def subsets(service: dict, pods: list[dict]) -> list[dict]:
    """The Endpoints subsets for a service over the pods of its namespace."""
    selector = service["spec"].get("selector") or {}
    grouped: dict[tuple, dict] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        meta = pod["metadata"]
        if is_terminating(pod) or not (pod.get("status") or {}).get("podIP"):
            continue
        if not selector_matches({"matchLabels": selector}, meta.get("labels")):
            continue
        ports = []
        for service_port in service["spec"].get("ports", []):
            number = target_port(service_port, pod)
            if number is not None:
                port = {"port": number, "protocol": service_port.get("protocol", "TCP")}
                ports.append(dict(port, name=service_port["name"]) if service_port.get("name") else port)
        if not ports:
            continue
        subset = grouped.setdefault(tuple(sorted((p["port"], p.get("name", "")) for p in ports)), {"ports": ports})
        subset.setdefault("addresses" if is_ready(pod) else "notReadyAddresses", []).append(address(pod))
    return list(grouped.values())


def desired(service: dict, pods: list[dict]) -> dict:
    meta = service["metadata"]
    endpoints = {
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    if meta.get("labels"):
        endpoints["metadata"]["labels"] = dict(meta["labels"])
    found = subsets(service, pods)
    if found:
        endpoints["subsets"] = found
    return endpoints


def plan(services: list[dict], pods: list[dict], endpoints: list[dict]) -> list[tuple[str, dict]]:
    """What to write: ("create"|"update"|"delete", object), comparing subsets and labels only."""

    def key(obj: dict) -> tuple[str, str]:
        return obj["metadata"]["namespace"], obj["metadata"]["name"]

    current = {key(e): e for e in endpoints}
    wanted = {}
    for service in services:
        if service["spec"].get("selector"):
            namespace = service["metadata"]["namespace"]
            wanted[key(service)] = desired(service, [p for p in pods if p["metadata"]["namespace"] == namespace])
    actions = []
    for name, new in sorted(wanted.items()):
        old = current.get(name)
        labels = new["metadata"].get("labels")
        if old is None:
            actions.append(("create", new))
        elif (old.get("subsets") or []) != new.get("subsets", []) or old["metadata"].get("labels") != labels:
            metadata = dict(old["metadata"], labels=labels)
            actions.append(("update", dict(old, metadata=metadata, subsets=new.get("subsets", []))))
    service_keys = {key(s) for s in services}
    actions += [("delete", e) for name, e in sorted(current.items()) if name not in service_keys]
    return actions


def api_servers(nodes: list[dict], port: int) -> dict:
    """`default/kubernetes` endpoints: the Ready control planes' InternalIP and the API server's port."""
    addresses = sorted(
        a["address"]
        for n in nodes
        if "node.kubernetes.io/microk8s-controlplane" in (n["metadata"].get("labels") or {})
        and (condition(n, "Ready") or {}).get("status") == "True"
        for a in n["status"].get("addresses", [])
        if a["type"] == "InternalIP"
    )
    endpoints = {"kind": "Endpoints", "apiVersion": "v1", "metadata": {"name": "kubernetes", "namespace": "default"}}
    if addresses:
        endpoints["subsets"] = [
            {
                "addresses": [{"ip": ip} for ip in addresses],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            }
        ]
    return endpoints


def sync(client, node) -> None:
    """One pass over every namespace: write the Endpoints the services and pods call for, and the API servers'."""
    current = client.list("endpoints")
    nodes = client.list("nodes")
    masters = api_servers(nodes, node.port("apiserver"))
    stored = next(
        (e for e in current if (e["metadata"]["namespace"], e["metadata"]["name"]) == ("default", "kubernetes")), None
    )
    if stored is None:
        client.create("endpoints", masters)
    elif (stored.get("subsets") or []) != masters.get("subsets", []):
        client.update("endpoints", dict(stored, subsets=masters.get("subsets", [])))
    pods = client.list("pods") + ingress_pods(nodes, client.list("configmaps"))
    for verb, obj in plan(client.list("services"), pods, current):
        if verb == "create":
            client.create("endpoints", obj)
        elif verb == "update":
            client.update("endpoints", obj)
        else:
            client.delete("endpoints", obj["metadata"]["name"], obj["metadata"]["namespace"])
