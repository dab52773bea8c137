# SPDX-License-Identifier: GPL-3.0-or-later
"""The API server and its clients build their TLS contexts once per version of their certificate files (an idle lab
node made one for every connection): the same context while the files stay, a new one as soon as a join or
`refresh-certs` rewrites one, so the next connection presents the new certificate, as kube-apiserver's dynamic
serving certificate does."""

from __future__ import annotations

import socket
import ssl

from api_fixtures import api_server
from microk8s_double import apiserver, certs
from microk8s_double.kubeclient import KubeClient


def served_certificate(api) -> bytes:
    """The DER certificate a new connection to the API server presents."""
    context = ssl.create_default_context(cafile=str(api.node.paths.cert("ca.crt")))
    context.check_hostname = False
    raw = socket.create_connection((api.ip, api.node.port("apiserver")), timeout=10)
    with raw, context.wrap_socket(raw) as tls:
        return tls.getpeercert(binary_form=True)


def test_the_serving_context_is_kept_until_its_certificate_changes(tmp_path):
    with api_server(tmp_path, version="1.32") as api:
        first = apiserver.tls_context(api.node)
        assert apiserver.tls_context(api.node) is first
        before = served_certificate(api)

        certs.issue_server_cert(api.node)  # what refresh-certs and a join do

        assert apiserver.tls_context(api.node) is not first
        after = served_certificate(api)
        assert after != before
        assert after == ssl.PEM_cert_to_DER_cert(api.node.paths.cert("server.crt").read_text())
        assert api.client.get("namespaces", "default")["metadata"]["name"] == "default"


def test_a_client_context_is_shared_until_its_ca_changes(tmp_path):
    with api_server(tmp_path, version="1.32") as api:
        one, two = KubeClient.for_node(api.node), KubeClient.for_node(api.node)
        assert one.context is two.context
        ca = api.node.paths.cert("ca.crt")
        ca.write_text(ca.read_text() + "\n")  # a join writes the cluster's CA over the node's

        assert KubeClient.for_node(api.node).context is not one.context
