# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication against one API server (in-memory datastore): the admin credential per version (known_tokens.csv
up to 1.27, an x509 client certificate CN=admin,O=system:masters from 1.28), x509 client certificates of the
cluster CA (and 401 for expired or foreign ones), anonymous requests, ServiceAccount tokens from TokenRequest
(expiry, dead with their ServiceAccount), the CSR API with approval and the kube-apiserver-client signer, and
SelfSubjectReview (`kubectl auth whoami`) where the version serves it."""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from api_fixtures import api_server
from microk8s_double import certs
from microk8s_double.auth import csr
from microk8s_double.controllers import csrsigning
from microk8s_double.kubeclient import ApiError

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="no kubectl on this host")
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def call(api, method: str, path: str, body=None, token: str | None = None, cert: tuple | None = None):
    """(status, decoded body) of one request with exactly the given credential (none by default)."""
    context = ssl.create_default_context(cafile=str(api.node.paths.cert("ca.crt")))
    context.check_hostname = False
    if cert:
        context.load_cert_chain(*[str(part) for part in cert])
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPSConnection(api.ip, api.node.port("apiserver"), context=context, timeout=10)
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data.startswith(b"{") else data


def whoami(api, path: str = WHOAMI, **credential) -> tuple[int, dict]:
    status, answer = call(api, "POST", path, REVIEW, **credential)
    return status, (answer.get("status", {}).get("userInfo") if status == 201 else answer)


def openssl(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def key_and_request(base: Path, name: str, subject: str) -> tuple[Path, bytes]:
    key = base / f"{name}.key"
    openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-subj",
        subject,
        "-out",
        str(base / f"{name}.csr"),
    )
    return key, (base / f"{name}.csr").read_bytes()


def signed(api, base: Path, name: str, subject: str, seconds: float = 3600, now=None, ca=None) -> tuple[Path, Path]:
    """A client certificate as the signer makes it (auth/csr.py), by the node's CA unless `ca` (crt, key) is given."""
    key, request = key_and_request(base, name, subject)
    ca_crt, ca_key = ca or (api.node.paths.cert("ca.crt"), api.node.paths.cert("ca.key"))
    crt = base / f"{name}.crt"
    crt.write_text(csr.sign(request, ["client auth"], seconds, Path(ca_crt), Path(ca_key), now))
    return crt, key


def csr_object(name: str, request: bytes, usages=("client auth",), seconds: int | None = None, **spec) -> dict:
    body = {"request": base64.b64encode(request).decode(), "signerName": csr.CLIENT_SIGNER, "usages": list(usages)}
    if seconds is not None:
        body["expirationSeconds"] = seconds
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": dict(body, **spec),
    }


# -- the admin credential per version ---------------------------------------------------------------------------------
def test_up_to_1_27_every_known_token_authenticates_and_the_admin_kubeconfig_carries_a_token(tmp_path):
    with api_server(tmp_path, "1.27") as api:
        rows = certs.known_tokens(api.node)
        assert [row[1] for row in rows] == [
            "admin",
            "system:kube-proxy",
            f"system:node:{api.node.hostname}",
            "system:kube-controller-manager",
            "system:kube-scheduler",
        ]
        config = api.node.paths.credentials("client.config").read_text()
        assert f"    token: {certs.admin_token(api.node)}\n" in config and "client-certificate" not in config
        assert len(certs.admin_token(api.node)) == 60  # base64 of `openssl rand -base64 32`'s line
        path = "/apis/authentication.k8s.io/v1beta1/selfsubjectreviews"
        for token, user, uid, *groups in rows:
            expected = [g for g in (groups[0].split(",") if groups else []) if g] + ["system:authenticated"]
            assert whoami(api, path, token=token) == (201, {"username": user, "uid": uid, "groups": expected})
        assert call(api, "GET", "/api/v1/namespaces", token="x" * 60)[0] == 401
        assert call(api, "GET", "/api/v1/namespaces")[0] == 401  # AlwaysAllow: anonymous auth is off


def test_from_1_28_the_admin_is_an_x509_certificate_and_there_are_no_static_tokens(api):
    assert not api.node.paths.credentials("known_tokens.csv").exists()
    config = api.node.paths.credentials("client.config").read_text()
    assert "token:" not in config and "    client-certificate-data: " in config and "    client-key-data: " in config
    embedded = base64.b64decode(config.split("client-certificate-data: ")[1].split()[0])
    assert "subject=CN = admin, O = system:masters" in openssl("x509", "-noout", "-subject", data=embedded).decode()
    assert "token-auth-file" not in certs_flags(api)  # MicroK8s 1.28's kube-apiserver args
    assert whoami(api, cert=certs.admin_cert(api.node)) == (
        201,
        {"username": "admin", "groups": ["system:masters", "system:authenticated"]},
    )
    for stem, user in (("controller", "system:kube-controller-manager"), ("kubelet", "system:node:node-1")):
        status, info = whoami(api, cert=(api.node.paths.cert(f"{stem}.crt"), api.node.paths.cert(f"{stem}.key")))
        assert (status, info["username"]) == (201, user)


@needs_kubectl
def test_kubectl_with_microk8s_config_is_the_admin_per_version(tmp_path):
    for version in ("1.27", "1.28"):
        with api_server(tmp_path / version, version) as api:
            config = api.kubeconfig(tmp_path / version)
            done = subprocess.run(
                [KUBECTL, "--kubeconfig", str(config), "get", "ns", "-o", "name"],
                capture_output=True,
                text=True,
                check=False,
            )
            assert "namespace/default" in done.stdout, done.stderr


# -- x509 client certificates -----------------------------------------------------------------------------------------
def test_a_certificate_of_the_cluster_ca_gives_its_cn_and_organizations(api, tmp_path):
    cert = signed(api, tmp_path, "alice", "/CN=alice/O=team-a/O=ops")
    assert whoami(api, cert=cert) == (201, {"username": "alice", "groups": ["team-a", "ops", "system:authenticated"]})
    assert call(api, "GET", "/api/v1/namespaces/default", cert=cert)[0] == 200  # AlwaysAllow


def test_expired_and_foreign_certificates_get_401_not_a_tls_failure(api, tmp_path):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
    expired = signed(api, tmp_path, "old", "/CN=old", seconds=600, now=past)
    assert call(api, "GET", "/api/v1/namespaces", cert=expired)[0] == 401
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=other-ca",
        "-keyout",
        str(tmp_path / "other.key"),
        "-out",
        str(tmp_path / "other.crt"),
    )
    foreign = signed(
        api, tmp_path, "mallory", "/CN=admin/O=system:masters", ca=(tmp_path / "other.crt", tmp_path / "other.key")
    )
    status, answer = call(api, "GET", "/api/v1/namespaces", cert=foreign)
    assert (status, answer["reason"], answer["message"]) == (401, "Unauthorized", "Unauthorized")


def test_anonymous_requests_are_users_once_the_authorizer_is_not_always_allow(api):
    assert call(api, "GET", "/version")[0] == 401
    args = api.node.paths.args("kube-apiserver")
    args.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(f"--{k}={v}" for k, v in certs_flags(api).items() if k != "authorization-mode")
    args.write_text(text + "\n--authorization-mode=RBAC,Node\n")
    assert whoami(api) == (201, {"username": "system:anonymous", "groups": ["system:unauthenticated"]})
    assert call(api, "GET", "/version", token="not-a-token")[0] == 401  # a bad credential is never anonymous
    args.write_text(text + "\n--authorization-mode=RBAC,Node\n--anonymous-auth=false\n")
    assert call(api, "GET", "/version")[0] == 401


def certs_flags(api) -> dict:
    from microk8s_double.auth import authn

    return authn.flags(api.node)


# -- ServiceAccount tokens --------------------------------------------------------------------------------------------
def token_for(api, name: str, namespace: str = "default", **spec) -> dict:
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return call(api, "POST", path, body, cert=certs.admin_cert(api.node))


def test_token_request_mints_a_token_of_the_service_account_until_it_is_deleted(api):
    account = api.client.create("serviceaccounts", {"metadata": {"name": "robot"}}, "default")
    before = time.time()
    status, answer = token_for(api, "robot")
    assert (status, answer["kind"], answer["spec"]["expirationSeconds"]) == (201, "TokenRequest", 3600)
    expires = datetime.datetime.strptime(answer["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(expires.replace(tzinfo=datetime.timezone.utc).timestamp() - before - 3600) < 5
    token = answer["status"]["token"]
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in token.split(".")[:2])
    assert header["alg"] == "RS256" and claims["iss"] == "https://kubernetes.default.svc"
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "robot", "uid": account["metadata"]["uid"]}
    assert whoami(api, token=token) == (
        201,
        {
            "username": "system:serviceaccount:default:robot",
            "uid": account["metadata"]["uid"],
            "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
        },
    )
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert call(api, "GET", "/api/v1/namespaces", token=forged)[0] == 401
    api.client.delete("serviceaccounts", "robot", "default")
    assert call(api, "GET", "/api/v1/namespaces", token=token)[0] == 401
    api.client.create("serviceaccounts", {"metadata": {"name": "robot"}}, "default")  # same name, new uid
    assert call(api, "GET", "/api/v1/namespaces", token=token)[0] == 401


def test_token_request_expiry_rules(api):
    api.client.create("serviceaccounts", {"metadata": {"name": "robot"}}, "default")
    status, answer = token_for(api, "robot", expirationSeconds=599)
    assert (status, answer["reason"], answer["message"]) == (
        422,
        "Invalid",
        'TokenRequest.authentication.k8s.io "" '
        "is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 "
        "minutes",
    )
    status, answer = token_for(api, "robot", expirationSeconds=600)
    claims = json.loads(base64.urlsafe_b64decode(answer["status"]["token"].split(".")[1] + "=="))
    assert (status, claims["exp"] - claims["iat"]) == (201, 600)
    status, answer = token_for(api, "ghost")
    assert (status, answer["message"]) == (404, 'serviceaccounts "ghost" not found')
    args = api.node.paths.args("kube-apiserver")
    args.parent.mkdir(parents=True, exist_ok=True)
    args.write_text(
        "\n".join(f"--{k}={v}" for k, v in certs_flags(api).items()) + "\n--service-account-max-token-expiration=1h\n"
    )
    assert token_for(api, "robot", expirationSeconds=86400)[1]["spec"]["expirationSeconds"] == 3600


def test_an_expired_token_gets_401(api):
    account = api.client.create("serviceaccounts", {"metadata": {"name": "robot"}}, "default")
    from microk8s_double.auth import tokens

    claims = tokens.claims_for(
        account, ["https://kubernetes.default.svc"], "https://kubernetes.default.svc", 600, 28, time.time() - 700
    )
    stale = tokens.sign(api.node.paths.cert("serviceaccount.key"), claims)
    assert call(api, "GET", "/api/v1/namespaces", token=stale)[0] == 401
    fresh = tokens.sign(api.node.paths.cert("serviceaccount.key"), dict(claims, exp=int(time.time()) + 60))
    assert call(api, "GET", "/api/v1/namespaces", token=fresh)[0] == 200


@needs_kubectl
def test_kubectl_create_token_and_whoami_with_it(api, tmp_path):
    config = api.kubeconfig(tmp_path)
    api.client.create("serviceaccounts", {"metadata": {"name": "ci"}}, "default")
    made = subprocess.run(
        [KUBECTL, "--kubeconfig", str(config), "create", "token", "ci", "--duration=2h"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    server = [
        "--server",
        f"https://{api.ip}:{api.node.port('apiserver')}",
        "--certificate-authority",
        str(api.node.paths.cert("ca.crt")),
        "--token",
        made.stdout.strip(),
    ]
    who = subprocess.run(
        [KUBECTL, "--kubeconfig", "/dev/null", *server, "auth", "whoami", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:default:ci", who.stderr
    short = subprocess.run(
        [KUBECTL, "--kubeconfig", str(config), "create", "token", "ci", "--duration=1m"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (short.returncode, short.stderr) == (
        1,
        "error: failed to create token: TokenRequest.authentication.k8s.io"
        ' "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 '
        "minutes\n",
    )


# -- CertificateSigningRequests ---------------------------------------------------------------------------------------
def test_csr_create_records_the_requester_and_validates(api, tmp_path):
    _key, request = key_and_request(tmp_path, "bob", "/CN=bob/O=dev")
    created = api.client.create(
        "certificatesigningrequests", csr_object("bob", request, seconds=86400, username="someone-else")
    )
    assert created["spec"]["username"] == "admin"
    assert created["spec"]["groups"] == ["system:masters", "system:authenticated"]
    cases = [
        (
            csr_object("a", request, usages=()),
            'CertificateSigningRequest.certificates.k8s.io "a" is invalid: spec.usages: Required value',
        ),
        (
            csr_object("b", request, usages=("client auth", "fly")),
            'spec.usages[1]: Unsupported value: "fly": supported values: "any", "cert sign", "client auth"',
        ),
        (
            csr_object("c", request, seconds=599),
            'CertificateSigningRequest.certificates.k8s.io "c" is invalid: '
            "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)",
        ),
        (
            csr_object("d", b"not a pem"),
            'CertificateSigningRequest.certificates.k8s.io "d" is invalid: '
            "spec.request: Invalid value: []byte{0x6e, 0x6f, 0x74, 0x20, 0x61, 0x20, 0x70, 0x65, 0x6d}: PEM block type "
            "must be CERTIFICATE REQUEST",
        ),
        (csr_object("e", request, signerName=""), "spec.signerName: Required value"),
    ]
    for obj, text in cases:
        with pytest.raises(ApiError) as refused:
            api.client.create("certificatesigningrequests", obj)
        assert refused.value.status == 422 and text in refused.value.message, refused.value.message
    _key, masters = key_and_request(tmp_path, "root", "/CN=root/O=system:masters")
    with pytest.raises(ApiError) as refused:
        api.client.create("certificatesigningrequests", csr_object("root", masters))
    assert (refused.value.status, refused.value.message) == (
        403,
        "certificatesigningrequests.certificates.k8s.io "
        '"root" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not '
        "allowed",
    )


def approve(api, name: str, kind: str = "Approved") -> dict:
    current = api.client.get("certificatesigningrequests", name)
    condition = {"type": kind, "status": "True", "reason": "KubectlApprove", "message": "test"}
    current["status"]["conditions"] = [*(current["status"].get("conditions") or []), condition]
    return api.client.update("certificatesigningrequests", current, subresource="approval")


def test_the_signer_issues_approved_requests_only_with_the_requested_duration(api, tmp_path):
    key, request = key_and_request(tmp_path, "carol", "/CN=carol/O=qa")
    api.client.create("certificatesigningrequests", csr_object("carol", request, seconds=86400))
    api.client.create("certificatesigningrequests", csr_object("short", request, seconds=600))
    api.client.create("certificatesigningrequests", csr_object("denied", request))
    csrsigning.sync(api.client, api.node)
    assert not api.client.get("certificatesigningrequests", "carol")["status"].get("certificate")  # not approved
    approve(api, "carol")
    approve(api, "short")
    approve(api, "denied", "Denied")
    with pytest.raises(ApiError) as refused:
        approve(api, "denied")
    assert (
        refused.value.status == 422 and "Approved and Denied conditions are mutually exclusive" in refused.value.message
    )
    moment = time.time()
    csrsigning.sync(api.client, api.node)
    assert not api.client.get("certificatesigningrequests", "denied")["status"].get("certificate")

    def dates(name: str) -> tuple[float, float]:
        pem = base64.b64decode(api.client.get("certificatesigningrequests", name)["status"]["certificate"])
        text = openssl("x509", "-noout", "-startdate", "-enddate", data=pem).decode().splitlines()
        return tuple(ssl.cert_time_to_seconds(line.split("=", 1)[1]) for line in text)

    start, end = dates("carol")
    assert abs(start - (moment - 300)) < 5 and end - start == 86400  # backdated, 24 h from NotBefore
    start, end = dates("short")
    assert abs(start - (moment - 300)) < 5 and abs(end - (moment + 600)) < 5  # short: the full 600 s after signing
    crt = tmp_path / "carol.crt"
    crt.write_bytes(base64.b64decode(api.client.get("certificatesigningrequests", "carol")["status"]["certificate"]))
    assert whoami(api, cert=(crt, key)) == (201, {"username": "carol", "groups": ["qa", "system:authenticated"]})


def test_the_signer_fails_requests_with_usages_it_refuses_and_caps_the_duration(api, tmp_path):
    _key, request = key_and_request(tmp_path, "srv", "/CN=srv")
    api.client.create("certificatesigningrequests", csr_object("srv", request, usages=("server auth",)))
    api.client.create("certificatesigningrequests", csr_object("long", request, seconds=10 * 365 * 86400))
    approve(api, "srv")
    approve(api, "long")
    args = api.node.paths.args("kube-controller-manager")
    args.parent.mkdir(parents=True, exist_ok=True)
    args.write_text(
        f"--cluster-signing-cert-file={api.node.paths.cert('ca.crt')}\n"
        f"--cluster-signing-key-file={api.node.paths.cert('ca.key')}\n"
        "--cluster-signing-duration=48h\n"
    )
    csrsigning.sync(api.client, api.node)
    failed = api.client.get("certificatesigningrequests", "srv")["status"]
    assert [(c["type"], c["reason"], c["message"]) for c in failed["conditions"]][1:] == [
        ("Failed", "SignerValidationFailure", "invalid usage for client certificate: server auth")
    ]
    assert "certificate" not in failed
    pem = base64.b64decode(api.client.get("certificatesigningrequests", "long")["status"]["certificate"])
    text = openssl("x509", "-noout", "-startdate", "-enddate", data=pem).decode().splitlines()
    start, end = (ssl.cert_time_to_seconds(line.split("=", 1)[1]) for line in text)
    assert end - start == 48 * 3600


@needs_kubectl
def test_kubectl_certificate_approve_then_the_issued_certificate_works(api, tmp_path):
    config = api.kubeconfig(tmp_path)
    key, request = key_and_request(tmp_path, "dave", "/CN=dave/O=devs")

    def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(config), *args], input=stdin, capture_output=True, text=True, check=False
        )

    made = kubectl("create", "-f", "-", stdin=json.dumps(csr_object("dave", request, seconds=3600)))
    assert made.stdout == "certificatesigningrequest.certificates.k8s.io/dave created\n", made.stderr
    row = kubectl("get", "csr", "dave", "--no-headers").stdout.split()
    assert row[2:] == [csr.CLIENT_SIGNER, "admin", "60m", "Pending"]
    assert (
        kubectl("certificate", "approve", "dave").stdout
        == "certificatesigningrequest.certificates.k8s.io/dave approved\n"
    )
    csrsigning.sync(api.client, api.node)
    assert kubectl("get", "csr", "dave", "--no-headers").stdout.split()[-1] == "Approved,Issued"
    crt = tmp_path / "dave.crt"
    crt.write_bytes(base64.b64decode(kubectl("get", "csr", "dave", "-o", "jsonpath={.status.certificate}").stdout))
    server = [
        "--server",
        f"https://{api.ip}:{api.node.port('apiserver')}",
        "--certificate-authority",
        str(api.node.paths.cert("ca.crt")),
        "--client-certificate",
        str(crt),
        "--client-key",
        str(key),
    ]
    who = subprocess.run(
        [KUBECTL, "--kubeconfig", "/dev/null", *server, "auth", "whoami", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(who.stdout)["status"]["userInfo"] == {
        "username": "dave",
        "groups": ["devs", "system:authenticated"],
    }, who.stderr


# -- SelfSubjectReview per version ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "served"),
    [("1.26", []), ("1.27", ["v1beta1"]), ("1.28", ["v1", "v1beta1"]), ("1.32", ["v1"])],
)
def test_self_subject_review_versions(tmp_path, version, served):
    with api_server(tmp_path, version) as api:
        groups = {
            g["name"]: [v["version"] for v in g["versions"]] for g in api.client.request("GET", "/apis")["groups"]
        }
        assert groups["authentication.k8s.io"] == ["v1", *(["v1beta1"] if "v1beta1" in served else [])]
        listed = api.client.request("GET", "/apis/authentication.k8s.io/v1")["resources"]
        assert {r["name"] for r in listed} == {"tokenreviews", *(["selfsubjectreviews"] if "v1" in served else [])}
        credential = (
            {"cert": certs.admin_cert(api.node)}
            if certs.admin_cert(api.node)
            else {"token": certs.admin_token(api.node)}
        )
        for version_name in ("v1", "v1beta1"):
            status, _info = whoami(api, f"/apis/authentication.k8s.io/{version_name}/selfsubjectreviews", **credential)
            assert status == (201 if version_name in served else 404)
        assert "certificates.k8s.io" in groups


@needs_kubectl
@pytest.mark.parametrize(
    ("version", "rc", "printed"),
    [
        ("1.26", 1, "error: the selfsubjectreviews API is not enabled in the cluster\n"),
        ("1.27", 0, "Username    admin\nUID         admin\nGroups      [system:masters system:authenticated]\n"),
        ("1.28", 0, "Username    admin\nGroups      [system:masters system:authenticated]\n"),
    ],
)
def test_kubectl_auth_whoami_per_version(tmp_path, version, rc, printed):
    with api_server(tmp_path, version) as api:
        config = api.kubeconfig(tmp_path)
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(config), "auth", "whoami"], capture_output=True, text=True, check=False
        )
        assert done.returncode == rc and printed in done.stdout + done.stderr, done.stdout + done.stderr


def test_token_review_checks_a_token_for_the_audiences_asked(api):
    api.client.create("serviceaccounts", {"metadata": {"name": "robot"}}, "default")
    for_api = token_for(api, "robot")[1]["status"]["token"]
    for_vault = token_for(api, "robot", audiences=["vault"])[1]["status"]["token"]
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}

    def reviewed(token: str, audiences=None) -> dict:
        spec = {"token": token, **({"audiences": audiences} if audiences else {})}
        status, answer = call(
            api,
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            dict(review, spec=spec),
            cert=certs.admin_cert(api.node),
        )
        assert status == 201
        return answer["status"]

    found = reviewed(for_api)
    assert (found["authenticated"], found["user"]["username"]) == (True, "system:serviceaccount:default:robot")
    assert reviewed(for_vault).get("authenticated") is None  # not for the API server's audience
    assert call(api, "GET", "/api/v1/namespaces", token=for_vault)[0] == 401
    assert reviewed(for_vault, ["vault"])["audiences"] == ["vault"]
    assert reviewed("nonsense").get("authenticated") is None
