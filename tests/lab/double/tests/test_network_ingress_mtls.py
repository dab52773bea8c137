# SPDX-License-Identifier: GPL-3.0-or-later
"""Client certificates at the ingress (ingress-nginx's auth-tls annotations): no certificate, another CA's and a
revoked one (the auth secret's `ca.crl`) are refused, a valid one passes and the upstream learns who it was."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from microk8s_double.network import ingress
from network_fakes import backend, free_port
from test_network_ingress import ing, rule, service_and_endpoints, tls_secret

CONF = """[ca]
default_ca=d
[d]
database={d}/index.txt
new_certs_dir={d}
serial={d}/serial
crlnumber={d}/crlnumber
default_md=sha256
default_days=30
default_crl_days=30
policy=p
unique_subject=no
[p]
organizationName=optional
commonName=supplied
[client]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
"""


def run(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class DeviceCA:
    """A device CA as `openssl ca` keeps one: it signs client certificates, revokes them and publishes a CRL."""

    def __init__(self, base: Path, name: str):
        self.dir = base / name
        self.dir.mkdir()
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text("1000\n")
        (self.dir / "crlnumber").write_text("1000\n")
        (self.dir / "ca.cnf").write_text(CONF.format(d=self.dir))
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
            "-subj", f"/CN={name}", "-keyout", str(self.dir / "ca.key"), "-out", str(self.dir / "ca.crt"))  # fmt: skip

    def device(self, name: str) -> tuple[Path, Path]:
        key, csr, crt = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
            f"/O=devices/CN={name}", "-keyout", str(key), "-out", str(csr))  # fmt: skip
        run("ca", "-batch", "-config", str(self.dir / "ca.cnf"), "-cert", str(self.dir / "ca.crt"), "-keyfile",
            str(self.dir / "ca.key"), "-extensions", "client", "-extfile", str(self.dir / "ca.cnf"), "-in", str(csr),
            "-out", str(crt), "-notext")  # fmt: skip
        return crt, key

    def revoke(self, crt: Path) -> None:
        run("ca", "-config", str(self.dir / "ca.cnf"), "-cert", str(self.dir / "ca.crt"), "-keyfile",
            str(self.dir / "ca.key"), "-revoke", str(crt))  # fmt: skip

    def crl(self) -> bytes:
        out = self.dir / "ca.crl"
        run("ca", "-gencrl", "-config", str(self.dir / "ca.cnf"), "-cert", str(self.dir / "ca.crt"), "-keyfile",
            str(self.dir / "ca.key"), "-out", str(out))  # fmt: skip
        return out.read_bytes()

    def secret(self, crl: bytes | None = None, version: str = "1") -> dict:
        data = {"ca.crt": base64.b64encode((self.dir / "ca.crt").read_bytes()).decode()}
        data.update({"ca.crl": base64.b64encode(crl).decode()} if crl else {})
        return {"metadata": {"name": "device-ca", "namespace": "default", "resourceVersion": version}, "data": data}


def request(port: int, host: str, cert: tuple[Path, Path] | None = None) -> tuple[int, str] | str:
    """(status, body) of GET / over TLS with SNI `host`, or "refused: <error>" when the TLS session fails."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if cert:
        context.load_cert_chain(*cert)
    try:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=host) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
        return f"refused: {error}"
    head, _sep, body = data.decode().partition("\r\n\r\n")
    if not head:
        return "refused: connection closed"
    return int(head.split()[1]), body


@pytest.fixture
def served(tmp_path):
    app, address = backend("app")
    controller = ingress.IngressController(tmp_path / "ingress")
    port = free_port()
    controller.listen("127.0.0.1", free_port(), port)
    yield controller, port, service_and_endpoints("app", address)
    controller.close()
    app.shutdown()


def mtls_ingress(verify=None):
    notes = {"nginx.ingress.kubernetes.io/auth-tls-secret": "default/device-ca"}
    notes.update({"nginx.ingress.kubernetes.io/auth-tls-verify-client": verify} if verify else {})
    made = ing("devices", rule("hello.lab", ("/", "Prefix", "app")),
               tls=[{"hosts": ["hello.lab"], "secretName": "hello-tls"}])  # fmt: skip
    made["metadata"]["annotations"] = notes
    return made


def test_client_certificates_are_required_and_checked_against_the_ca_and_its_crl(tmp_path, served):
    controller, port, (svc, ep) = served
    devices, other = DeviceCA(tmp_path, "devices"), DeviceCA(tmp_path, "elsewhere")
    good, revoked, stranger = devices.device("sensor-1"), devices.device("sensor-2"), other.device("sensor-3")
    server_secret, _der = tls_secret(tmp_path, "hello.lab")
    controller.update([mtls_ingress()], [svc], [ep], [server_secret, devices.secret()])
    status, body = request(port, "hello.lab")
    assert status == 400 and "<center>No required SSL certificate was sent</center>" in body
    assert request(port, "hello.lab", stranger).startswith("refused")
    assert request(port, "hello.lab", good)[0] == 200
    assert request(port, "hello.lab", revoked)[0] == 200  # not revoked yet
    devices.revoke(revoked[0])
    controller.update([mtls_ingress()], [svc], [ep], [server_secret, devices.secret(devices.crl(), "2")])
    assert request(port, "hello.lab", revoked).startswith("refused")
    assert request(port, "hello.lab", good)[0] == 200
    controller.update([mtls_ingress("optional")], [svc], [ep], [server_secret, devices.secret(devices.crl(), "2")])
    assert request(port, "hello.lab")[0] == 200
    assert request(port, "hello.lab", revoked).startswith("refused")


def test_the_upstream_learns_the_verified_client(tmp_path, served):
    controller, port, (svc, ep) = served
    devices = DeviceCA(tmp_path, "devices")
    server_secret, _der = tls_secret(tmp_path, "hello.lab")
    seen = {}
    original = ingress.http.client.HTTPConnection.request

    def spy(self, method, url, body=None, headers=None, **kwargs):
        seen.update(headers or {})
        return original(self, method, url, body=body, headers=headers, **kwargs)

    ingress.http.client.HTTPConnection.request = spy
    try:
        controller.update([mtls_ingress()], [svc], [ep], [server_secret, devices.secret()])
        assert request(port, "hello.lab", devices.device("sensor-1"))[0] == 200
    finally:
        ingress.http.client.HTTPConnection.request = original
    assert seen["ssl-client-verify"] == "SUCCESS" and seen["ssl-client-subject-dn"] == "CN=sensor-1,O=devices"


def test_without_the_annotation_no_certificate_is_asked(tmp_path, served):
    controller, port, (svc, ep) = served
    server_secret, _der = tls_secret(tmp_path, "hello.lab")
    plain = ing("plain", rule("hello.lab", ("/", "Prefix", "app")),
                tls=[{"hosts": ["hello.lab"], "secretName": "hello-tls"}])  # fmt: skip
    controller.update([plain], [svc], [ep], [server_secret])
    assert request(port, "hello.lab")[0] == 200
