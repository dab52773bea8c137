# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager's ACME issuer in the double against a real ACME server: Let's Encrypt's `pebble` (Debian package)
on loopback, its `-dnsserver` the lab's DNS server (tests/lab/labkit/labdns.py: A records, RFC 2136 updates with
TSIG). HTTP-01 is validated by pebble through the double's ingress controller (the solver's Ingress routes
/.well-known/acme-challenge/<token>); DNS-01 by the TXT record the double adds with a TSIG-signed update. The
controller's `reconcile` is called as the lease holder's rounds do, with the real clock."""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from api_fixtures import api_server
from microk8s_double.api import certmanager
from microk8s_double.controllers import certmanager as controller
from microk8s_double.network import ingress
from network_fakes import free_port

pytest.importorskip("acme")
pytest.importorskip("dns.update")
pytestmark = pytest.mark.skipif(shutil.which("pebble") is None, reason="pebble (Debian package) is not installed")

LABDNS = Path(__file__).resolve().parents[2] / "labkit" / "labdns.py"
TSIG = base64.b64encode(b"lab-tsig-secret-for-acme-updates").decode()


def wait_port(port: int, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def acme_lab(tmp_path):
    """pebble (its directory on TLS signed by a CA of the test), the DNS server, the ingress on pebble's httpPort."""
    work = tmp_path / "acme"
    work.mkdir()
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test ACME CA",
        "-keyout",
        f"{work}/ca.key",
        "-out",
        f"{work}/ca.pem",
    )
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        f"{work}/tls.key",
        "-out",
        f"{work}/tls.csr",
    )
    (work / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        f"{work}/tls.csr",
        "-CA",
        f"{work}/ca.pem",
        "-CAkey",
        f"{work}/ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        f"{work}/ext",
        "-out",
        f"{work}/tls.pem",
    )
    dns_port, acme_port, manage_port, http_port = free_port(), free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{manage_port}",
            "certificate": f"{work}/tls.pem",
            "privateKey": f"{work}/tls.key",
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (work / "pebble.json").write_text(json.dumps(config))
    log = work / "dns.log"
    dns = subprocess.Popen(
        [
            sys.executable,
            str(LABDNS),
            "--listen",
            f"127.0.0.1:{dns_port}",
            "--zone",
            "home.arpa",
            "--record",
            "*.home.arpa=127.0.0.1",
            "--tsig",
            f"acme-update:hmac-sha256:{TSIG}",
            "--log",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
    )
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
    with (work / "pebble.log").open("w") as pebble_log:
        pebble = subprocess.Popen(
            ["pebble", "-config", str(work / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
            env=env,
            stdout=pebble_log,
            stderr=subprocess.STDOUT,
        )
    served = ingress.IngressController(work / "ingress")
    try:
        wait_port(dns_port, "the lab DNS server")
        wait_port(acme_port, "pebble")
        served.listen("127.0.0.1", http_port, free_port())
        yield {
            "work": work,
            "server": f"https://127.0.0.1:{acme_port}/dir",
            "manage": manage_port,
            "dns": dns_port,
            "dns_log": log,
            "ingress": served,
            "ca_bundle": base64.b64encode((work / "ca.pem").read_bytes()).decode(),
        }
    finally:
        served.close()
        for process in (pebble, dns):
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        fixture.client.create(
            "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}
        )
        for crd in certmanager.crd_objects():
            fixture.client.create("customresourcedefinitions", crd)
        yield fixture


def acme_issuer(lab, name, solver):
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {
            "acme": {
                "server": lab["server"],
                "email": "admin@home.arpa",
                "caBundle": lab["ca_bundle"],
                "privateKeySecretRef": {"name": f"{name}-account"},
                "solvers": [solver],
            }
        },
    }


def certificate(name, host, issuer):
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "secretName": f"{name}-tls",
            "dnsNames": [host],
            "privateKey": {"algorithm": "ECDSA"},
            "issuerRef": {"name": issuer, "kind": "ClusterIssuer"},
        },
    }


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def run_until_issued(api, lab, name, timeout=40.0):
    """Controller rounds (and the ingress controller's view of the objects) until the Certificate is Ready or its
    issuance failed; returns what was seen on the way (kinds of objects by name)."""
    client, seen = api.client, {"ingresses": {}, "challenges": {}, "orders": {}}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        controller.reconcile(client, datetime.datetime.now(datetime.timezone.utc))
        ingresses = client.list("ingresses")
        lab["ingress"].update(ingresses, client.list("services"), client.list("endpoints"), client.list("secrets"))
        for kind in seen:
            for obj in ingresses if kind == "ingresses" else client.list(kind):
                seen[kind][obj["metadata"]["name"]] = obj
        cert = client.get("certificates", name, "default")
        if condition(cert, "Ready").get("status") == "True" or condition(cert, "Issuing").get("reason") == "Failed":
            return cert, seen
        time.sleep(0.3)
    raise AssertionError(
        f"the Certificate {name} was neither Ready nor failed within {timeout} s: {cert.get('status')}"
    )


def pebble_root(lab) -> str:
    context = ssl.create_default_context(cafile=str(lab["work"] / "ca.pem"))
    with urllib.request.urlopen(f"https://127.0.0.1:{lab['manage']}/roots/0", context=context, timeout=10) as answer:
        return answer.read().decode()


def verify_chain(lab, chain: str, host: str) -> None:
    (lab["work"] / "root.pem").write_text(pebble_root(lab))
    (lab["work"] / "chain.pem").write_text(chain)
    leaf = chain.split("-----END CERTIFICATE-----", 1)[0] + "-----END CERTIFICATE-----\n"
    (lab["work"] / "leaf.pem").write_text(leaf)
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(lab["work"] / "root.pem"),
            "-untrusted",
            str(lab["work"] / "chain.pem"),
            "-verify_hostname",
            host,
            str(lab["work"] / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def secret_data(api, name):
    data = api.client.get("secrets", name, "default")["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_http01_through_the_ingress_issues_a_certificate_pebble_signed(api, acme_lab):
    client = api.client
    solver = {"http01": {"ingress": {"ingressClassName": "public"}}}
    client.create("clusterissuers", acme_issuer(acme_lab, "pebble-http", solver))
    client.create("certificates", certificate("hello", "hello.home.arpa", "pebble-http"))
    cert, seen = run_until_issued(api, acme_lab, "hello")
    assert condition(cert, "Ready")["status"] == "True", cert["status"]
    issuer = client.get("clusterissuers", "pebble-http")
    assert condition(issuer, "Ready")["reason"] == "ACMEAccountRegistered"
    assert issuer["status"]["acme"]["uri"].startswith(acme_lab["server"].rsplit("/", 1)[0])
    account = client.get("secrets", "pebble-http-account", "cert-manager")
    assert "PRIVATE KEY" in base64.b64decode(account["data"]["tls.key"]).decode()
    # the solver as cert-manager makes it: an Ingress of the solver's class for the token's path on the domain
    solver_ingress = next(i for n, i in seen["ingresses"].items() if n.startswith("cm-acme-http-solver-"))
    path = solver_ingress["spec"]["rules"][0]["http"]["paths"][0]
    assert solver_ingress["spec"]["rules"][0]["host"] == "hello.home.arpa"
    assert solver_ingress["spec"]["ingressClassName"] == "public"
    assert path["path"].startswith("/.well-known/acme-challenge/")
    challenge = next(iter(seen["challenges"].values()))
    assert challenge["spec"]["type"] == "HTTP-01" and challenge["spec"]["dnsName"] == "hello.home.arpa"
    assert path["path"].endswith(challenge["spec"]["token"])
    # cleaned up: no solver objects, no challenges; the order stays, valid, with the chain
    assert not [i for i in client.list("ingresses", "default") if i["metadata"]["name"].startswith("cm-acme")]
    assert not [s for s in client.list("services", "default") if s["metadata"]["name"].startswith("cm-acme")]
    assert client.list("challenges", "default") == []
    (order,) = client.list("orders", "default")
    assert order["status"]["state"] == "valid"
    data = secret_data(api, "hello-tls")
    assert "ca.crt" not in data and "PRIVATE KEY" in data["tls.key"]
    verify_chain(acme_lab, data["tls.crt"], "hello.home.arpa")
    (request,) = client.list("certificaterequests", "default")
    assert condition(request, "Ready")["reason"] == "Issued"


def test_dns01_rfc2136_with_tsig_issues_and_cleans_the_txt_record(api, acme_lab):
    client = api.client
    client.create(
        "secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tsig", "namespace": "cert-manager"},
            "data": {"secret": base64.b64encode(TSIG.encode()).decode()},
        },
    )
    solver = {
        "dns01": {
            "rfc2136": {
                "nameserver": f"127.0.0.1:{acme_lab['dns']}",
                "tsigKeyName": "acme-update",
                "tsigAlgorithm": "HMACSHA256",
                "tsigSecretSecretRef": {"name": "tsig", "key": "secret"},
            }
        }
    }
    client.create("clusterissuers", acme_issuer(acme_lab, "pebble-dns", solver))
    client.create("certificates", certificate("iot", "iot.home.arpa", "pebble-dns"))
    cert, seen = run_until_issued(api, acme_lab, "iot")
    assert condition(cert, "Ready")["status"] == "True", cert["status"]
    assert not seen["ingresses"]  # no HTTP solver for DNS-01
    challenge = next(iter(seen["challenges"].values()))
    assert challenge["spec"]["type"] == "DNS-01"
    log = acme_lab["dns_log"].read_text()
    assert f'update by acme-update.: _acme-challenge.iot.home.arpa. 60 IN TXT "{challenge["spec"]["key"]}"' in log
    assert "query _acme-challenge.iot.home.arpa. TXT" in log  # pebble looked it up
    assert log.count("update by acme-update.") == 2  # added, then deleted
    import dns.message
    import dns.query

    reply = dns.query.udp(
        dns.message.make_query("_acme-challenge.iot.home.arpa", "TXT"), "127.0.0.1", port=acme_lab["dns"], timeout=5
    )
    assert reply.answer == []
    verify_chain(acme_lab, secret_data(api, "iot-tls")["tls.crt"], "iot.home.arpa")


def test_a_wrong_tsig_secret_fails_the_issuance_and_the_server_refuses_it(api, acme_lab):
    client = api.client
    client.create(
        "secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tsig", "namespace": "cert-manager"},
            "data": {"secret": base64.b64encode(b"d3Jvbmcgc2VjcmV0").decode()},
        },
    )
    solver = {
        "dns01": {
            "rfc2136": {
                "nameserver": f"127.0.0.1:{acme_lab['dns']}",
                "tsigKeyName": "acme-update",
                "tsigAlgorithm": "HMACSHA256",
                "tsigSecretSecretRef": {"name": "tsig", "key": "secret"},
            }
        }
    }
    client.create("clusterissuers", acme_issuer(acme_lab, "pebble-dns", solver))
    client.create("certificates", certificate("iot", "iot.home.arpa", "pebble-dns"))
    cert, _seen = run_until_issued(api, acme_lab, "iot")
    issuing = condition(cert, "Issuing")
    assert issuing["status"] == "False" and issuing["reason"] == "Failed"
    assert "Error presenting challenge" in issuing["message"]
    assert "refused a message with a bad TSIG" in acme_lab["dns_log"].read_text()
    assert "iot-tls" not in [s["metadata"]["name"] for s in client.list("secrets", "default")]
    (order,) = client.list("orders", "default")
    assert order["status"]["state"] == "errored"
    updates = acme_lab["dns_log"].read_text().count("bad TSIG")
    controller.reconcile(client, datetime.datetime.now(datetime.timezone.utc))  # backing off: no new attempt
    assert acme_lab["dns_log"].read_text().count("bad TSIG") == updates
    assert len(client.list("orders", "default")) == 1


def test_an_unreachable_acme_server_leaves_the_issuer_not_ready(api, acme_lab):
    issuer = acme_issuer(acme_lab, "nowhere", {"http01": {"ingress": {"class": "public"}}})
    issuer["spec"]["acme"]["server"] = f"https://127.0.0.1:{free_port()}/dir"
    api.client.create("clusterissuers", issuer)
    controller.reconcile(api.client, datetime.datetime.now(datetime.timezone.utc))
    ready = condition(api.client.get("clusterissuers", "nowhere"), "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ErrRegisterACMEAccount"
    assert ready["message"].startswith("Failed to register ACME account:")
