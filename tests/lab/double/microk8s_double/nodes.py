# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes Node objects: what a kubelet posts and the server-side Table (`kubectl get nodes [-o wide]`) with
the real columns (liveness is the node lifecycle controller's: controllers/nodelifecycle.py)."""

from __future__ import annotations

import datetime
import functools
import platform
import socket
import subprocess
import uuid
from pathlib import Path

from .node import Node

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
COLUMNS = [  # (name, priority, description) as kube-apiserver's node printer declares them
    ("Name", 0, "Name must be unique within a namespace."),
    ("Status", 0, "The status of the node"),
    ("Roles", 0, "The roles of the node"),
    ("Age", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ("Version", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", 1, "List of internal IPs for the node."),
    ("External-IP", 1, "List of external IPs for the node."),
    ("OS-Image", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    ("Kernel-Version", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    ("Container-Runtime", 1, "Container Runtime Version reported by the node through runtime remote API."),
]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)


@functools.cache  # fixed for the daemon's life: not re-read on every heartbeat
def os_image() -> str:
    fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    return fields.get("PRETTY_NAME", "Linux").strip('"')


def _first_line(path: str, fallback: str) -> str:
    try:
        return Path(path).read_text().strip() or fallback
    except OSError:
        return fallback


@functools.cache
def machine_identity() -> dict:
    """bootID, machineID and systemUUID as the kubelet reads them (cadvisor: boot_id, /etc/machine-id, DMI product
    UUID); every real Node has all three, and clients such as the Python kubernetes client require them."""
    fallback = uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname())
    machine_id = _first_line("/etc/machine-id", fallback.hex)
    return {
        "bootID": _first_line("/proc/sys/kernel/random/boot_id", str(fallback)),
        "machineID": machine_id,
        "systemUUID": _first_line("/sys/class/dmi/id/product_uuid", str(fallback)).lower(),
    }


@functools.cache
def container_runtime() -> str:
    try:
        words = subprocess.run(["containerd", "--version"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        words = []
    return f"containerd://{words[2].lstrip('v') if len(words) > 2 else '1.6.8'}"


def heartbeat(node: Node, worker: bool) -> dict:
    """The Node object this node's kubelet posts now (the API server keeps the creation time)."""
    role = "worker" if worker else "controlplane"
    beat = stamp(now())
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": node.hostname,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": node.hostname,
                "kubernetes.io/os": "linux",
                "microk8s.io/cluster": "true",
                f"node.kubernetes.io/microk8s-{role}": f"microk8s-{role}",
            },
        },
        "spec": {},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.hostname}],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": beat,
                    "lastTransitionTime": beat,
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "nodeInfo": {
                "architecture": "amd64",
                **machine_identity(),
                "containerRuntimeVersion": container_runtime(),
                "kernelVersion": platform.release(),
                "kubeletVersion": node.profile.version,
                "kubeProxyVersion": node.profile.version,
                "operatingSystem": "linux",
                "osImage": os_image(),
            },
        },
    }


def merge(stored: dict | None, posted: dict, resource_version: int) -> dict:
    """What the API server stores for a posted Node: the creation time and uid of the stored one are kept."""
    merged = dict(posted, metadata=dict(posted["metadata"]))
    created = stored["metadata"] if stored else {"creationTimestamp": stamp(now()), "uid": str(uuid.uuid4())}
    merged["metadata"]["creationTimestamp"] = created["creationTimestamp"]
    merged["metadata"]["uid"] = created["uid"]
    merged["metadata"]["resourceVersion"] = str(resource_version)
    return merged


def summary(node_object: dict) -> dict:
    """The fields `kubectl get nodes -o wide` shows, by column."""
    status, labels = node_object["status"], node_object["metadata"].get("labels", {})
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    addresses = {a["type"]: a["address"] for a in status["addresses"]}
    info = status["nodeInfo"]
    return {
        "name": node_object["metadata"]["name"],
        "status": ("Ready" if status["conditions"][0]["status"] == "True" else "NotReady")
        + (",SchedulingDisabled" if node_object.get("spec", {}).get("unschedulable") else ""),
        "roles": ",".join(roles) or "<none>",
        "age": human_duration((now() - parse(node_object["metadata"]["creationTimestamp"])).total_seconds()),
        "version": info["kubeletVersion"],
        "internal_ip": addresses.get("InternalIP", "<none>"),
        "external_ip": addresses.get("ExternalIP", "<none>"),
        "os_image": info["osImage"],
        "kernel_version": info["kernelVersion"],
        "container_runtime": info["containerRuntimeVersion"],
    }


def table(node_objects: list[dict], resource_version: int) -> dict:
    """The meta.k8s.io/v1 Table kubectl asks for (`as=Table`), rows with PartialObjectMetadata."""
    definitions = [
        {
            "name": name,
            "type": "string",
            "format": "name" if name == "Name" else "",
            "description": text,
            "priority": priority,
        }
        for name, priority, text in COLUMNS
    ]
    rows = [
        {
            "cells": list(summary(o).values()),
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
        }
        for o in node_objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery duration.HumanDuration, as the AGE column prints."""
    s = int(seconds)
    if s < 0:
        return "<invalid>" if s < -1 else "0s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if years < 8 and days % 365 else f"{years}y"
