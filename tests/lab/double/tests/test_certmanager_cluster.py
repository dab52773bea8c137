# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager on running daemons: the lease holder's controllers are woken by the objects' changes (no polling
loop): a Certificate is Ready seconds after it is created, as the addon left the cluster."""

from __future__ import annotations

import time

import pytest
from cluster_fixtures import FAST_ARGS, clusters, wait_for
from microk8s_double import kubelite
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import certmanager
from microk8s_double.kubeclient import KubeClient


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def test_a_certificate_is_ready_seconds_after_it_is_created(make_cluster):
    cluster = make_cluster(args=FAST_ARGS, pod_network="host")
    first = cluster.new_node()
    client = KubeClient.for_node(first.node)
    wait_for(lambda: client.get("namespaces", "default"), what="the API server")
    addon_workloads.apply(first.node, "enable", "cert-manager")
    client.create("clusterissuers", {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                                     "metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}})  # fmt: skip
    started = time.monotonic()
    client.create("certificates", {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                                   "metadata": {"name": "hello", "namespace": "default"},
                                   "spec": {"secretName": "hello-tls", "dnsNames": ["hello.home.arpa"],
                                            "privateKey": {"algorithm": "ECDSA"},
                                            "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer"}}})  # fmt: skip

    def ready():
        cert = client.get("certificates", "hello", "default")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in cert.get("status", {}).get("conditions", []))

    wait_for(ready, timeout=20, what="the Certificate Ready")
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"Ready after {elapsed:.1f} s: the controllers were not woken by the change"
    assert client.get("secrets", "hello-tls", "default")["type"] == "kubernetes.io/tls"


def test_kubelite_wakes_at_the_earliest_scheduled_time(monkeypatch):
    monkeypatch.setattr(certmanager, "_due", {"default/a": time.time() + 100, "default/b": time.time() + 40})
    dues = kubelite.controller_dues()
    assert certmanager.due in dues
    assert 39 < kubelite.next_due(dues) - time.monotonic() <= 40
    monkeypatch.setattr(certmanager, "_due", {})
    assert kubelite.next_due(dues) is None
