# SPDX-License-Identifier: GPL-3.0-or-later
"""The ingress controller: host and path routing rules, and real HTTP(S) through it on loopback."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import subprocess
import time

import pytest
from microk8s_double.network import ingress
from network_fakes import backend, free_port


def rule(host, *paths):
    entries = [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}} for p, t, s in paths
    ]
    return {"host": host, "http": {"paths": entries}} if host else {"http": {"paths": entries}}


def ing(name, *rules, cls=None, default=None, tls=None):
    spec = {"rules": list(rules)}
    spec.update({"ingressClassName": cls} if cls else {})
    spec.update({"defaultBackend": {"service": {"name": default, "port": {"name": "http"}}}} if default else {})
    spec.update({"tls": tls} if tls else {})
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


INGRESSES = [
    ing("a", rule("hello.lab", ("/", "Prefix", "root"), ("/api", "Prefix", "api"), ("/api/v2", "Exact", "v2"))),
    ing("b", rule("*.apps.lab", ("/", "Prefix", "wild"))),
    ing("c", rule(None, ("/static", "ImplementationSpecific", "static")), default="fallback"),
    ing("d", rule("other.lab", ("/", "Prefix", "traefik")), cls="traefik"),
]


@pytest.mark.parametrize(
    ("host", "path", "service"),
    [
        ("hello.lab", "/", "root"),
        ("hello.lab", "/api", "api"),
        ("hello.lab", "/api/users", "api"),
        ("hello.lab", "/apiary", "root"),  # Prefix matches whole path elements
        ("hello.lab", "/api/v2", "v2"),
        ("hello.lab", "/api/v2/x", "api"),  # Exact only matches exactly
        ("x.apps.lab", "/anything", "wild"),
        ("y.x.apps.lab", "/static/a.css", "static"),  # a wildcard covers one label only
        ("unknown.lab", "/staticfiles", "static"),  # ImplementationSpecific: string prefix
        ("unknown.lab", "/", "fallback"),
        ("other.lab", "/", "fallback"),  # another controller's class is not served
    ],
)
def test_routing(host, path, service):
    assert ingress.pick(INGRESSES, host, path)[1] == service


def test_nothing_matches_without_a_default_backend():
    assert ingress.pick(INGRESSES[:2], "unknown.lab", "/") is None
    legacy = {
        "metadata": {"name": "l", "namespace": "web"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"serviceName": "s", "servicePort": 8080}}]}}]},
    }
    assert ingress.pick([legacy], "any", "/x") == ("web", "s", 8080)


def service_and_endpoints(name, address):
    svc = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": "10.152.183.9", "ports": [{"name": "http", "port": 80, "targetPort": address[1]}]},
    }
    ep = {
        "metadata": {"name": name, "namespace": "default"},
        "subsets": [{"addresses": [{"ip": address[0]}], "ports": [{"name": "http", "port": address[1]}]}],
    }
    return svc, ep


def get(port, host, path, context=None):
    if context:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path, headers={"Host": host})
    answer = connection.getresponse()
    result = answer.status, answer.read().decode()
    peer = connection.sock.getpeercert(binary_form=True) if context else None
    connection.close()
    return result, peer


def tls_secret(tmp_path, host):
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            f"/CN={host}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    data = {
        "tls.crt": base64.b64encode(cert.read_bytes()).decode(),
        "tls.key": base64.b64encode(key.read_bytes()).decode(),
    }
    secret = {"metadata": {"name": "hello-tls", "namespace": "default", "resourceVersion": "1"}, "data": data}
    return secret, ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_http_and_https_reach_the_routed_service(tmp_path):
    root, root_address = backend("root")
    api, api_address = backend("api")
    services, endpoints = zip(service_and_endpoints("root", root_address), service_and_endpoints("api", api_address))
    empty = {
        "metadata": {"name": "fallback", "namespace": "default"},
        "spec": {"clusterIP": "10.152.183.8", "ports": [{"name": "http", "port": 80}]},
    }
    secret, secret_der = tls_secret(tmp_path, "hello.lab")
    rules = [
        ing(
            "a",
            rule("hello.lab", ("/", "Prefix", "root"), ("/api", "Prefix", "api")),
            default="fallback",
            tls=[{"hosts": ["hello.lab"], "secretName": "hello-tls"}],
        )
    ]
    controller = ingress.IngressController(tmp_path / "ingress")
    http_port, https_port = free_port(), free_port()
    controller.listen("127.0.0.1", http_port, https_port)
    try:
        controller.update(rules, [*services, empty], list(endpoints), [secret])
        assert get(http_port, "hello.lab", "/api/x?q=1")[0] == (200, "api /api/x?q=1 hello.lab http")
        assert get(http_port, "hello.lab:80", "/")[0] == (200, "root / hello.lab:80 http")
        assert get(http_port, "nope.lab", "/")[0][0] == 503  # the default backend has no endpoints
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        (status, body), der = get(https_port, "hello.lab", "/api", context=insecure)
        assert (status, body) == (200, "api /api hello.lab https")
        assert der != secret_der  # no SNI sent by http.client with an IP: the fake certificate
        sni = insecure.wrap_socket(socket.create_connection(("127.0.0.1", https_port)), server_hostname="hello.lab")
        assert sni.getpeercert(binary_form=True) == secret_der
        sni.close()
        controller.update([], [], [], [])
        (status, body), _der = get(http_port, "hello.lab", "/")
        assert status == 404 and "<center><h1>404 Not Found</h1></center>" in body
        dead = {
            "metadata": {"name": "root", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": free_port()}]}],
        }
        controller.update(rules, list(services), [dead], [])
        assert get(http_port, "hello.lab", "/")[0][0] == 502
    finally:
        controller.close()
        root.shutdown()
        api.shutdown()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, (5.0, 3)),  # ingress-nginx's defaults: proxy-connect-timeout 5 s, proxy-next-upstream-tries 3
        ({"proxy-connect-timeout": "2", "proxy-next-upstream-tries": "0"}, (2.0, 0)),
        ({"proxy-next-upstream": "off"}, (5.0, 1)),
        ({"proxy-connect-timeout": "soon"}, (5.0, 3)),  # not a number: the default, as the controller keeps it
    ],
)
def test_upstream_settings_come_from_the_controllers_configmap(data, expected):
    config = {"metadata": {"name": "nginx-load-balancer-microk8s-conf", "namespace": "ingress"}, "data": data}
    assert ingress.upstream_settings(config if data is not None else None) == expected


def silent_upstream():
    """A listener whose accept queue is full: the kernel drops further SYNs, as a powered-off pod's node would
    leave them unanswered. Returns (its address, the sockets to close)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _attempt in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(listener.getsockname())
        pytest.skip("this kernel answers SYNs beyond a full accept queue")
    except TimeoutError:
        pass
    finally:
        probe.close()
    return listener.getsockname(), [listener, *fillers]


def test_an_unanswering_endpoint_costs_the_connect_timeout_then_the_next_one_is_tried(tmp_path):
    """ingress-nginx's proxy-next-upstream "error timeout": the request waits proxy-connect-timeout on an endpoint
    that does not answer, then tries the next one (up to proxy-next-upstream-tries); all tries timed out: 504."""
    good, good_address = backend("good")
    dead_address, sockets = silent_upstream()
    svc, ep = service_and_endpoints("root", good_address)
    ep["subsets"] = [
        {"addresses": [{"ip": dead_address[0]}], "ports": [{"name": "http", "port": dead_address[1]}]},
        {"addresses": [{"ip": good_address[0]}], "ports": [{"name": "http", "port": good_address[1]}]},
    ]
    svc["spec"]["ports"][0].pop("targetPort")
    rules = [ing("a", rule("hello.lab", ("/", "Prefix", "root")))]
    controller = ingress.IngressController(tmp_path / "ingress")
    http_port = free_port()
    controller.listen("127.0.0.1", http_port, free_port())
    config = {"metadata": {"name": "nginx-load-balancer-microk8s-conf", "namespace": "ingress"}}
    try:
        config["data"] = {"proxy-connect-timeout": "1"}
        controller.update(rules, [svc], [ep], [], config)
        controller.turn = iter(range(100))  # the first request starts at the dead endpoint
        began = time.monotonic()
        assert get(http_port, "hello.lab", "/")[0] == (200, "good / hello.lab http")
        assert 0.9 <= time.monotonic() - began < 2.5
        config["data"] = {"proxy-connect-timeout": "1", "proxy-next-upstream-tries": "1"}
        controller.update(rules, [svc], [ep], [], config)
        controller.turn = iter(range(100))
        began = time.monotonic()
        assert get(http_port, "hello.lab", "/")[0][0] == 504
        assert 0.9 <= time.monotonic() - began < 2.5
    finally:
        controller.close()
        good.shutdown()
        for sock in sockets:
            sock.close()
