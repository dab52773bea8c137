# SPDX-License-Identifier: GPL-3.0-or-later
"""Probes: HTTP, TCP and exec checks against real loopback listeners, thresholds and timing."""

from __future__ import annotations

import socket

from microk8s_double.kubelet.probes import Prober, check
from network_fakes import backend, free_port

CONTAINER = {"name": "c", "ports": [{"name": "web", "containerPort": 0}]}


def test_http_probe_by_port_number_and_name():
    server, (ip, port) = backend("ok")
    try:
        container = {"ports": [{"name": "web", "containerPort": port}]}
        assert check({"httpGet": {"path": "/healthz", "port": port}}, ip, container, None)
        assert check({"httpGet": {"path": "/healthz", "port": "web"}}, ip, container, None)
        assert not check({"httpGet": {"path": "/", "port": "missing"}}, ip, container, None)
    finally:
        server.shutdown()
        server.server_close()


def test_tcp_probe_fails_when_nothing_listens():
    port = free_port()
    assert not check({"tcpSocket": {"port": port}}, "127.0.0.1", CONTAINER, None)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert check({"tcpSocket": {"port": port}}, "127.0.0.1", CONTAINER, None)


def test_exec_probe_uses_the_exit_code():
    probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "timeoutSeconds": 3}
    assert check(probe, "", CONTAINER, lambda argv, timeout: 0 if argv[0] == "cat" and timeout == 3 else 1)
    assert not check(probe, "", CONTAINER, lambda argv, timeout: 1)


def test_thresholds_and_timing():
    prober = Prober({"initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 2}, started=100, result=True)
    assert not prober.due(104) and prober.due(105)
    assert prober.record(False, 105) is True  # one failure is not enough
    assert not prober.due(114) and prober.due(115)
    assert prober.record(False, 115) is False
    assert prober.record(True, 125) is True  # successThreshold 1
