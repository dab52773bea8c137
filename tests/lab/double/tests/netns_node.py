# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of test_network_netns.py, run inside network namespaces.

`netns_node.py node NAME STATE VIEW`: one node: an HTTP app on the node's address (a host-network pod), the pods
of the view's `pods` bound to this node (a real netns and veth each, by podnet, an HTTP app inside answering the
pod's name; their `status.podIP` must be what podnet gives them: the lowest free addresses, in order), and the
node's real network loop over the API view in the JSON file VIEW (re-read every time, so the test changes
Endpoints, pods' labels or policies by rewriting it). The node runs Calico (the `ha-cluster` lock) unless the view
names it in `flannel`; the view's `ingress_config` stands for the ingress addon's ConfigMap.

`netns_node.py peer ADDRESS PORT`: an HTTP app on ADDRESS:PORT answering the address each connection comes from.

`netns_node.py probe HOST PORT COUNT TIMEOUT MODE`: COUNT new connections (one after the other, or all at once for
MODE `parallel`), each an HTTP GET with a TIMEOUT s deadline; prints a JSON list of [outcome, seconds] where outcome
is the app's answer ("n2", "pod-n3"), or "timeout", "refused", "reset", "closed"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from microk8s_double import network, paths, profiles
from microk8s_double.commands import addon_workloads
from microk8s_double.network import podnet
from microk8s_double.network.runner import Runner
from microk8s_double.node import Node

POOL = "10.99.0.240-10.99.0.250"
APP_PORT = 8080


def serve_udp(text: str, address: str) -> None:
    """Answer every datagram on APP_PORT/udp with `text` (a UDP service's endpoint, as a DNS server is one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, APP_PORT))
        while True:
            _data, peer = sock.recvfrom(2048)
            sock.sendto(text.encode(), peer)


def serve(text: str, address: str, port: int = APP_PORT) -> None:
    """Answers `text`, with `{peer}` replaced by the address the connection comes from."""

    class App(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = f"{text.replace('{peer}', self.client_address[0])}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer((address, port), App).serve_forever()


class HostMountRunner(Runner):
    """`ip netns add/del` in the test's mount namespace (HOST_MNT): `ip netns exec`, which started this node, gave
    it a slave copy, and a pod's netns mounted there would not show under the host's /run/netns."""

    def run(self, *argv: str) -> tuple[int, str]:
        if argv[:3] in (("ip", "netns", "add"), ("ip", "netns", "del")):
            argv = ("nsenter", f"--mount={os.environ['HOST_MNT']}", *argv)
        return super().run(*argv)


class FileApi:
    def __init__(self, view: Path):
        self.view = view

    def list(self, resource, namespace=None):
        return json.loads(self.view.read_text()).get(resource, [])

    def get(self, resource, name, namespace=None):
        if (resource, name) == ("configmaps", network.INGRESS_CONFIG):
            return json.loads(self.view.read_text()).get("ingress_config")
        return addon_workloads.metallb_config(POOL) if (resource, name) == ("configmaps", "config") else None


def node(name: str, state: str, view_file: str) -> None:
    view = json.loads(Path(view_file).read_text())
    me = next(n for n in view["nodes"] if n["metadata"]["name"] == name)
    ip = podnet.node_address(me)
    threading.Thread(target=serve, args=(name, ip), daemon=True).start()
    settings = {"snap_root": state, "speaker_dead_after": 2}
    this = Node(settings, paths.resolve(settings), profiles.for_track("1.28"), ip, name)
    if name not in view.get("flannel", []):
        this.paths.lock("ha-cluster").parent.mkdir(parents=True, exist_ok=True)
        this.paths.lock("ha-cluster").touch()
    pods = podnet.for_node(this, HostMountRunner())
    for pod in [p for p in view.get("pods", []) if p["spec"].get("nodeName") == name]:
        uid = pod["metadata"]["uid"]
        given = pods.attach(uid, me["spec"]["podCIDR"])
        if given != pod["status"]["podIP"]:
            sys.exit(f"pod {pod['metadata']['name']} got {given}, the view says {pod['status']['podIP']}")
        app = [sys.executable, __file__, "app", pod["metadata"]["name"]]
        subprocess.Popen(["ip", "netns", "exec", podnet.netns(uid), *app])
    network.NodeNetwork(this, lambda: FileApi(Path(view_file))).start()
    while True:
        time.sleep(1)


def attempt(host: str, port: int, timeout: float) -> list:
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(max(0.01, timeout - (time.monotonic() - start)))
            conn.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        outcome = answer.decode().split("\r\n\r\n", 1)[-1].strip() if answer else "closed"
    except TimeoutError:
        outcome = "timeout"
    except ConnectionRefusedError:
        outcome = "refused"
    except OSError as error:
        outcome = "reset" if isinstance(error, ConnectionResetError) else f"error {error.errno}"
    return [outcome, round(time.monotonic() - start, 3)]


def udp_attempt(host: str, port: int, timeout: float) -> list:
    """One datagram from a new socket (a new source port: a new conntrack flow), the first answer or the error."""
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))  # connected: an ICMP port unreachable comes back as ECONNREFUSED
            sock.send(b"ping")
            data, peer = sock.recvfrom(2048)
            outcome = data.decode() if peer == (host, port) else f"from {peer[0]}:{peer[1]}"
        except TimeoutError:
            outcome = "timeout"
        except ConnectionRefusedError:
            outcome = "refused"
    return [outcome, round(time.monotonic() - start, 3)]


def udp_probe(host: str, port: str, count: str, timeout: str) -> None:
    print(json.dumps([udp_attempt(host, int(port), float(timeout)) for _attempt in range(int(count))]))


def probe(host: str, port: str, count: str, timeout: str, mode: str) -> None:
    tries = [(host, int(port), float(timeout))] * int(count)
    if mode == "parallel":
        with ThreadPoolExecutor(len(tries)) as pool:
            results = list(pool.map(lambda t: attempt(*t), tries))
    else:
        results = [attempt(*t) for t in tries]
    print(json.dumps(results))


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "app":
        threading.Thread(target=serve_udp, args=(arguments[0], "0.0.0.0"), daemon=True).start()
        serve(arguments[0], "0.0.0.0")
    elif command == "peer":
        serve("{peer}", arguments[0], int(arguments[1]))
    elif command == "udp-probe":
        udp_probe(*arguments)
    elif command == "probe":
        probe(*arguments)
    else:
        node(*arguments)
