# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager in the double (issue 11): its CRDs served only once defined, the webhook's validation, the issuers
(selfSigned, CA), Certificate -> CertificateRequest -> kubernetes.io/tls Secret, renewal at the computed time (an
injected clock: cert-manager's minimum duration is 1h), and the ingress-shim. Against the double's real API server
(in-memory store), the controller's `reconcile` called as the lease holder's round does."""

from __future__ import annotations

import base64
import datetime
import shutil
import socket
import ssl
import subprocess

import pytest
from api_fixtures import api_server
from microk8s_double.api import certmanager
from microk8s_double.controllers import certmanager as controller
from microk8s_double.kubeclient import ApiError
from microk8s_double.network import ingress
from network_fakes import backend, free_port
from test_network_ingress import ing, rule, service_and_endpoints

T0 = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)
EC = {"algorithm": "ECDSA", "size": 256}


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def install(api):
    api.client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}})
    for crd in certmanager.crd_objects():
        api.client.create("customresourcedefinitions", crd)


def certificate(name, namespace, issuer, kind="ClusterIssuer", **spec):
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "secretName": name,
            "issuerRef": {"name": issuer, "kind": kind, "group": "cert-manager.io"},
            "privateKey": EC,
            **spec,
        },
    }


def cluster_issuer(name, spec):
    return {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name}, "spec": spec}


def local_ca(api, now=T0):
    """A self-signed root in cert-manager's namespace and a CA ClusterIssuer over it (the usual offline setup)."""
    api.client.create("clusterissuers", cluster_issuer("selfsigned", {"selfSigned": {}}))
    root = certificate("root-ca", "cert-manager", "selfsigned", isCA=True, commonName="home.arpa root CA")
    api.client.create("certificates", root)
    api.client.create("clusterissuers", cluster_issuer("local-ca", {"ca": {"secretName": "root-ca"}}))
    controller.reconcile(api.client, now)  # the root is issued
    controller.reconcile(api.client, now)  # the CA issuer finds its key pair


def ready(obj):
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def secret_text(api, namespace, name, key):
    return base64.b64decode(api.client.get("secrets", name, namespace)["data"][key]).decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, text=True, check=False)


def test_kinds_are_served_only_once_the_crds_are_defined(api):
    assert "cert-manager.io/v1" not in [
        g["preferredVersion"]["groupVersion"] for g in api.client.request("GET", "/apis")["groups"]
    ]
    with pytest.raises(ApiError) as missing:
        api.client.list("certificates", "default")
    assert missing.value.status == 404
    with pytest.raises(ApiError) as group:
        api.client.request("GET", "/apis/cert-manager.io/v1")
    assert group.value.status == 404
    controller.reconcile(api.client, T0)  # nothing to do, nothing fails
    install(api)
    groups = [g["preferredVersion"]["groupVersion"] for g in api.client.request("GET", "/apis")["groups"]]
    assert {"cert-manager.io/v1", "acme.cert-manager.io/v1"} <= set(groups)
    kinds = {r["name"]: r for r in api.client.request("GET", "/apis/cert-manager.io/v1")["resources"]}
    assert kinds["certificates"]["shortNames"] == ["cert", "certs"] and not kinds["clusterissuers"]["namespaced"]
    assert api.client.list("certificates", "default") == []


def test_the_webhook_refuses_a_duration_under_one_hour(api):
    install(api)
    with pytest.raises(ApiError) as refused:
        api.client.create("certificates", certificate("short", "default", "x", duration="30m", dnsNames=["a.b"]))
    assert refused.value.status == 403
    assert refused.value.message == (
        'admission webhook "webhook.cert-manager.io" denied the request: spec.duration: Invalid value: "30m0s": '
        "certificate duration must be greater than 1h0m0s"
    )
    with pytest.raises(ApiError) as renew:
        api.client.create(
            "certificates", certificate("r", "default", "x", duration="1h", renewBefore="1h", dnsNames=["a.b"])
        )
    assert "certificate duration 1h0m0s must be greater than renewBefore 1h0m0s" in renew.value.message


def test_certificate_from_a_ca_cluster_issuer_is_ready_with_a_secret_whose_chain_verifies(api, tmp_path):
    install(api)
    local_ca(api)
    issuer = api.client.get("clusterissuers", "local-ca")
    assert {k: ready(issuer)[k] for k in ("status", "reason", "message")} == {
        "status": "True",
        "reason": "KeyPairVerified",
        "message": "Signing CA verified",
    }
    assert ready(api.client.get("clusterissuers", "selfsigned"))["reason"] == "IsReady"
    app = certificate("hello-tls", "default", "local-ca", dnsNames=["hello.home.arpa"], ipAddresses=["10.0.0.5"])
    del app["spec"]["privateKey"]  # the default: RSA 2048, PKCS1
    api.client.create("certificates", app)
    controller.reconcile(api.client, T0)
    cert = api.client.get("certificates", "hello-tls", "default")
    assert {k: ready(cert)[k] for k in ("status", "reason", "message")} == {
        "status": "True",
        "reason": "Ready",
        "message": "Certificate is up to date and has not expired",
    }
    assert cert["status"]["notBefore"] == "2026-11-30T12:00:00Z"
    assert cert["status"]["notAfter"] == "2027-02-28T12:00:00Z"  # 90 days
    assert cert["status"]["renewalTime"] == "2027-01-29T12:00:00Z"  # 2/3 of the lifetime
    assert cert["status"]["revision"] == 1
    secret = api.client.get("secrets", "hello-tls", "default")
    assert secret["type"] == "kubernetes.io/tls" and set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    notes = secret["metadata"]["annotations"]
    assert (notes["cert-manager.io/issuer-name"], notes["cert-manager.io/issuer-kind"]) == ("local-ca", "ClusterIssuer")
    assert notes["cert-manager.io/alt-names"] == "hello.home.arpa" and notes["cert-manager.io/ip-sans"] == "10.0.0.5"
    assert "BEGIN RSA PRIVATE KEY" in secret_text(api, "default", "hello-tls", "tls.key")
    (tmp_path / "ca.crt").write_text(secret_text(api, "default", "hello-tls", "ca.crt"))
    chain = secret_text(api, "default", "hello-tls", "tls.crt")
    (tmp_path / "leaf.crt").write_text(controller.first_cert(chain))
    (tmp_path / "chain.crt").write_text(chain)
    assert chain.count("BEGIN CERTIFICATE") == 2  # leaf + the CA, as the CA issuer returns it
    verify = openssl(
        "verify",
        "-attime",
        str(int(T0.timestamp()) + 60),
        "-CAfile",
        str(tmp_path / "ca.crt"),
        "-untrusted",
        str(tmp_path / "chain.crt"),
        str(tmp_path / "leaf.crt"),
    )
    assert verify.returncode == 0, verify.stderr
    text = openssl("x509", "-noout", "-text", "-in", str(tmp_path / "leaf.crt")).stdout
    assert "DNS:hello.home.arpa" in text and "IP Address:10.0.0.5" in text and "CA:FALSE" in text
    assert "rsaEncryption" in text and "(2048 bit)" in text
    root = openssl("x509", "-noout", "-text", "-in", str(tmp_path / "ca.crt")).stdout
    assert "CA:TRUE" in root and "Certificate Sign" in root and "CN = home.arpa root CA" in root
    request = api.client.get("certificaterequests", "hello-tls-1", "default")
    assert [c["reason"] for c in request["status"]["conditions"]] == ["cert-manager.io", "Issued"]
    assert request["metadata"]["annotations"]["cert-manager.io/certificate-revision"] == "1"


def test_without_its_issuer_a_certificate_is_not_ready_and_its_request_pending(api):
    install(api)
    api.client.create("certificates", certificate("app", "default", "nowhere", dnsNames=["app.home.arpa"]))
    controller.reconcile(api.client, T0)
    cert = api.client.get("certificates", "app", "default")
    assert (ready(cert)["status"], ready(cert)["reason"], ready(cert)["message"]) == (
        "False",
        "DoesNotExist",
        "Issuing certificate as Secret does not exist",
    )
    issuing = next(c for c in cert["status"]["conditions"] if c["type"] == "Issuing")
    assert issuing["status"] == "True"
    request = api.client.get("certificaterequests", "app-1", "default")
    assert ready(request)["reason"] == "Pending"
    assert ready(request)["message"] == (
        'Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "nowhere" not found'
    )
    assert api.client.get("secrets", "app", "default") is None
    api.client.create("clusterissuers", cluster_issuer("nowhere", {"selfSigned": {}}))
    controller.reconcile(api.client, T0)
    assert ready(api.client.get("certificates", "app", "default"))["status"] == "True"
    assert ready(api.client.get("certificaterequests", "app-1", "default"))["reason"] == "Issued"


def test_a_ca_issuer_without_its_secret_is_not_ready(api):
    install(api)
    api.client.create("clusterissuers", cluster_issuer("broken", {"ca": {"secretName": "absent"}}))
    controller.reconcile(api.client, T0)
    cond = ready(api.client.get("clusterissuers", "broken"))
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "ErrGetKeyPair",
        'Error getting keypair for CA issuer: secrets "absent" not found',
    )


def test_a_short_lived_certificate_renews_at_two_thirds_of_its_lifetime(api):
    install(api)
    local_ca(api)
    api.client.create(
        "certificates", certificate("short", "default", "local-ca", duration="1h", dnsNames=["short.home.arpa"])
    )
    controller.reconcile(api.client, T0)
    first = api.client.get("certificates", "short", "default")["status"]
    assert (first["notAfter"], first["renewalTime"]) == ("2026-11-30T13:00:00Z", "2026-11-30T12:40:00Z")
    assert controller.due() == datetime.datetime(2026, 11, 30, 12, 40, tzinfo=datetime.timezone.utc).timestamp()
    key1 = secret_text(api, "default", "short", "tls.key")
    crt1 = secret_text(api, "default", "short", "tls.crt")
    controller.reconcile(api.client, T0 + datetime.timedelta(minutes=39, seconds=59))
    assert api.client.get("certificates", "short", "default")["status"]["revision"] == 1
    assert secret_text(api, "default", "short", "tls.crt") == crt1
    controller.reconcile(api.client, T0 + datetime.timedelta(minutes=40))
    second = api.client.get("certificates", "short", "default")["status"]
    assert second["revision"] == 2 and second["renewalTime"] == "2026-11-30T13:20:00Z"
    assert second["notAfter"] == "2026-11-30T13:40:00Z"
    assert secret_text(api, "default", "short", "tls.crt") != crt1
    assert secret_text(api, "default", "short", "tls.key") == key1  # rotationPolicy Never (cert-manager < 1.18)
    assert api.client.get("certificaterequests", "short-2", "default") is not None


def test_renew_before_and_rotation_always(api):
    install(api)
    local_ca(api)
    api.client.create(
        "certificates",
        certificate(
            "rb",
            "default",
            "local-ca",
            duration="2h",
            renewBefore="10m",
            dnsNames=["rb.home.arpa"],
            privateKey=dict(EC, rotationPolicy="Always"),
        ),
    )
    controller.reconcile(api.client, T0)
    assert api.client.get("certificates", "rb", "default")["status"]["renewalTime"] == "2026-11-30T13:50:00Z"
    key1 = secret_text(api, "default", "rb", "tls.key")
    controller.reconcile(api.client, T0 + datetime.timedelta(minutes=110))
    assert api.client.get("certificates", "rb", "default")["status"]["revision"] == 2
    assert secret_text(api, "default", "rb", "tls.key") != key1


def test_ingress_shim_makes_a_certificate_for_an_annotated_ingress(api):
    install(api)
    local_ca(api)
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "hello",
            "namespace": "default",
            "annotations": {"cert-manager.io/cluster-issuer": "local-ca"},
        },
        "spec": {
            "ingressClassName": "public",
            "tls": [{"hosts": ["hello.home.arpa"], "secretName": "hello-tls"}],
            "rules": [
                {
                    "host": "hello.home.arpa",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "hello", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    made = api.client.create("ingresses", ingress)
    plain = dict(ingress, metadata={"name": "plain", "namespace": "default"})
    api.client.create("ingresses", plain)
    controller.reconcile(api.client, T0)
    certs = api.client.list("certificates", "default")
    assert [c["metadata"]["name"] for c in certs] == ["hello-tls"]
    cert = certs[0]
    assert cert["spec"]["dnsNames"] == ["hello.home.arpa"] and cert["spec"]["secretName"] == "hello-tls"
    assert cert["spec"]["issuerRef"] == {"name": "local-ca", "kind": "ClusterIssuer"}
    assert cert["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]
    assert ready(cert)["status"] == "True"
    assert api.client.get("secrets", "hello-tls", "default")["type"] == "kubernetes.io/tls"
    made = api.client.get("ingresses", "hello", "default")
    made["spec"]["tls"][0]["hosts"].append("www.home.arpa")
    api.client.update("ingresses", made)
    controller.reconcile(api.client, T0)  # the shim updates the spec; the trigger sees the mismatch
    controller.reconcile(api.client, T0)
    cert = api.client.get("certificates", "hello-tls", "default")
    assert cert["spec"]["dnsNames"] == ["hello.home.arpa", "www.home.arpa"] and cert["status"]["revision"] == 2
    api.client.delete("ingresses", "hello", "default")
    controller.reconcile(api.client, T0)  # the garbage collector: the shim's Certificate, then its requests
    assert api.client.list("certificates", "default") == []
    assert api.client.list("certificaterequests", "default") == []
    assert api.client.get("secrets", "hello-tls", "default") is not None  # Secrets are not owned: kept


def test_the_ingress_serves_the_issued_certificate_and_a_client_verifies_it_with_the_ca(api, tmp_path):
    install(api)
    now = datetime.datetime.now(datetime.timezone.utc)  # the TLS client checks validity against the real clock
    local_ca(api, now)
    api.client.create("certificates", certificate("hello-tls", "default", "local-ca", dnsNames=["hello.home.arpa"]))
    controller.reconcile(api.client, now)
    app, address = backend("app")
    svc, ep = service_and_endpoints("app", address)
    served = ingress.IngressController(tmp_path / "ingress")
    port = free_port()
    served.listen("127.0.0.1", free_port(), port)
    try:
        rules = [
            ing(
                "hello",
                rule("hello.home.arpa", ("/", "Prefix", "app")),
                tls=[{"hosts": ["hello.home.arpa"], "secretName": "hello-tls"}],
            )
        ]
        served.update(rules, [svc], [ep], api.client.list("secrets", "default"))
        context = ssl.create_default_context(cadata=secret_text(api, "default", "hello-tls", "ca.crt"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with context.wrap_socket(raw, server_hostname="hello.home.arpa") as tls:  # verifies chain and name
            tls.sendall(b"GET / HTTP/1.1\r\nHost: hello.home.arpa\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"app / hello.home.arpa https")
    finally:
        served.close()
        app.shutdown()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_reads_the_kinds_with_their_printer_columns(api, tmp_path):
    install(api)
    local_ca(api)
    config = api.kubeconfig(tmp_path)

    def kubectl(*args: str) -> str:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    lines = kubectl("get", "cert", "-n", "cert-manager", "-o", "wide").splitlines()
    assert lines[0].split() == ["NAME", "READY", "SECRET", "AGE", "ISSUER", "STATUS"]
    assert lines[1].split()[:3] == ["root-ca", "True", "root-ca"] and "selfsigned" in lines[1]
    assert "Signing CA verified" in kubectl("get", "clusterissuers", "-o", "wide")
    row = kubectl("get", "certificaterequests", "-n", "cert-manager").splitlines()[1].split()
    assert row[:5] == ["root-ca-1", "True", "True", "selfsigned", "system:serviceaccount:cert-manager:cert-manager"]
