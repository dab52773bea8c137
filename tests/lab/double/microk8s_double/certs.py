# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificates and credentials a node holds, made with the openssl CLI as the real snap does.

CA `certs/ca.{crt,key}`, the node's `certs/server.{crt,key}` (cluster agent and API server), the admin token in
`credentials/known_tokens.csv` and the kubeconfig `credentials/client.config` that `microk8s config` prints.

The server certificate comes from `certs/csr.conf` as `actions/common/utils.sh` makes it: the install hook copies
`csr.conf.template` (users add `IP.<n>`/`DNS.<n>` lines under `[ alt_names ]` there), `render_csr_conf` replaces
`#MOREIPS` with the host's addresses into `csr.conf.rendered`, `refresh_csr_conf` copies that to `csr.conf`, and
`gen_server_cert` signs a CSR of the kept `server.key` with the `v3_ext` section of `csr.conf`.
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
SERVER_DAYS = "365"  # gen_server_cert: `-days 365`
SERVICE_IP = "10.152.183.1"
# microk8s-resources/certs/csr.conf.template (the same in every release branch 1.20..HEAD)
CSR_CONF_TEMPLATE = """\
[ req ]
default_bits = 2048
prompt = no
default_md = sha256
req_extensions = req_ext
distinguished_name = dn

[ dn ]
C = GB
ST = Canonical
L = Canonical
O = Canonical
OU = Canonical
CN = 127.0.0.1

[ req_ext ]
subjectAltName = @alt_names

[ alt_names ]
DNS.1 = kubernetes
DNS.2 = kubernetes.default
DNS.3 = kubernetes.default.svc
DNS.4 = kubernetes.default.svc.cluster
DNS.5 = kubernetes.default.svc.cluster.local
IP.1 = 127.0.0.1
IP.2 = 10.152.183.1
#MOREIPS

[ v3_ext ]
authorityKeyIdentifier=keyid,issuer:always
basicConstraints=CA:FALSE
keyUsage=keyEncipherment,dataEncipherment,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=@alt_names

"""


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
        if not node.paths.cert("csr.conf.template").exists():
            node.paths.cert("csr.conf.template").write_text(CSR_CONF_TEMPLATE)
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


def render_csr_conf(template: str, ips: list[str]) -> str:
    """`render_csr_conf`: `#MOREIPS` becomes `IP.<n> = <ip>` per address, n from 3 skipping ids the template uses."""
    if not ips or ips == ["127.0.0.1"]:
        return template.replace("#MOREIPS", "")
    lines, n = [], 3
    used = {line.split("=", 1)[0].strip() for line in template.splitlines() if line.startswith("IP.")}
    for ip in ips:
        while f"IP.{n}" in used:
            n += 1
        lines.append(f"IP.{n} = {ip}")
        n += 1
    return template.replace("#MOREIPS", "\n".join(lines))


def node_ips(node: Node) -> list[str]:
    """`get_ips`: `hostname -I` (the double has no CNI interfaces to leave out), plus the double's own node address."""
    try:
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        found = []
    return list(dict.fromkeys([*found, node.ip])) if found or node.ip != "127.0.0.1" else []


def refresh_csr_conf(node: Node) -> None:
    """`refresh_csr_conf`: render the template to `csr.conf.rendered` and copy it to `csr.conf`."""
    template = node.paths.cert("csr.conf.template")
    if not template.exists():
        template.write_text(CSR_CONF_TEMPLATE)
    rendered = render_csr_conf(template.read_text(), node_ips(node))
    node.paths.cert("csr.conf.rendered").write_text(rendered)
    node.paths.cert("csr.conf").write_text(rendered)


def gen_server_cert(node: Node) -> None:
    """`gen_server_cert`: a CSR of `server.key` (made once) from `csr.conf`, signed with its `v3_ext` section."""
    key, crt, conf = node.paths.cert("server.key"), node.paths.cert("server.crt"), node.paths.cert("csr.conf")
    with tempfile.TemporaryDirectory() as work:
        csr = Path(work) / "server.csr"
        make_key = ["-key", str(key)] if key.exists() else [*new_key(node), "-nodes", "-keyout", str(key)]
        openssl("req", "-new", "-sha256", *make_key, "-out", str(csr), "-config", str(conf))
        openssl("x509", "-req", "-sha256", "-in", str(csr), "-CA", str(node.paths.cert("ca.crt")),
                "-CAkey", str(node.paths.cert("ca.key")), "-CAcreateserial", "-out", str(crt),
                "-days", SERVER_DAYS, "-extensions", "v3_ext", "-extfile", str(conf))  # fmt: skip


def issue_server_cert(node: Node) -> None:
    """A server certificate signed by the node's CA from the freshly rendered csr.conf (install, join, leave)."""
    refresh_csr_conf(node)
    gen_server_cert(node)


def server_alt_names(node: Node) -> list[str]:
    """The server certificate's subjectAltName entries as openssl prints them (`IP Address:10.0.0.1`, `DNS:x`)."""
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(node.paths.cert("server.crt"))],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [name.strip() for line in out.splitlines()[1:] for name in line.split(",") if name.strip()]


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
