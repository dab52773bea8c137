# SPDX-License-Identifier: GPL-3.0-or-later
"""`daemon-cluster-agent` (HTTPS :25000 with certs/server.crt): the join API, `configure` (distributed.py: the
arguments and restarts addon scripts send to every node) and, 1.25+, image import.

Checks and texts follow contract section 6, in the Go agent's order (1.24+) or the Python agent's (1.20-1.23).
"""

from __future__ import annotations

import fcntl
import socket
import subprocess
import time
from pathlib import Path

from . import certs, datastore, distributed, wire
from . import node as node_module
from .node import Node


def refusal(node: Node, kind: str, **values: str) -> tuple[int, dict]:
    """The agent's error for this profile: Python agent (1.20-1.23) texts end with a period, Go ones do not."""
    python_agent = not node.profile.since(24)
    period = "." * python_agent
    texts = {
        "token": (500, "Invalid token"),
        "hostname": (400, 'The hostname ({hostname}) of the joining node does not resolve to the IP "{ip}". '
                          "Refusing join"),
        "not_ha": (501, "Not possible to join. This is not an HA MicroK8s "
                        + ("dqlite cluster." if python_agent else "cluster")),
        "port": (502, "The port of the cluster agent port has to be set to {port}"),
        "same_ip": (503, "The joining node has the same IP ({ip}) as the node we contact" + period),
        "known": (500, "Failed to retrieve dqlite cluster nodes: the joining node ({ip}) is already known to dqlite")
        if node.profile.since(29) else (504, "The joining node ({ip}) is already known to dqlite" + period),
    }  # fmt: skip
    status, text = texts[kind]
    return status, {"error": text.format(**values)}


def consume_token(node: Node, token: str) -> bool:
    """Tokens without expiry are single use (gone even if the join then fails); `token|expiry` lines are reusable
    until they expire; persistent tokens (launch configurations) always hold."""
    persistent = node.paths.credentials("persistent-cluster-tokens.txt")
    if persistent.exists() and token in persistent.read_text().split():
        return True
    path = node.paths.credentials("cluster-tokens.txt")
    if not path.exists():
        return False
    with open(path, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = handle.read().splitlines()
        valid = token in lines or any(
            line.startswith(f"{token}|") and float(line.split("|")[1]) > time.time() for line in lines
        )
        if token in lines:
            handle.seek(0)
            handle.truncate()
            handle.write("".join(f"{line}\n" for line in lines if line != token))
    return valid


def resolves_to(hostname: str, ip: str, hosts_file: str | None) -> bool:
    """The Go agent's check, with this node's resolver (or a hosts file of the double's settings)."""
    if hosts_file:
        entries = [line.split("#")[0].split() for line in Path(hosts_file).read_text().splitlines()]
        return any(entry[0] == ip and hostname in entry[1:] for entry in entries if entry)
    try:
        return ip in {info[4][0] for info in socket.getaddrinfo(hostname, None)}
    except socket.gaierror:
        return False


class Agent:
    def __init__(self, node: Node):
        self.node = node

    def join(self, request: wire.Request):
        try:
            return self.checked_join(request)
        except datastore.DatastoreError as error:
            return 500, {"error": f"Failed to retrieve dqlite cluster nodes: {error}"}

    def checked_join(self, request: wire.Request):
        node, body, ip = self.node, request.json(), request.client_ip
        if not consume_token(node, body.get("token", "")):
            return refusal(node, "token")
        if node.profile.since(24) and not resolves_to(body.get("hostname", ""), ip, node.settings.get("hosts_file")):
            return refusal(node, "hostname", hostname=body.get("hostname", ""), ip=ip)
        if not node.paths.lock("ha-cluster").exists():
            return refusal(node, "not_ha")
        if int(body.get("port", 25000)) != node.port("cluster_agent"):
            return refusal(node, "port", port=str(node.port("cluster_agent")))
        if node.profile.since(21) and ip == request.local_ip:
            return refusal(node, "same_ip", ip=ip)
        members = datastore.execute(node, [{"op": "members"}])[0]
        address = f"{ip}:{node.port('dqlite')}"
        if node.profile.since(21) and any(m["Address"] == address for m in members):
            return refusal(node, "known", ip=ip)
        answer = self.credentials()
        if body.get("worker"):
            answer["control_plane_nodes"] = self.api_endpoints(members)
        else:
            answer.update(datastore.execute(node, [{"op": "join", "address": address}])[0])
        node.paths.lock("no-cert-reissue").touch()
        return 200, answer

    def credentials(self) -> dict:
        paths = self.node.paths
        return {
            "ca": paths.cert("ca.crt").read_text(),
            "ca_key": paths.cert("ca.key").read_text(),
            "admin_token": certs.admin_token(self.node),
            "apiport": self.node.port("apiserver"),
            "callback_token": distributed.callback_token(self.node, create=True),
        }

    def api_endpoints(self, members: list[dict]) -> list[str]:
        port = self.node.port("apiserver")
        hosts = [m["Address"].rsplit(":", 1)[0] for m in members]
        return [f"{self.node.ip if h == '127.0.0.1' else h}:{port}" for h in hosts]

    def import_images(self, request: wire.Request):
        """1.25+: the body is an image archive, imported into this node's containerd with the snap's own ctr
        (`$SNAP/bin/ctr`); its failure, or failing to run it at all, answers 500 with the error."""
        command = [
            str(self.node.paths.snap / "bin" / "ctr"),
            "--address",
            str(self.node.paths.containerd_socket),
            "--namespace",
            "k8s.io",
            "image",
            "import",
            "-",
        ]
        try:
            done = subprocess.run(command, input=request.body, capture_output=True, check=False)
        except OSError as error:
            return 500, {"error": f"ctr: {error}"}
        if done.returncode:
            return 500, {"error": (done.stderr or done.stdout).decode(errors="replace").strip()}
        return 200, {"output": done.stdout.decode(errors="replace")}

    def routes(self, method: str, path: str):
        if method != "POST":
            return None
        if path in ("/cluster/api/v2.0/join", "/cluster/api/v1.0/join"):
            return self.join
        if path == "/cluster/api/v2.0/image/import" and self.node.profile.since(25):
            return self.import_images
        if path == "/cluster/api/v1.0/configure":
            return lambda request: distributed.handle_configure(self.node, request.json())
        return None


def main() -> int:
    node = node_module.current()
    certs.ensure(node)
    agent = Agent(node)
    wire.serve((node.bind_address, node.port("cluster_agent")), agent.routes, tls=lambda: certs.server_context(node))
    while True:
        time.sleep(3600)
