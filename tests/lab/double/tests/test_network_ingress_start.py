# SPDX-License-Identifier: GPL-3.0-or-later
"""An ingress controller that cannot take :443 leaves nothing behind on :80 (found in the lab, where a half-started
controller answered 404 on :80 and its retries failed forever)."""

from __future__ import annotations

import socket

import pytest
from microk8s_double.network import ingress
from network_fakes import free_port


def test_a_failed_https_bind_releases_the_http_port(tmp_path):
    http_port, https_port = free_port(), free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", https_port))
        taken.listen()
        controller = ingress.IngressController(tmp_path / "ingress")
        with pytest.raises(OSError):
            controller.listen("127.0.0.1", http_port, https_port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", http_port))  # free again: no leaked server
    assert controller.servers == []
