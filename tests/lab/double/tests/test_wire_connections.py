# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemons' frequent calls keep their connections open (wire.call(..., keep=True), HTTP/1.1 keep-alive): one
TCP connection, server thread and TLS handshake for many calls, not one each (an idle node's main cost). A
connection the server closed (idle for wire.IDLE_TIMEOUT, or a restarted daemon) is not reused; calls without `keep`
connect anew. With `connect_timeout` (the datastore's forwards to its leader) a peer whose packets go unanswered
costs that long on a kept connection too, as on a connection attempt."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import time

import pytest
from api_fixtures import api_server
from microk8s_double import apiserver, wire


@contextlib.contextmanager
def echo():
    """A plain wire server on its own loopback address answering each call with the client's port (one port = one
    connection): yields call(**options) -> that port, with the server's address as `.ip`."""
    ip = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.1"
    server = wire.serve(
        (ip, 0), lambda method, path: lambda request: (200, {"port": request.handler.client_address[1]})
    )

    def call(**options):
        return wire.call(ip, server.server_address[1], "GET", "/", **options)["port"]

    call.ip = ip
    try:
        yield call
    finally:
        server.shutdown()
        server.server_close()


def test_calls_with_keep_share_one_connection_and_those_without_connect_anew():
    with echo() as call:
        assert len({call(keep=True) for _call in range(5)}) == 1
        assert len({call() for _call in range(5)}) == 5


def test_a_connection_the_server_closed_when_idle_is_not_reused(monkeypatch):
    monkeypatch.setattr(wire, "IDLE_TIMEOUT", 0.5)
    with echo() as call:
        first = call(keep=True)
        time.sleep(1.0)  # the server's idle timeout closes it
        assert call(keep=True) != first


def test_a_kept_connection_to_a_peer_that_stops_answering_costs_the_connect_timeout():
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("needs root and iptables to drop the packets of a peer")
    with echo() as call:
        first = call(keep=True, connect_timeout=1.0, timeout=10)
        assert call(keep=True, connect_timeout=1.0, timeout=10) == first  # kept
        rule = ["INPUT", "-d", call.ip, "-j", "DROP"]  # the server lives on, its packets go unanswered
        subprocess.run(["iptables", "-I", *rule], check=True)
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                call(keep=True, connect_timeout=1.0, timeout=10)
            assert time.monotonic() - started < 3  # about the connect timeout, not the answer's 10 s
        finally:
            subprocess.run(["iptables", "-D", *rule], check=False)


def test_an_api_client_makes_one_tls_connection_for_many_calls(tmp_path, monkeypatch):
    accepted = []
    with api_server(tmp_path) as api:
        build = apiserver.tls_context
        monkeypatch.setattr(apiserver, "tls_context", lambda node: accepted.append(node) or build(node))
        for _call in range(5):
            assert api.client.get("namespaces", "default")["metadata"]["name"] == "default"
        assert len(accepted) == 1  # the server wraps each accepted connection in the context once
