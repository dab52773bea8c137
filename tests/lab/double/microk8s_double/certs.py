# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificates and credentials a node holds, made with the openssl CLI as the real snap does.

CA `certs/ca.{crt,key}`, the node's `certs/server.{crt,key}` (cluster agent and API server), the admin token in
`credentials/known_tokens.csv` and the kubeconfig `credentials/client.config` that `microk8s config` prints.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import secrets
import ssl
import subprocess
import tempfile
from pathlib import Path

from .node import Node

DAYS = "3650"
SERVICE_IP = "10.152.183.1"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def fingerprint(cert_pem: str) -> str:
    """The join URL's fingerprint: sha256 of the DER certificate, hex."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem)).hexdigest()


def ensure(node: Node) -> None:
    """Everything a fresh node has after the install hook; keeps what exists (safe for daemons starting at once)."""
    node.paths.cert("ca.crt").parent.mkdir(parents=True, exist_ok=True)
    with open(node.paths.cert(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not node.paths.cert("ca.crt").exists():
            make_ca(node)
        if not node.paths.cert("server.crt").exists():
            issue_server_cert(node)
        if not node.paths.credentials("known_tokens.csv").exists():
            write_credentials(node, secrets.token_hex(16))


def new_key(node: Node) -> list[str]:
    """RSA 2048 as the real snap; the suite may ask for EC keys (`cert_key: "ec"`), much faster to make."""
    kind = node.settings.get("cert_key", "rsa:2048")
    return ["-newkey", kind] + (["-pkeyopt", "ec_paramgen_curve:prime256v1"] if kind == "ec" else [])


def make_ca(node: Node) -> None:
    ca_key, ca_crt = str(node.paths.cert("ca.key")), str(node.paths.cert("ca.crt"))
    openssl("req", "-x509", *new_key(node), "-nodes", "-sha256", "-days", DAYS, "-subj", "/CN=10.152.183.1",
            "-keyout", ca_key, "-out", ca_crt)  # fmt: skip


def issue_server_cert(node: Node) -> None:
    """A server certificate signed by the node's CA, for the node's addresses and the in-cluster names."""
    names = [f"IP:{ip}" for ip in dict.fromkeys(["127.0.0.1", SERVICE_IP, node.ip])]
    names += [f"DNS:{name}" for name in ("kubernetes", "kubernetes.default", "kubernetes.default.svc", node.hostname)]
    key, crt = node.paths.cert("server.key"), node.paths.cert("server.crt")
    with tempfile.TemporaryDirectory() as work:
        csr, ext = Path(work) / "server.csr", Path(work) / "ext.cnf"
        ext.write_text(f"subjectAltName={','.join(names)}\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl("req", "-new", *new_key(node), "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
                "-out", str(csr))  # fmt: skip
        openssl(
            "x509",
            "-req",
            "-sha256",
            "-days",
            DAYS,
            "-in",
            str(csr),
            "-CA",
            str(node.paths.cert("ca.crt")),
            "-CAkey",
            str(node.paths.cert("ca.key")),
            "-CAcreateserial",
            "-extfile",
            str(ext),
            "-out",
            str(crt),
        )


def write_credentials(node: Node, token: str) -> None:
    """The admin token (API server side) and the kubeconfig carrying it (client side)."""
    tokens = node.paths.credentials("known_tokens.csv")
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text(f'{token},admin,admin,"system:masters"\n')
    ca_data = base64.b64encode(node.paths.cert("ca.crt").read_bytes()).decode()
    node.paths.credentials("client.config").write_text(
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {ca_data}\n"
        f"    server: https://127.0.0.1:{node.port('apiserver')}\n"
        "  name: microk8s-cluster\ncontexts:\n- context:\n    cluster: microk8s-cluster\n    user: admin\n"
        "  name: microk8s\ncurrent-context: microk8s\nkind: Config\npreferences: {}\nusers:\n- name: admin\n"
        f"  user:\n    token: {token}\n"
    )


def admin_token(node: Node) -> str:
    return node.paths.credentials("known_tokens.csv").read_text().split(",", 1)[0]


def server_context(node: Node) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(node.paths.cert("server.crt"), node.paths.cert("server.key"))
    return context


def adopt_cluster(node: Node, ca_crt: str, ca_key: str, token: str) -> None:
    """A joining node takes the cluster's CA and admin token and reissues its own server certificate."""
    node.paths.cert("ca.crt").write_text(ca_crt)
    node.paths.cert("ca.key").write_text(ca_key)
    issue_server_cert(node)
    write_credentials(node, token)


def reset(node: Node) -> None:
    """New CA, certificate and token, as `leave` does ("Generating new cluster certificates.")."""
    make_ca(node)
    issue_server_cert(node)
    write_credentials(node, secrets.token_hex(16))
