# SPDX-License-Identifier: GPL-3.0-or-later
"""Device credentials: against a local TLS server that requires a client certificate from the device CA (as the
ingress does for apps published with client_auth), the v2 client and the queue upload are refused without the
device's certificate and accepted with it; the CLI takes them from flags or the environment."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from onprem_device import cli
from onprem_device.cascade import Device
from onprem_device.client import OffloadError, V2Client, tls_context
from onprem_device.model import DeviceModel
from onprem_device.spool import Spool


def _issue(tmp, stem, subject, issuer_key=None, issuer_name=None, ca=False, usage=None, ip=None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    (tmp / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{stem}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key, name


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A server CA (ca.pem, what devices trust), a device CA and two device certificates: one from the device CA,
    one self-signed (a device the ingress does not know)."""
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, ca_name = _issue(tmp, "ca", "test server CA", ca=True)
    _issue(tmp, "server", "127.0.0.1", ca_key, ca_name, usage=ExtendedKeyUsageOID.SERVER_AUTH, ip="127.0.0.1")
    dev_ca_key, dev_ca_name = _issue(tmp, "device-ca", "test device CA", ca=True)
    _issue(tmp, "sensor1", "sensor1", dev_ca_key, dev_ca_name, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    _issue(tmp, "stranger", "stranger", usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return tmp


def require_client_cert(server, pki):
    """Turn a loopback http.server into https requiring a certificate from the device CA (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "device-ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return f"https://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def mtls_server(new_fake_server, pki):
    fake = new_fake_server()
    fake.url = require_client_cert(fake.server, pki)
    with fake:
        yield fake


def creds(pki, device="sensor1"):
    return {
        "ca_file": str(pki / "ca.pem"),
        "cert_file": str(pki / f"{device}.pem"),
        "key_file": str(pki / f"{device}.key"),
    }


def test_without_a_device_certificate_the_service_refuses(mtls_server, pki, trained):
    client = V2Client(mtls_server.url, timeout=2, ca_file=str(pki / "ca.pem"))
    assert client.ready() is False
    with pytest.raises(OffloadError):
        client.infer("digits", trained["x"][0].tolist())
    assert mtls_server.requests == 0


def test_a_certificate_the_device_ca_did_not_issue_is_refused(mtls_server, pki):
    assert V2Client(mtls_server.url, timeout=2, **creds(pki, "stranger")).ready() is False


def test_with_the_device_certificate_the_service_answers(mtls_server, pki, trained):
    client = V2Client(mtls_server.url, timeout=2, **creds(pki))
    assert client.ready() and client.model_ready("digits")
    result = client.infer("digits", trained["x"][0].tolist())
    assert result.label == int(trained["server"].predict([trained["x"][0]])[0])
    model = DeviceModel.load(trained["dir"] / "device")
    answer = Device(model, client, policy="server").answer(trained["x"][1])
    assert answer.path == "server" and mtls_server.requests == 2


def test_the_cli_takes_credentials_from_flags_and_environment(mtls_server, pki, capsys, monkeypatch):
    for name in ("SERVER", "CA_FILE", "CERT_FILE", "KEY_FILE"):
        monkeypatch.delenv(f"ONPREM_DEVICE_{name}", raising=False)
    assert cli.main(["check", "--server", mtls_server.url, "--ca-file", str(pki / "ca.pem")]) == 1
    assert json.loads(capsys.readouterr().out)["ready"] is False
    c = creds(pki)
    flags = ["--ca-file", c["ca_file"], "--cert-file", c["cert_file"], "--key-file", c["key_file"]]
    assert cli.main(["check", "--server", mtls_server.url, *flags]) == 0
    assert json.loads(capsys.readouterr().out)["model_ready"] is True
    monkeypatch.setenv("ONPREM_DEVICE_SERVER", mtls_server.url)
    for name, value in c.items():
        monkeypatch.setenv(f"ONPREM_DEVICE_{name.upper()}", value)
    assert cli.main(["check"]) == 0


def test_the_queue_upload_presents_the_device_certificate(pki, tmp_path):
    sink = tmp_path / "feedback.jsonl"
    server = cli.make_collector("127.0.0.1", 0, sink)
    url = require_client_cert(server, pki) + "/feedback"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spool = Spool(tmp_path / "spool.db", device_id="sensor1")
    spool.put([0.0] * 64, 3, 5, 0.4, "v1")
    try:
        assert spool.upload(url, timeout=2, ca_file=str(pki / "ca.pem")) == 0  # refused: kept for later
        assert len(spool) == 1
        assert spool.upload(url, timeout=2, **creds(pki)) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert len(spool) == 0 and json.loads(sink.read_text())["device"] == "sensor1"


def test_bad_credentials_are_clear_errors(pki, tmp_path):
    with pytest.raises(ValueError, match="without its certificate"):
        tls_context(str(pki / "ca.pem"), None, str(pki / "sensor1.key"))
    with pytest.raises(ValueError, match=r"sensor1\.pem") as caught:
        tls_context(str(pki / "ca.pem"), str(pki / "sensor1.pem"), str(pki / "stranger.key"))  # key does not match
    assert "PRIVATE KEY" not in str(caught.value)
    with pytest.raises(ValueError, match="https"):
        V2Client("http://127.0.0.1:8080", **creds(pki))


def test_simulated_devices_offload_over_mutual_tls(mtls_server, pki, trained):
    from onprem_device import loadtest

    model = DeviceModel.load(trained["dir"] / "device")
    x, y = trained["x"][:40], trained["y"][:40]
    result = loadtest.devices(mtls_server.url, model, x, y, "digits", 2.0, 2, 1.0, 0.0, tls=creds(pki))
    paths = {answer["path"] for answer in result["answers"]}
    assert "server" in paths and "fallback" not in paths and "error" not in paths
