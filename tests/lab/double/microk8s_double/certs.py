# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificates and credentials a node holds, made with the openssl CLI as the real snap does.

CA `certs/ca.{crt,key}`, the node's `certs/server.{crt,key}` (cluster agent and API server), the ServiceAccount
key `certs/serviceaccount.key`, the credentials (up to 1.27 the tokens of `credentials/known_tokens.csv`, from 1.28
client certificates `certs/{client,controller,scheduler,proxy,kubelet}.{crt,key}`) and the kubeconfigs, among them
`credentials/client.config` (the admin's) that `microk8s config` prints.

The server certificate comes from `certs/csr.conf` as `actions/common/utils.sh` makes it: the install hook copies
`csr.conf.template` (users add `IP.<n>`/`DNS.<n>` lines under `[ alt_names ]` there), `render_csr_conf` replaces
`#MOREIPS` with the host's addresses into `csr.conf.rendered`, `refresh_csr_conf` copies that to `csr.conf`, and
`gen_server_cert` signs a CSR of the kept `server.key` with the `v3_ext` section of `csr.conf`.
"""

from __future__ import annotations

import base64
import csv
import fcntl
import hashlib
import secrets
import ssl
import subprocess
import tempfile
from collections.abc import Callable
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
        if not node.paths.cert(SERVICE_ACCOUNT_KEY).exists():
            make_service_account_key(node)
        if not node.paths.credentials("client.config").exists():
            write_credentials(node)


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


def new_token() -> str:
    """The install hook's `openssl rand -base64 32 | base64`: base64 of 32 random bytes' base64 line."""
    return base64.b64encode(base64.b64encode(secrets.token_bytes(32)) + b"\n").decode()


def token_auth(node: Node) -> bool:
    """Token credentials (known_tokens.csv, `--token-auth-file`) up to 1.27; x509 client certificates from 1.28."""
    return not node.profile.since(28)


def write_credentials(node: Node, admin: str | None = None) -> None:
    """The install hook's credentials: up to 1.27 `known_tokens.csv` (admin, kube-proxy, kubelet, controller,
    scheduler) and token kubeconfigs; from 1.28 `create_user_certs_and_configs` (x509 client certificates signed by
    the CA, `client.config` = CN=admin,O=system:masters). `admin` keeps a given admin token (join)."""
    node.paths.credentials("").mkdir(parents=True, exist_ok=True)
    if token_auth(node):
        write_known_tokens(node, admin)
    else:
        create_user_certs_and_configs(node)


def write_known_tokens(node: Node, admin: str | None = None) -> None:
    hostname = node.hostname.lower()
    users = {"admin": (admin or new_token(), 'admin,admin,"system:masters"'),
             "kubeproxy": (new_token(), "system:kube-proxy,kube-proxy"),
             "kubelet": (new_token(), f'system:node:{hostname},kubelet-0,"system:nodes"'),
             "controller": (new_token(), "system:kube-controller-manager,controller"),
             "scheduler": (new_token(), "system:kube-scheduler,scheduler")}  # fmt: skip
    tokens = node.paths.credentials("known_tokens.csv")
    tokens.write_text("".join(f"{token},{rest}\n" for token, rest in users.values()))
    for name, config in (("admin", "client"), ("controller", "controller"), ("scheduler", "scheduler"),
                         ("kubelet", "kubelet"), ("kubeproxy", "proxy")):  # fmt: skip
        node.paths.credentials(f"{config}.config").write_text(kubeconfig(node, name, f"token: {users[name][0]}"))


def kubeconfig(node: Node, user: str, credential: str) -> str:
    """`client.config.template` / `client-x509.config.template` filled in (CA embedded, server 127.0.0.1)."""
    ca_data = base64.b64encode(node.paths.cert("ca.crt").read_bytes()).decode()
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {ca_data}\n"
        f"    server: https://127.0.0.1:{node.port('apiserver')}\n"
        f"  name: microk8s-cluster\ncontexts:\n- context:\n    cluster: microk8s-cluster\n    user: {user}\n"
        f"  name: microk8s\ncurrent-context: microk8s\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n"
        f"  user:\n    {credential}\n"
    )


# create_user_certificates: file stem -> subject (kubelet's gets the node's name)
USER_CERTS = {"client": "/CN=admin/O=system:masters", "proxy": "/CN=system:kube-proxy",
              "scheduler": "/CN=system:kube-scheduler", "controller": "/CN=system:kube-controller-manager",
              "apiserver-kubelet-client": "/CN=kube-apiserver-kubelet-client/O=system:masters"}  # fmt: skip
USER_CONFIGS = {"client": "admin", "controller": "system:kube-controller-manager",
                "scheduler": "system:kube-scheduler", "proxy": "system:kube-proxy"}  # fmt: skip


def create_user_certs_and_configs(node: Node) -> None:
    """`create_user_certs_and_configs` (1.28+): keys kept, certificates (3650 days, no extensions) signed by the CA,
    kubeconfigs with the certificate and key embedded."""
    subjects = dict(USER_CERTS, kubelet=f"/CN=system:node:{node.hostname.lower()}/O=system:nodes")
    for stem, subject in subjects.items():
        sign_user_cert(node, stem, subject)
    configs = dict(USER_CONFIGS, kubelet=f"system:node:{node.hostname.lower()}")
    for stem, user in configs.items():
        cert = base64.b64encode(node.paths.cert(f"{stem}.crt").read_bytes()).decode()
        key = base64.b64encode(node.paths.cert(f"{stem}.key").read_bytes()).decode()
        credential = f"client-certificate-data: {cert}\n    client-key-data: {key}"
        node.paths.credentials(f"{'client' if stem == 'client' else stem}.config").write_text(
            kubeconfig(node, user, credential)
        )


def sign_user_cert(node: Node, stem: str, subject: str) -> None:
    """`generate_csr SUBJECT KEY | sign_certificate > CRT`."""
    key, crt = node.paths.cert(f"{stem}.key"), node.paths.cert(f"{stem}.crt")
    with tempfile.TemporaryDirectory() as work:
        csr = Path(work) / "req.csr"
        make_key = ["-key", str(key)] if key.exists() else [*new_key(node), "-nodes", "-keyout", str(key)]
        openssl("req", "-new", "-sha256", "-subj", subject, *make_key, "-out", str(csr))
        key.chmod(0o600)
        (Path(work) / "ext").write_text("")
        openssl("x509", "-req", "-sha256", "-in", str(csr), "-CA", str(node.paths.cert("ca.crt")),
                "-CAkey", str(node.paths.cert("ca.key")), "-CAcreateserial", "-days", DAYS, "-out", str(crt),
                "-extfile", str(Path(work) / "ext"))  # fmt: skip


SERVICE_ACCOUNT_KEY = "serviceaccount.key"


def make_service_account_key(node: Node) -> None:
    """`produce_certs`: `openssl genrsa -out serviceaccount.key 2048` (ServiceAccount tokens are RS256)."""
    openssl("genrsa", "-out", str(node.paths.cert(SERVICE_ACCOUNT_KEY)), "2048")


def known_tokens(node: Node) -> list[list[str]]:
    """The rows of `credentials/known_tokens.csv` (token, user, uid, groups), none when the file is absent."""
    path = node.paths.credentials("known_tokens.csv")
    if not path.exists():
        return []
    return [row for row in csv.reader(path.read_text().splitlines()) if len(row) >= 3]


def admin_token(node: Node) -> str | None:
    """The admin token of known_tokens.csv (up to 1.27), None without one (1.28+: x509)."""
    return next((row[0] for row in known_tokens(node) if row[1:3] == ["admin", "admin"]), None)


def admin_cert(node: Node) -> tuple[str, str] | None:
    """(certificate, key) paths of the admin client certificate (1.28+), None without one."""
    crt, key = node.paths.cert("client.crt"), node.paths.cert("client.key")
    return (str(crt), str(key)) if crt.exists() and key.exists() and not admin_token(node) else None


_CONTEXTS: dict[tuple, ssl.SSLContext] = {}


def cached_context(purpose: str, files, build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """`build()`'s context for `purpose`, made again only when one of `files` changed (size, mtime, inode), as a
    join or `refresh-certs` rewrites them: kube-apiserver and client-go reload changed certificate files too. Loading
    the certificate, key and CA for every connection was a good part of an idle lab node's CPU."""
    try:
        key = (purpose, *((str(path), *_version(Path(path))) for path in files))
    except OSError:  # a file being replaced: no cache this time
        return build()
    context = _CONTEXTS.get(key)
    if context is None:
        if len(_CONTEXTS) > 64:
            _CONTEXTS.clear()
        context = _CONTEXTS[key] = build()
    return context


def _version(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def server_context(node: Node) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(node.paths.cert("server.crt"), node.paths.cert("server.key"))
    return context


def adopt_cluster(node: Node, answer: dict) -> None:
    """A joining node takes the cluster's CA (and ServiceAccount key), reissues its server certificate and rebuilds
    its credentials: the cluster's admin token when the answer has one (token auth, join.py
    `rebuild_token_based_auth_configs`), else new client certificates from the cluster's CA
    (`rebuild_x509_auth_client_configs`)."""
    node.paths.cert("ca.crt").write_text(answer["ca"])
    node.paths.cert("ca.key").write_text(answer["ca_key"])
    if answer.get("service_account_key"):
        node.paths.cert(SERVICE_ACCOUNT_KEY).write_text(answer["service_account_key"])
    issue_server_cert(node)
    if answer.get("admin_token"):
        write_known_tokens(node, answer["admin_token"])
    else:
        node.paths.credentials("known_tokens.csv").unlink(missing_ok=True)
        create_user_certs_and_configs(node)


def reset(node: Node) -> None:
    """New CA, certificates, ServiceAccount key and credentials, as `leave` does ("Generating new cluster
    certificates.")."""
    make_ca(node)
    make_service_account_key(node)
    issue_server_cert(node)
    write_credentials(node)
