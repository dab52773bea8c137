# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication across a joined cluster (running daemons on loopback): the joiner takes the cluster's CA and
ServiceAccount key (join response `ca`, `ca_key`, `service_account_key`) and, per version, the admin token (token
auth up to 1.27: `admin_token`) or new client certificates of the cluster CA (1.28+); a token minted by one API
server works on the other; the controller manager's signer issues an approved CSR by itself."""

from __future__ import annotations

import base64
import ssl

import pytest
from cluster_fixtures import clusters, wait_for
from microk8s_double import certs, wire
from microk8s_double.auth import csr
from test_auth_api import REVIEW, WHOAMI, key_and_request


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def call(node, method: str, path: str, body=None, token: str | None = None, cert=None):
    context = ssl.create_default_context(cafile=str(node.paths.cert("ca.crt")))
    context.check_hostname = False
    if cert:
        context.load_cert_chain(*[str(part) for part in cert])
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return wire.call(node.ip, 16443, method, path, body, context=context, headers=headers, timeout=10)


def whoami(node, **credential) -> dict:
    return call(node, "POST", WHOAMI, REVIEW, **credential)["status"]["userInfo"]


def test_1_28_joiners_share_the_ca_and_service_account_key_and_get_their_own_admin_certificate(make_cluster, tmp_path):
    cluster = make_cluster("1.28")
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    key = certs.SERVICE_ACCOUNT_KEY
    assert second.paths.cert(key).read_bytes() == first.paths.cert(key).read_bytes()
    assert not second.paths.credentials("known_tokens.csv").exists()
    own = certs.admin_cert(second.node)
    assert second.paths.cert("client.crt").read_bytes() != first.paths.cert("client.crt").read_bytes()
    wait_for(lambda: call(second, "GET", "/api/v1/namespaces/default", cert=own), what="second API server")
    assert whoami(first, cert=own)["username"] == "admin"  # the joiner's certificate, the cluster's CA
    call(first, "POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "robot"}}, cert=own)
    made = call(first, "POST", "/api/v1/namespaces/default/serviceaccounts/robot/token", {"spec": {}}, cert=own)
    token = made["status"]["token"]
    # the joiner's datastore adopts the cluster's state a moment after the join: wait until it sees the account
    wait_for(lambda: call(second, "GET", "/api/v1/namespaces/default/serviceaccounts/robot", cert=own),
             what="the ServiceAccount on the second API server")  # fmt: skip
    assert whoami(second, token=token)["username"] == "system:serviceaccount:default:robot"

    _key, request = key_and_request(tmp_path, "erin", "/CN=erin/O=ops")
    body = {"metadata": {"name": "erin"}, "spec": {"request": base64.b64encode(request).decode(),
            "signerName": csr.CLIENT_SIGNER, "usages": ["client auth"], "expirationSeconds": 3600}}  # fmt: skip
    path = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    created = call(second, "POST", path, body, cert=own)
    created["status"]["conditions"] = [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]
    call(second, "PUT", f"{path}/erin/approval", created, cert=own)
    issued = wait_for(lambda: call(first, "GET", f"{path}/erin", cert=own)["status"].get("certificate"),
                      timeout=30, what="the signer's certificate")  # fmt: skip
    crt = tmp_path / "erin.crt"
    crt.write_bytes(base64.b64decode(issued))
    expected = {"username": "erin", "groups": ["ops", "system:authenticated"]}
    assert whoami(second, cert=(crt, tmp_path / "erin.key")) == expected


def test_1_27_joiners_take_the_admin_token(make_cluster):
    cluster = make_cluster("1.27")
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    token = certs.admin_token(first.node)
    assert (
        certs.admin_token(second.node) == token
        and f"token: {token}" in second.paths.credentials("client.config").read_text()
    )
    assert (
        second.paths.cert(certs.SERVICE_ACCOUNT_KEY).read_bytes()
        == first.paths.cert(certs.SERVICE_ACCOUNT_KEY).read_bytes()
    )
    wait_for(lambda: call(second, "GET", "/api/v1/namespaces/default", token=token), what="second API server")
    for node in (first, second):
        review = call(node, "POST", "/apis/authentication.k8s.io/v1beta1/selfsubjectreviews", REVIEW, token=token)
        assert review["status"]["userInfo"]["username"] == "admin"
