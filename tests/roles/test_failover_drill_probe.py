# SPDX-License-Identifier: GPL-3.0-or-later
"""The failover drill's probe against local HTTP(S) servers: one new connection per attempt, no retry, TLS verified
against the cluster's CA by the IP address in the URL, and the credential the kubeconfig holds (token or client
certificate)."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading

import pytest
from failover_drill_helpers import load

probe = load("probe")

TOKEN = "s3cret-admin-token"


class _Api(http.server.BaseHTTPRequestHandler):
    """/version behind a bearer token (when the server wants one), a node and a pod list; records client ports."""

    protocol_version = "HTTP/1.1"  # would keep connections open if the client let it

    def do_GET(self):
        server = self.server
        server.ports.add(self.client_address[1])
        if server.token and self.headers.get("Authorization") != "Bearer " + server.token:
            return self._answer(401, {"kind": "Status", "code": 401})
        if self.path == "/version":
            return self._answer(200, {"gitVersion": "v1.28.15"})
        if self.path == "/api/v1/nodes/node1":
            return self._answer(200, {"status": {"conditions": [{"type": "Ready", "status": server.node_ready}]}})
        if self.path == "/api/v1/pods":
            return self._answer(200, {"items": server.pods})
        if self.path == "/api/v1/persistentvolumeclaims":
            server.claim_reads += 1
            return self._answer(200, {"items": server.claims})
        return self._answer(404, {})

    def _answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve(context=None, token=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.ports, server.token, server.node_ready, server.pods, server.claims = set(), token, "True", [], []
    server.claim_reads = 0
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A cluster CA, a server certificate for IP 127.0.0.1 (as MicroK8s issues for node IPs) and a client cert."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.crt", "-subj", "/CN=10.152.183.1", "-days", "2")  # fmt: skip
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth"),
                      ("named", "subjectAltName=DNS:hello.home.arpa")):  # fmt: skip
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + name + "/O=system:masters")  # fmt: skip
        (d / (name + ".ext")).write_text(ext + "\n")
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")  # fmt: skip
    (d / "token").write_text(TOKEN + "\n")
    return d


def _server_context(pki, require_client_cert=False, name="server"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / (name + ".crt"), pki / (name + ".key"))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.crt")
    return context


def _run(tmp_path, *args):
    out = tmp_path / "out.json"
    assert probe.main([*args, "--seconds", "0.6", "--interval", "0.1", "--timeout", "1", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_every_attempt_is_a_new_connection_and_answers_are_kept(tmp_path):
    server = _serve()
    try:
        report = _run(tmp_path, "request", "--url", "http://127.0.0.1:%d/version" % server.server_address[1])
    finally:
        server.shutdown()
    samples = report["samples"]
    assert len(samples) >= 4
    assert all(ok for _t, ok, _detail, _body, _took in samples)
    assert {detail for _t, _ok, detail, _body, _took in samples} == {"200"}
    assert samples[0][3] == '{"gitVersion": "v1.28.15"}'
    assert all(0 < took < 1 for *_rest, took in samples)
    assert len(server.ports) == len(samples)  # a new source port each time: no keep-alive


def test_a_dead_address_fails_every_attempt_once_without_retry(tmp_path):
    report = _run(tmp_path, "request", "--url", "http://127.0.0.1:9/")  # discard port: nothing listens
    assert report["samples"] and all(not ok for _t, ok, _d, _b, _s in report["samples"])
    assert {detail for _t, _ok, detail, _b, _s in report["samples"]} == {"ConnectionRefusedError"}


def test_https_is_verified_against_the_cluster_ca_and_the_token_is_sent(tmp_path, pki):
    server = _serve(_server_context(pki), token=TOKEN)
    url = "https://127.0.0.1:%d/version" % server.server_address[1]
    try:
        trusted = _run(tmp_path, "request", "--url", url, "--cafile", str(pki / "ca.crt"),
                       "--bearer-file", str(pki / "token"))  # fmt: skip
        untrusted = _run(tmp_path, "request", "--url", url, "--bearer-file", str(pki / "token"))
        no_token = _run(tmp_path, "request", "--url", url, "--cafile", str(pki / "ca.crt"))
    finally:
        server.shutdown()
    assert all(ok for _t, ok, _d, _b, _s in trusted["samples"])
    # the system's CAs do not know the cluster's: the certificate is refused, nothing is sent
    assert {d for _t, _ok, d, _b, _s in untrusted["samples"]} == {"SSLCertVerificationError"}
    assert {d for _t, _ok, d, _b, _s in no_token["samples"]} == {"401"}


def test_the_name_checked_is_the_address_in_the_url(tmp_path, pki):
    """The server certificate names IP 127.0.0.1 only; reaching it as `localhost` must fail the hostname check."""
    server = _serve(_server_context(pki))
    try:
        report = _run(tmp_path, "request", "--url", "https://localhost:%d/version" % server.server_address[1],
                      "--cafile", str(pki / "ca.crt"))  # fmt: skip
    finally:
        server.shutdown()
    assert {d for _t, _ok, d, _b, _s in report["samples"]} == {"SSLCertVerificationError"}


def test_a_client_certificate_authenticates_when_the_kubeconfig_holds_one(tmp_path, pki):
    server = _serve(_server_context(pki, require_client_cert=True))
    url = "https://127.0.0.1:%d/version" % server.server_address[1]
    try:
        with_cert = _run(tmp_path, "request", "--url", url, "--cafile", str(pki / "ca.crt"),
                         "--client-cert", str(pki / "client.crt"), "--client-key", str(pki / "client.key"))  # fmt: skip
        without = _run(tmp_path, "request", "--url", url, "--cafile", str(pki / "ca.crt"))
    finally:
        server.shutdown()
    assert all(ok for _t, ok, _d, _b, _s in with_cert["samples"])
    assert not any(ok for _t, ok, _d, _b, _s in without["samples"])


def _named_server(pki):
    """An ingress-like server whose certificate names only hello.home.arpa; records SNI names and Host headers."""
    context = _server_context(pki, name="named")
    server = _serve(context)
    server.sni, server.hosts = [], []
    context.sni_callback = lambda _sock, name, _ctx: server.sni.append(name)
    handler = server.RequestHandlerClass

    class _Recording(handler):
        def do_GET(self):
            server.hosts.append(self.headers.get("Host"))
            return handler.do_GET(self)

    server.RequestHandlerClass = _Recording
    return server


def test_connect_to_pins_the_name_to_an_address_and_verifies_the_name(tmp_path, pki):
    """As `curl --resolve`: TCP to 127.0.0.1, SNI, certificate check and Host with hello.home.arpa, a new
    connection per attempt; nothing resolves hello.home.arpa here."""
    server = _named_server(pki)
    port = server.server_address[1]
    try:
        report = _run(tmp_path, "request", "--url", "https://hello.home.arpa:%d/version" % port,
                      "--connect-to", "127.0.0.1", "--cafile", str(pki / "ca.crt"))  # fmt: skip
    finally:
        server.shutdown()
    samples = report["samples"]
    assert len(samples) >= 4 and all(ok for _t, ok, _d, _b, _s in samples)
    assert report["connect_to"] == "127.0.0.1" and report["interval"] == 0.1
    assert set(server.sni) == {"hello.home.arpa"} and len(server.sni) == len(samples)
    assert set(server.hosts) == {"hello.home.arpa:%d" % port}
    assert len(server.ports) == len(samples)  # no keep-alive


def test_connect_to_still_refuses_a_certificate_for_another_name_or_an_unknown_ca(tmp_path, pki):
    server = _named_server(pki)
    port = server.server_address[1]
    try:
        wrong_name = _run(tmp_path, "request", "--url", "https://other.home.arpa:%d/" % port,
                          "--connect-to", "127.0.0.1", "--cafile", str(pki / "ca.crt"))  # fmt: skip
        unknown_ca = _run(tmp_path, "request", "--url", "https://hello.home.arpa:%d/" % port,
                          "--connect-to", "127.0.0.1")  # fmt: skip
    finally:
        server.shutdown()
    assert {d for _t, _ok, d, _b, _s in wrong_name["samples"]} == {"SSLCertVerificationError"}
    assert {d for _t, _ok, d, _b, _s in unknown_ca["samples"]} == {"SSLCertVerificationError"}


def test_connect_to_a_dead_address_fails_each_attempt(tmp_path, pki):
    report = _run(tmp_path, "request", "--url", "https://hello.home.arpa:9/", "--connect-to", "127.0.0.1",
                  "--cafile", str(pki / "ca.crt"))  # fmt: skip
    assert report["samples"] and {d for _t, ok, d, _b, _s in report["samples"]} == {"ConnectionRefusedError"}


def test_connect_to_needs_an_https_url(tmp_path):
    with pytest.raises(SystemExit, match="needs an https:// URL"):
        probe.main(["request", "--url", "http://hello.home.arpa/", "--connect-to", "127.0.0.1",
                    "--out", str(tmp_path / "x.json")])  # fmt: skip


def _pod(name, node, ready=True, owner=("ReplicaSet", "hello-abc"), deleting=False, tolerations=None, claims=()):
    meta = {"namespace": "default", "name": name}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T15:00:00Z"
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    spec = {"nodeName": node, "tolerations": tolerations} if tolerations is not None else {"nodeName": node}
    if claims:
        spec["volumes"] = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running", "conditions": conditions}}


def test_watch_records_the_node_and_every_pod(tmp_path, pki):
    server = _serve(_server_context(pki), token=TOKEN)
    server.node_ready = "Unknown"
    server.pods = [_pod("hello-1", "node1", ready=False, deleting=True, tolerations=_ADMITTED),
                   _pod("hello-2", "node2")]  # fmt: skip
    try:
        server_url = "https://127.0.0.1:%d" % server.server_address[1]
        report = _run(tmp_path, "watch", "--server", server_url, "--node", "node1", "--cafile", str(pki / "ca.crt"),
                      "--bearer-file", str(pki / "token"))  # fmt: skip
    finally:
        server.shutdown()
    assert report["node"] == "node1"
    _moment, ready, pods = report["samples"][0]
    assert ready == "Unknown"
    assert pods == [
        ["default", "hello-1", "node1", False, "ReplicaSet/hello-abc", True, 300, []],
        ["default", "hello-2", "node2", True, "ReplicaSet/hello-abc", False, 0, []],
    ]


def _claim(name, *modes):
    return {"metadata": {"namespace": "default", "name": name}, "spec": {"accessModes": list(modes)}}


def test_watch_names_the_single_node_claims_each_pod_mounts(tmp_path):
    server = _serve()
    server.claims = [_claim("data", "ReadWriteOnce"), _claim("shared", "ReadWriteMany"),
                     _claim("solo", "ReadWriteOncePod")]  # fmt: skip
    server.pods = [_pod("writer-1", "node1", claims=("data", "shared")), _pod("reader-1", "node2", claims=("shared",)),
                   _pod("solo-1", "node3", claims=("solo",))]  # fmt: skip
    try:
        report = _run(tmp_path, "watch", "--server", "http://127.0.0.1:%d" % server.server_address[1],
                      "--node", "node1")  # fmt: skip
    finally:
        server.shutdown()
    assert len(report["samples"]) > 1 and server.claim_reads == 1  # read once, not in every sample
    for _moment, _ready, pods in report["samples"]:
        assert [(pod[1], pod[7]) for pod in pods] == [
            ("writer-1", ["default/data"]),
            ("reader-1", []),
            ("solo-1", ["default/solo"]),
        ]


# What the DefaultTolerationSeconds admission gives a pod created while the API server has its defaults.
_ADMITTED = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]
_PROFILE = [dict(t, tolerationSeconds=20) for t in _ADMITTED]


@pytest.mark.parametrize(
    ("tolerations", "seconds"),
    [
        (_ADMITTED, 300),  # created before the profile: the admission's 300 s
        (_PROFILE, 20),  # the failover profile's list in the pod template
        ([], 0),  # no matching toleration: the taint manager evicts at once
        ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}], 0),
        ([_PROFILE[0]], 0),  # only the not-ready taint's: an unreachable node's pods go at once
        ([{"operator": "Exists"}], "forever"),  # tolerates every taint, no seconds
        ([{"operator": "Exists"}, _PROFILE[1]], 20),  # the shortest seconds of the matching ones
        ([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "tolerationSeconds": 45}], 45),  # Equal, ""
    ],
)
def test_the_unreachable_toleration_is_read_as_the_taint_manager_reads_it(tolerations, seconds):
    assert probe.unreachable_seconds({"tolerations": tolerations}) == seconds


def test_watch_marks_unanswered_reads_as_unknown(tmp_path):
    report = _run(tmp_path, "watch", "--server", "http://127.0.0.1:9", "--node", "node1")
    assert all(ready is None and pods is None for _m, ready, pods in report["samples"])


def test_pod_summary_without_owner_or_conditions():
    assert probe.pod_summary({"metadata": {"namespace": "a", "name": "b"}}) == ["a", "b", "", False, "", False, 0, []]
    assert probe.node_ready({"status": {}}) == "Unknown"
