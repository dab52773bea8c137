# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes API subset served by `daemon-kubelite` on :16443 over HTTPS, for the real kubectl.

Authentication: the bearer token of `credentials/client.config` (listed in `credentials/known_tokens.csv`).
Served: discovery (`/version`, `/api`, `/apis`, `/api/v1`), nodes (list, get, Table form, PUT by kubelets) and
namespaces. Every read and write goes to the datastore's leader: without quorum requests fail as kine on dqlite
does (HTTP 500, `rpc error: ... no available dqlite leader server found`) once `request_timeout` passes.
"""

from __future__ import annotations

import time

from . import certs, datastore, nodes, wire
from .node import Node

NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NAMESPACE_PREFIX = "/registry/namespaces/"
RESOURCES = [
    {
        "name": "namespaces",
        "singularName": "",
        "namespaced": False,
        "kind": "Namespace",
        "shortNames": ["ns"],
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
    },
    {
        "name": "nodes",
        "singularName": "",
        "namespaced": False,
        "kind": "Node",
        "shortNames": ["no"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
]


def status(code: int, reason: str, message: str) -> tuple[int, dict]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def not_found(kind: str, name: str) -> tuple[int, dict]:
    return status(404, "NotFound", f'{kind} "{name}" not found')


class ApiServer:
    def __init__(self, node: Node):
        self.node = node
        self.grace = node.setting("node_grace_period", 40)

    def route(self, method: str, path: str):
        parts = path.strip("/").split("/")
        if method == "GET" and path in ("/version", "/api", "/apis", "/api/v1"):
            return self.guard(self.discovery)
        if parts[:3] == ["api", "v1", "nodes"] and len(parts) <= 4:
            return self.guard({"GET": self.get_nodes, "PUT": self.put_node}.get(method))
        if method == "GET" and parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
            return self.guard(self.get_namespaces)
        return None

    def guard(self, handler):
        """Authenticate, then map a datastore failure to the error kine returns."""
        if handler is None:
            return None

        def run(request: wire.Request):
            if request.headers.get("Authorization", "") != f"Bearer {certs.admin_token(self.node)}":
                return status(401, "Unauthorized", "Unauthorized")
            try:
                return handler(request)
            except datastore.DatastoreError as error:
                return status(500, "", f"rpc error: code = Unknown desc = {error}")

        return run

    def discovery(self, request: wire.Request):
        version = self.node.profile.version
        answers = {
            "/version": {
                "major": "1",
                "minor": str(self.node.profile.minor),
                "gitVersion": version,
                "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "",
                "goVersion": "",
                "compiler": "gc",
                "platform": "linux/amd64",
            },
            "/api": {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.node.ip}:{self.node.port('apiserver')}"}
                ],
            },
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
            "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": RESOURCES},
        }
        return 200, answers[request.path]

    def get_nodes(self, request: wire.Request):
        name = request.path.strip("/").split("/")[3:]
        objects = sorted(
            datastore.execute(self.node, [{"op": "list", "prefix": datastore.NODE_PREFIX}])[0].values(),
            key=lambda o: o["metadata"]["name"],
        )
        objects = [nodes.with_liveness(o, self.grace) for o in objects if not name or o["metadata"]["name"] == name[0]]
        if name and not objects:
            return not_found("nodes", name[0])
        if "as=Table" in request.headers.get("Accept", ""):
            return 200, nodes.table(objects, resource_version())
        if name:
            return 200, objects[0]
        return 200, listing("NodeList", objects)

    def put_node(self, request: wire.Request):
        """A kubelet's status update (workers post through a control plane, as via apiserver-proxy)."""
        return 200, store_node(self.node, request.json())

    def get_namespaces(self, request: wire.Request):
        name = request.path.strip("/").split("/")[3:]
        found = datastore.execute(self.node, [{"op": "list", "prefix": NAMESPACE_PREFIX}])[0]
        objects = [o for key, o in sorted(found.items()) if not name or key == NAMESPACE_PREFIX + name[0]]
        if name and not objects:
            return not_found("namespaces", name[0])
        if "as=Table" in request.headers.get("Accept", ""):
            return 200, namespace_table(objects)
        return 200, objects[0] if name else listing("NamespaceList", objects)


def store_node(node: Node, posted: dict) -> dict:
    key = datastore.NODE_PREFIX + posted["metadata"]["name"]
    stored = datastore.execute(node, [{"op": "get", "key": key}])[0]
    merged = nodes.merge(stored, posted, resource_version())
    datastore.execute(node, [{"op": "put", "key": key, "value": merged}])
    return merged


def resource_version() -> int:
    return int(time.time() * 1000)


def listing(kind: str, items: list[dict]) -> dict:
    return {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(resource_version())}, "items": items}


def namespace_table(objects: list[dict]) -> dict:
    columns = [
        ("Name", "Name must be unique within a namespace."),
        ("Status", "The status of the namespace"),
        ("Age", "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ]
    rows = [
        {
            "cells": [
                o["metadata"]["name"],
                o["status"]["phase"],
                nodes.human_duration((nodes.now() - nodes.parse(o["metadata"]["creationTimestamp"])).total_seconds()),
            ],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
        }
        for o in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version())},
        "columnDefinitions": [
            {"name": n, "type": "string", "format": "name" if n == "Name" else "", "description": d, "priority": 0}
            for n, d in columns
        ],
        "rows": rows,
    }


def bootstrap_namespaces(node: Node) -> None:
    """The namespaces kube-apiserver creates at start when they are missing."""
    found = datastore.execute(node, [{"op": "list", "prefix": NAMESPACE_PREFIX}])[0]
    missing = [name for name in NAMESPACES if NAMESPACE_PREFIX + name not in found]
    created = nodes.stamp(nodes.now())
    ops = [
        {
            "op": "put",
            "key": NAMESPACE_PREFIX + name,
            "value": {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "creationTimestamp": created,
                    "labels": {"kubernetes.io/metadata.name": name},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        }
        for name in missing
    ]
    if ops:
        datastore.execute(node, ops)


def serve(node: Node) -> None:
    server = ApiServer(node)
    wire.serve((node.bind_address, node.port("apiserver")), server.route, tls=lambda: certs.server_context(node))
