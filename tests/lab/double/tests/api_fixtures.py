# SPDX-License-Identifier: GPL-3.0-or-later
"""One API server on a loopback address, backed by an in-memory datastore (api/store.py's MemoryStore): fast
enough for unit tests of the API and of anything that talks to it through kubeclient."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

from microk8s_double import apiserver, certs, default_args, paths, profiles
from microk8s_double.api import store
from microk8s_double.kubeclient import KubeClient
from microk8s_double.node import Node


class ApiFixture:
    def __init__(self, base: Path, version: str = "1.28", authorization_mode: str | None = None,
                 apiserver_lines: tuple[str, ...] = ()):  # fmt: skip
        """`authorization_mode`: written to args/kube-apiserver before the server starts (e.g. "RBAC,Node");
        `apiserver_lines`: lines a user adds to the shipped args/kube-apiserver (e.g. a `--feature-gates`)."""
        self.ip = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.1"
        settings = {"cert_key": "ec", "node_ip": self.ip, "bind_address": self.ip, "snap_root": str(base),
                    "hostname": "node-1", "ports": {"apiserver": random.randint(20000, 40000)}}  # fmt: skip
        where = paths.resolve(settings)
        where.snap.mkdir(parents=True, exist_ok=True)
        (where.snap / profiles.PROFILE_FILE).write_text(json.dumps({"version": profiles.for_track(version).version}))
        self.node = Node(settings, where, profiles.load(where.snap), self.ip, "node-1")
        certs.ensure(self.node)
        if authorization_mode is not None or apiserver_lines:  # the shipped args with lines changed or added
            args = self.node.paths.args("kube-apiserver")
            args.parent.mkdir(parents=True, exist_ok=True)
            shipped = default_args.files(self.node.profile)["kube-apiserver"].splitlines()
            if authorization_mode is not None:  # as `enable rbac` does
                shipped = [line for line in shipped if not line.startswith("--authorization-mode")]
                shipped.append(f"--authorization-mode={authorization_mode}")
            args.write_text("\n".join([*shipped, *apiserver_lines]) + "\n")
        self.store = store.MemoryStore()
        self.server = apiserver.serve(self.node, self.store)
        apiserver.bootstrap_namespaces(self.node, self.store)
        apiserver.bootstrap_policy(self.node, self.store)
        self.client = KubeClient.for_node(self.node)

    def kubeconfig(self, base: Path) -> Path:
        """`microk8s config` pointing at this server."""
        path = base / "kubeconfig"
        text = self.node.paths.credentials("client.config").read_text()
        path.write_text(text.replace("https://127.0.0.1:", f"https://{self.ip}:"))
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def admin_headers(node: Node) -> dict:
    """The admin's Authorization header up to 1.27 (token); none from 1.28 (the client certificate of the
    fixture's client context authenticates)."""
    token = certs.admin_token(node)
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextlib.contextmanager
def api_server(base: Path, version: str = "1.28", authorization_mode: str | None = None,
               apiserver_lines: tuple[str, ...] = ()):  # fmt: skip
    fixture = ApiFixture(base, version, authorization_mode, apiserver_lines)
    try:
        yield fixture
    finally:
        fixture.close()
