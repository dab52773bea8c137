# SPDX-License-Identifier: GPL-3.0-or-later
"""One node of test_network_netns.py, run inside its network namespace: an HTTP app on the node's address (the
pod, host-network style) and the node's real network loop over a fixed API view (3 nodes, one LoadBalancer)."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from microk8s_double import network, paths, profiles
from microk8s_double.commands import addon_workloads
from microk8s_double.node import Node

LB_IP, POOL = "10.99.0.240", "10.99.0.240-10.99.0.250"
NODES = {"n1": "10.99.0.11", "n2": "10.99.0.12", "n3": "10.99.0.13"}


class App(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = f"hello from {sys.argv[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def view() -> dict:
    port = {"port": 8081, "targetPort": 8080, "nodePort": 31305, "protocol": "TCP"}
    service = {
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.152.183.185", "ports": [port]},
        "status": {"loadBalancer": {"ingress": [{"ip": LB_IP}]}},
    }
    addresses = [{"ip": ip, "nodeName": name} for name, ip in NODES.items()]
    endpoints = {
        "metadata": {"name": "hello", "namespace": "default"},
        "subsets": [{"addresses": addresses, "ports": [{"port": 8080, "protocol": "TCP"}]}],
    }
    nodes = [
        {"metadata": {"name": name}, "spec": {}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
        for name, ip in NODES.items()
    ]
    return {"nodes": nodes, "services": [service], "endpoints": [endpoints]}


class FixedApi:
    def list(self, resource, namespace=None):
        return view()[resource]

    def get(self, resource, name, namespace=None):
        return addon_workloads.metallb_config(POOL) if (resource, name) == ("configmaps", "config") else None


def main() -> None:
    name, state = sys.argv[1], sys.argv[2]
    app = ThreadingHTTPServer((NODES[name], 8080), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    settings = {"snap_root": state, "speaker_dead_after": 2}
    node = Node(settings, paths.resolve(settings), profiles.for_track("1.28"), NODES[name], name)
    network.NodeNetwork(node, FixedApi).start()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
