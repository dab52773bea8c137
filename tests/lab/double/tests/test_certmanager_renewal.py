# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 11's renewal target in the double: a short-lived certificate (cert-manager's minimum, 1h) renews at least
twice while a client keeps opening new TLS connections through the ingress, and no handshake fails; once at its
renewal times, once by manual triggers (`cmctl renew`, what the lab scenario does on a real clock).

At the renewal times the controller runs on an injected clock (renewal at 2/3 of the lifetime would take 40 minutes
of real time); that client checks the chain and the name but not the validity dates against the real clock
(OpenSSL's X509_V_FLAG_NO_CHECK_TIME), since the certificates are dated on the injected clock. The manual renewals
run on the real clock and the client checks the dates too."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading

import test_certmanager
from microk8s_double.controllers import certmanager as controller
from microk8s_double.network import ingress
from network_fakes import backend, free_port
from test_certmanager import T0, certificate, install, local_ca, secret_text
from test_certmanager_manual import renew
from test_network_ingress import ing, rule, service_and_endpoints

api = test_certmanager.api  # the fixture, requested by name below
NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME


@contextlib.contextmanager
def connecting_client(api, tmp_path, now, check_time=True):
    """hello-tls issued at `now`, served by an ingress controller, and a client opening new verified connections
    to it in a loop. Yields (round, seen, failures): round() is the node loop's round (the ingress reads the
    Secrets), then waits until the client has made 20 more connections."""
    install(api)
    local_ca(api, now)
    api.client.create(
        "certificates", certificate("hello-tls", "default", "local-ca", duration="1h", dnsNames=["hello.home.arpa"])
    )
    controller.reconcile(api.client, now)
    ca = secret_text(api, "default", "hello-tls", "ca.crt")
    app, address = backend("app")
    svc, ep = service_and_endpoints("app", address)
    served = ingress.IngressController(tmp_path / "ingress")
    port = free_port()
    served.listen("127.0.0.1", free_port(), port)
    rules = [
        ing(
            "hello",
            rule("hello.home.arpa", ("/", "Prefix", "app")),
            tls=[{"hosts": ["hello.home.arpa"], "secretName": "hello-tls"}],
        )
    ]
    seen, failures, stop = [], [], threading.Event()

    def client():
        context = ssl.create_default_context(cadata=ca)
        if not check_time:
            context.verify_flags |= NO_CHECK_TIME
        while not stop.is_set():
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                with context.wrap_socket(raw, server_hostname="hello.home.arpa") as tls:
                    seen.append(tls.getpeercert(binary_form=True))
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: hello.home.arpa\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while chunk := tls.recv(65536):
                        answer += chunk
                    if not answer.startswith(b"HTTP/1.1 200"):
                        failures.append(answer[:40])
            except (OSError, ssl.SSLError) as error:
                failures.append(repr(error))

    def served_round():
        served.update(rules, [svc], [ep], api.client.list("secrets", "default"))
        count = len(seen)
        while len(seen) < count + 20 and thread.is_alive():  # the client sees the current certificate a while
            stop.wait(0.01)

    served.update(rules, [svc], [ep], api.client.list("secrets", "default"))
    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        yield served_round, seen, failures
    finally:
        stop.set()
        thread.join(10)
        served.close()
        app.shutdown()


def revision(api):
    return api.client.get("certificates", "hello-tls", "default")["status"]["revision"]


def test_two_renewals_while_a_client_connects_without_a_failed_handshake(api, tmp_path):
    revisions = []
    with connecting_client(api, tmp_path, T0, check_time=False) as (served_round, seen, failures):
        for minutes in (0, 40, 80):  # renewal at 2/3 of 1h, then 2/3 into the renewed one
            controller.reconcile(api.client, T0 + datetime.timedelta(minutes=minutes))
            served_round()
            revisions.append(revision(api))
    assert revisions == [1, 2, 3]
    assert failures == []
    assert len(set(seen)) == 3, "the client saw %d distinct certificates" % len(set(seen))
    assert len(seen) >= 60


def test_two_manual_renewals_while_a_client_connects_without_a_failed_handshake(api, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    revisions = []
    with connecting_client(api, tmp_path, now) as (served_round, seen, failures):
        served_round()
        revisions.append(revision(api))
        for _renewal in range(2):
            later = datetime.datetime.now(datetime.timezone.utc)
            renew(api.client, "hello-tls", "default", later)
            served_round()  # triggered but not yet issued: the old certificate is still served
            controller.reconcile(api.client, later)
            served_round()
            revisions.append(revision(api))
    assert revisions == [1, 2, 3]
    assert failures == []
    assert len(set(seen)) == 3, "the client saw %d distinct certificates" % len(set(seen))
    assert len(seen) >= 100
