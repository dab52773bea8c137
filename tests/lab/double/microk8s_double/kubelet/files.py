# SPDX-License-Identifier: GPL-3.0-or-later
"""The files the kubelet manages inside every container: /etc/hosts (the pod's own name and address) and
/etc/resolv.conf per dnsPolicy (ClusterFirst uses the cluster DNS service `kube-system/kube-dns` when the dns addon
made one, else the node's resolver, as a kubelet without --cluster-dns does)."""

from __future__ import annotations

from pathlib import Path

NODE_RESOLV = Path("/etc/resolv.conf")
CLUSTER_DOMAIN = "cluster.local"


def hosts(pod: dict, pod_ip: str) -> str:
    name = pod["spec"].get("hostname") or pod["metadata"]["name"]
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
        f"{pod_ip}\t{name}",
    ]
    lines += [f"{entry['ip']}\t" + "\t".join(entry["hostnames"]) for entry in pod["spec"].get("hostAliases") or []]
    return "\n".join(lines) + "\n"


def cluster_dns(services: list[dict]) -> str | None:
    for service in services:
        if (service["metadata"].get("namespace"), service["metadata"]["name"]) == ("kube-system", "kube-dns"):
            return (service.get("spec") or {}).get("clusterIP") or None
    return None


def resolv_conf(pod: dict, dns_ip: str | None, node_resolv: str) -> str:
    policy = pod["spec"].get("dnsPolicy", "ClusterFirst")
    config = pod["spec"].get("dnsConfig") or {}
    if policy == "ClusterFirst" and dns_ip:
        namespace = pod["metadata"]["namespace"]
        searches = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
        servers, options = [dns_ip], [{"name": "ndots", "value": "5"}]
    elif policy == "None":
        searches, servers, options = [], [], []
    else:
        lines = [line.split() for line in node_resolv.splitlines() if line.strip() and not line.startswith("#")]
        servers = [words[1] for words in lines if words[0] == "nameserver" and len(words) > 1]
        searches = [word for words in lines if words[0] == "search" for word in words[1:]]
        options = []
    servers += config.get("nameservers") or []
    searches += config.get("searches") or []
    options += config.get("options") or []
    text = [f"search {' '.join(searches)}"] if searches else []
    text += [f"nameserver {server}" for server in servers]
    rendered = [o["name"] + (f":{o['value']}" if o.get("value") else "") for o in options]
    text += [f"options {' '.join(rendered)}"] if rendered else []
    return "\n".join(text) + "\n"
