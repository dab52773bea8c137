# SPDX-License-Identifier: GPL-3.0-or-later
"""The ingress addon's controller (NGINX ingress as MicroK8s ships it) on every node's ports 80 and 443.

Routing as ingress-nginx does it: the rules of the request's host (exact name, else a `*.` wildcard of one label),
else the rules without a host; among their paths an Exact match, else the longest Prefix (whole path elements) or
ImplementationSpecific (string prefix) match; else an Ingress's `defaultBackend`; else nginx's 404 page. The
backend service's ready endpoints are tried in turn, as ingress-nginx's defaults do it (`proxy-next-upstream`
"error timeout", `proxy-next-upstream-tries` 3, `proxy-connect-timeout` 5 s, all read from the addon's ConfigMap
`ingress/nginx-load-balancer-microk8s-conf` as the controller reads them; per-Ingress annotations are not modelled):
an endpoint that does not answer costs the request the connect timeout before the next one is tried; 504 when the
last try timed out, 502 when it failed otherwise, 503 when the service has no endpoint. Ingresses of
class `public`/`nginx` or without a class are served (MicroK8s watches class-less ingresses too). HTTPS serves the
`spec.tls` secret's certificate for its hosts (SNI) and a self-signed "Kubernetes Ingress Controller Fake
Certificate" otherwise.

Client certificates (ingress-nginx's annotations): `nginx.ingress.kubernetes.io/auth-tls-secret: NS/NAME` makes
the Ingress's hosts ask for one, verified against the secret's `ca.crt` and, when it has one, checked against its
`ca.crl` (ingress-nginx's `ssl_crl`); `auth-tls-verify-client` `on` (the default) answers nginx's 400 "No required
SSL certificate was sent" without one, `optional` lets such requests through, `off` asks for none. The upstream
gets `ssl-client-verify` (SUCCESS / NONE) and `ssl-client-subject-dn`. Differences: a certificate that does not
verify (another CA, revoked, expired) fails the TLS handshake here (Python's ssl has no verify callback), where
nginx completes it and answers 400 "The SSL certificate error"; `optional_no_ca` asks for no certificate;
`auth-tls-verify-depth` is not enforced (the chain must reach ca.crt, as with the default depth 1 for a
directly issued client certificate); an unusable auth-tls secret answers 503 for those hosts.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import proxy

CLASSES = (None, "public", "nginx")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}
PAGE = "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"  # noqa: E501
REASONS = {404: "404 Not Found", 502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable",
           504: "504 Gateway Time-out"}  # fmt: skip
# ingress-nginx's defaults (internal/ingress/controller/config/config.go, the same in v1.11.5 and v1.13.8, the
# MicroK8s 1.28-1.34 addon's images), overridden by the ConfigMap's keys of the same names.
PROXY_CONNECT_TIMEOUT = 5.0
PROXY_NEXT_UPSTREAM_TRIES = 3
NO_CERT_PAGE = ("<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n"
                "<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>"
                "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")  # fmt: skip
AUTH = "nginx.ingress.kubernetes.io/"
DN_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C"}


def ingress_class(ingress: dict) -> str | None:
    annotations = ingress["metadata"].get("annotations") or {}
    return ingress.get("spec", {}).get("ingressClassName") or annotations.get("kubernetes.io/ingress.class")


def backend_ref(ingress: dict, backend: dict) -> tuple[str, str, object]:
    """(namespace, service, port number or name) of a v1 backend (or v1beta1 serviceName/servicePort)."""
    service = backend.get("service")
    if service:
        port = service.get("port", {})
        return ingress["metadata"]["namespace"], service["name"], port.get("number") or port.get("name")
    return ingress["metadata"]["namespace"], backend["serviceName"], backend.get("servicePort")


def host_matches(rule_host: str, host: str) -> bool:
    if rule_host.startswith("*."):
        head, _dot, rest = host.partition(".")
        return bool(head) and rest == rule_host[2:]
    return rule_host == host


def path_matches(rule: dict, path: str) -> bool:
    wanted = rule.get("path") or "/"
    kind = rule.get("pathType", "ImplementationSpecific")
    if kind == "Exact":
        return path == wanted
    if kind == "Prefix":
        base = wanted.rstrip("/")
        return not base or path == base or path.startswith(base + "/")
    return path.startswith(wanted)


def pick(ingresses: list[dict], host: str, path: str) -> tuple[str, str, object] | None:
    """The backend (namespace, service, port) for a request, or None (404)."""
    served = [i for i in ingresses if ingress_class(i) in CLASSES]
    rules = [(i, r) for i in served for r in i.get("spec", {}).get("rules") or []]
    exact = [(i, r) for i, r in rules if r.get("host") == host]
    wildcard = [(i, r) for i, r in rules if (r.get("host") or "").startswith("*.") and host_matches(r["host"], host)]
    chosen = exact or wildcard or [(i, r) for i, r in rules if not r.get("host")]
    candidates = [
        (p.get("pathType") == "Exact", len(p.get("path") or "/"), i, p)
        for i, r in chosen
        for p in (r.get("http") or {}).get("paths") or []
        if path_matches(p, path)
    ]
    if candidates:
        _exact, _length, ingress, best = max(candidates, key=lambda c: (c[0], c[1]))
        return backend_ref(ingress, best["backend"])
    default = next((i for i in served if i.get("spec", {}).get("defaultBackend")), None)
    return backend_ref(default, default["spec"]["defaultBackend"]) if default else None


def endpoints_of(ref: tuple[str, str, object], services: list[dict], endpoints: list[dict]) -> list[proxy.Address]:
    namespace, name, port = ref
    key = (namespace, name)
    service = next((s for s in services if (s["metadata"]["namespace"], s["metadata"]["name"]) == key), None)
    service_port = next(
        (p for p in (service or {}).get("spec", {}).get("ports", []) if port in (p["port"], p.get("name"))), None
    )
    found = next((e for e in endpoints if (e["metadata"]["namespace"], e["metadata"]["name"]) == key), None)
    return proxy.backends(service_port, found) if service_port else []


def tls_hosts(ingresses: list[dict]) -> dict[str, tuple[str, str]]:
    """host -> (namespace, secret name) of the certificate to serve it with."""
    return {
        host: (i["metadata"]["namespace"], tls["secretName"])
        for i in ingresses
        if ingress_class(i) in CLASSES
        for tls in i.get("spec", {}).get("tls") or []
        if tls.get("secretName")
        for host in tls.get("hosts") or []
    }


def auth_tls(ingresses: list[dict]) -> dict[str, tuple[str, str, str]]:
    """host -> (namespace, secret name, verify mode) of the client certificate check its Ingress asks for."""
    found = {}
    for i in ingresses:
        notes = i["metadata"].get("annotations") or {}
        ref, verify = notes.get(AUTH + "auth-tls-secret"), notes.get(AUTH + "auth-tls-verify-client") or "on"
        if ingress_class(i) not in CLASSES or not ref or verify == "off":
            continue
        namespace, _sep, name = ref.rpartition("/")
        spec = i.get("spec") or {}
        hosts = [r.get("host") for r in spec.get("rules") or []]
        hosts += [h for tls in spec.get("tls") or [] for h in tls.get("hosts") or []]
        for host in filter(None, hosts):
            found[host] = (namespace or i["metadata"]["namespace"], name, verify)
    return found


def upstream_settings(config: dict | None) -> tuple[float, int]:
    """(connect timeout in seconds, tries; 0 = every endpoint) from the controller's ConfigMap, as ingress-nginx
    reads `proxy-connect-timeout` (seconds), `proxy-next-upstream-tries` and `proxy-next-upstream` ("off": one try).
    A value it cannot parse keeps the default, as ingress-nginx does (it logs and ignores it)."""
    data = (config or {}).get("data") or {}
    timeout, tries = PROXY_CONNECT_TIMEOUT, PROXY_NEXT_UPSTREAM_TRIES
    with contextlib.suppress(ValueError):
        timeout = float(int(data.get("proxy-connect-timeout", timeout)))
    with contextlib.suppress(ValueError):
        tries = int(data.get("proxy-next-upstream-tries", tries))
    if data.get("proxy-next-upstream", "error timeout").strip() == "off":
        tries = 1
    return timeout, tries


def client_hello_name(data: bytes) -> str | None:
    """The server_name of a TLS ClientHello (None when absent or not parsable): the certificate and the client
    certificate check are chosen per name before the handshake, as nginx picks its server block."""
    try:
        if len(data) < 43 or data[0] != 0x16 or data[5] != 0x01:
            return None
        at = 43  # record header 5 + handshake header 4 + version 2 + random 32
        at += 1 + data[at]  # session id
        at += 2 + int.from_bytes(data[at : at + 2], "big")  # cipher suites
        at += 1 + data[at]  # compression methods
        end = at + 2 + int.from_bytes(data[at : at + 2], "big")
        at += 2
        while at + 4 <= end:
            kind, size = int.from_bytes(data[at : at + 2], "big"), int.from_bytes(data[at + 2 : at + 4], "big")
            if kind == 0:  # server_name: list length 2, type 1 (host_name), length 2, name
                length = int.from_bytes(data[at + 7 : at + 9], "big")
                return data[at + 9 : at + 9 + length].decode("ascii").lower()
            at += 4 + size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


def peek_name(sock, wait: float = 2.0) -> str | None:
    """Peek at the ClientHello (it may arrive in pieces) and return its server name."""
    sock.settimeout(wait)
    seen = b""
    try:
        for _attempt in range(20):
            seen = sock.recv(16384, socket.MSG_PEEK)
            if (len(seen) >= 5 and len(seen) >= 5 + int.from_bytes(seen[3:5], "big")) or not seen:
                break
            time.sleep(0.01)
    except OSError:
        return None
    finally:
        sock.settimeout(None)
    return client_hello_name(seen)


def fake_certificate(directory: Path) -> tuple[Path, Path]:
    """ingress-nginx's default certificate: self-signed, made once per node."""
    cert, key = directory / "fake.crt", directory / "fake.key"
    if not cert.exists():
        directory.mkdir(parents=True, exist_ok=True)
        subject = "/O=Acme Co/CN=Kubernetes Ingress Controller Fake Certificate"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", subject,
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    return cert, key


def secret_context(directory: Path, secret: dict | None, auth: tuple[str, dict | None] | None = None) -> ssl.SSLContext:
    """A server context from a kubernetes.io/tls Secret (files are needed by load_cert_chain; None = the fake
    certificate) and, with `auth` = (verify mode, auth-tls secret), the client certificate check."""
    if secret is None:
        cert, key = fake_certificate(directory)
    else:
        base = directory / f"{secret['metadata']['namespace']}_{secret['metadata']['name']}"
        cert, key = base.with_suffix(".crt"), base.with_suffix(".key")
        cert.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
        key.touch(mode=0o600)
        key.write_bytes(base64.b64decode(secret["data"]["tls.key"]))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if auth is not None:
        verify, auth_secret = auth
        data = (auth_secret or {}).get("data") or {}
        if not data.get("ca.crt"):
            context.auth_tls = "invalid"
            return context
        trust = directory / f"auth_{auth_secret['metadata']['namespace']}_{auth_secret['metadata']['name']}.pem"
        crl = base64.b64decode(data["ca.crl"]) if data.get("ca.crl") else b""
        trust.write_bytes(base64.b64decode(data["ca.crt"]) + b"\n" + crl)
        context.load_verify_locations(cafile=str(trust))  # certificates and CRLs
        context.verify_mode = ssl.CERT_OPTIONAL
        if crl:
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        context.auth_tls = verify
    return context


class IngressController:
    """The listeners and the routing state, replaced as a whole on each `update`."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.view: tuple[list, list, list] = ([], [], [])  # ingresses, services, endpoints
        self.contexts: dict[str, ssl.SSLContext] = {}  # SNI host -> context
        self.cached: dict[tuple, ssl.SSLContext] = {}  # (namespace, name, resourceVersion) -> context
        self.turn = itertools.count()
        self.servers: list[ThreadingHTTPServer] = []
        self.source: str | None = None  # the address backends see (a pod address of the node's CIDR), None: any
        self.connect_timeout, self.tries = PROXY_CONNECT_TIMEOUT, PROXY_NEXT_UPSTREAM_TRIES

    def update(
        self,
        ingresses: list[dict],
        services: list[dict],
        endpoints: list[dict],
        secrets: list[dict],
        config: dict | None = None,
    ) -> None:
        """The routing state from the API's objects; `config` is the controller's ConfigMap."""
        self.connect_timeout, self.tries = upstream_settings(config)
        by_name = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in secrets}
        contexts = {}
        served, clients = tls_hosts(ingresses), auth_tls(ingresses)
        for host in sorted(set(served) | set(clients)):
            secret = by_name.get(served.get(host))
            if not (secret and {"tls.crt", "tls.key"} <= set(secret.get("data") or {})):
                secret = None  # the fake certificate
                if host not in clients:
                    continue
            auth = None
            if host in clients:
                namespace, name, verify = clients[host]
                auth = (verify, by_name.get((namespace, name)))
            used = [s for s in (secret, auth[1] if auth else None) if s]
            version = tuple((s["metadata"]["namespace"], s["metadata"]["name"], s["metadata"].get("resourceVersion"))
                            for s in used) + ((auth[0],) if auth else ())  # fmt: skip
            try:
                contexts[host] = self.cached.get(version) or secret_context(self.directory, secret, auth)
            except (ssl.SSLError, ValueError, OSError) as error:
                print(f"ingress: secrets of {host} unusable: {error}", file=sys.stderr, flush=True)
                continue
            self.cached[version] = contexts[host]
        self.contexts = contexts
        self.view = (ingresses, services, endpoints)

    def listen(self, bind_address: str, http_port: int, https_port: int) -> None:
        cert, key = fake_certificate(self.directory)
        default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        default.load_cert_chain(cert, key)
        default.sni_callback = self.select_certificate
        servers = [serve(self, (bind_address, http_port), None)]
        try:
            servers.append(serve(self, (bind_address, https_port), default))
        except OSError:
            servers[0].shutdown()  # never leave a half-started controller answering 404 on :80
            servers[0].server_close()
            raise
        self.servers = servers

    def select_certificate(self, sock: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        if server_name in self.contexts:
            sock.context = self.contexts[server_name]

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.servers = []

    def targets(self, host: str, path: str) -> tuple[int, list[proxy.Address]]:
        """(0, endpoints in turn order) for a routed request, else (error status, [])."""
        ingresses, services, endpoints = self.view
        ref = pick(ingresses, host, path)
        if ref is None:
            return 404, []
        found = endpoints_of(ref, services, endpoints)
        if not found:
            return 503, []
        start = next(self.turn) % len(found)
        turn = found[start:] + found[:start]
        return 0, turn[: self.tries] if self.tries > 0 else turn


def serve(controller: IngressController, address: tuple[str, int], tls: ssl.SSLContext | None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_one_request(self):
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or not self.parse_request():
                self.close_connection = True
                return
            self.forward()

        def answer(self, status: int, page: str | None = None) -> None:
            body = (page or PAGE.format(REASONS[status])).encode()
            self.send_response(status)
            for name, value in (("Content-Type", "text/html"), ("Content-Length", str(len(body)))):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def forward(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            status, targets = controller.targets(host, self.path.split("?", 1)[0])
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers.update({"X-Real-IP": self.client_address[0], "X-Forwarded-For": self.client_address[0],
                            "X-Forwarded-Host": host, "X-Forwarded-Proto": "https" if tls else "http"})  # fmt: skip
            auth = getattr(self.connection.context, "auth_tls", None) if tls else None
            if auth is not None:
                peer = self.connection.getpeercert()
                if auth == "invalid":
                    self.answer(503)
                    return
                if not peer and auth == "on":
                    self.answer(400, NO_CERT_PAGE)
                    return
                headers["ssl-client-verify"] = "SUCCESS" if peer else "NONE"
                if peer:
                    headers["ssl-client-subject-dn"] = ",".join(
                        f"{DN_NAMES.get(k, k)}={v}" for rdn in reversed(peer.get("subject", ())) for k, v in rdn
                    )
            for target in targets:
                source = (controller.source, 0) if controller.source else None
                upstream = http.client.HTTPConnection(*target, timeout=controller.connect_timeout,
                                                      source_address=source)  # fmt: skip
                try:
                    upstream.connect()
                    upstream.sock.settimeout(60)  # proxy-read-timeout
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                except OSError as error:
                    status = 504 if isinstance(error, TimeoutError) else 502
                    continue
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.answer(status)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request, client_address):
            print(f"ingress: request from {client_address[0]} failed: {sys.exc_info()[1]!r}", file=sys.stderr)

        def finish_request(self, request, client_address):
            """In the connection's own thread: TLS with the context of the ClientHello's server name."""
            if not tls:
                super().finish_request(request, client_address)
                return
            context = controller.contexts.get(peek_name(request) or "", tls)
            wrapped = context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            try:
                super().finish_request(wrapped, client_address)
            finally:
                wrapped.close()

    server = Server(address, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
