# SPDX-License-Identifier: GPL-3.0-or-later
"""The k8s_drift lookup's reading of one object: what it skips must really be in the cluster as desired."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from ansible_collections.onprem.microk8s.plugins.lookup.k8s_drift import read_drift

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front", "namespace": "ingress"}, "spec": {}}


class _Resource:
    def __init__(self, namespaced):
        self.namespaced = namespaced


class _Live:
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return self.obj


class FakeClient:
    """kubernetes.core's client as read_drift uses it: resource() then get()."""

    def __init__(self, objects=None, served=("Service",), fail=None):
        self.objects, self.served, self.fail = objects or {}, served, fail

    def resource(self, kind, api_version):
        if kind not in self.served:
            raise ResourceNotFoundError(f"{api_version}/{kind}")
        return _Resource(namespaced=kind != "Namespace")

    def get(self, resource, name, namespace):
        if self.fail:
            raise self.fail
        if (namespace, name) not in self.objects:
            raise NotFoundError(ApiException(status=404, reason="Not Found"))
        return _Live(self.objects[(namespace, name)])


def _live(**spec):
    return {**SERVICE, "spec": {"type": "LoadBalancer", **spec}, "status": {"loadBalancer": {"ingress": [{"ip": "1"}]}}}


def test_an_object_holding_the_definition_is_in_sync_and_its_status_comes_back():
    desired = {**SERVICE, "spec": {"type": "LoadBalancer"}}
    entry = read_drift(FakeClient({("ingress", "front"): _live(clusterIP="10.0.0.1")}), desired)
    assert entry["drifted"] is False
    assert entry["status"]["loadBalancer"]["ingress"][0]["ip"] == "1"
    assert entry["definition"] is desired


def test_a_differing_object_is_drifted():
    desired = {**SERVICE, "spec": {"type": "NodePort"}}
    entry = read_drift(FakeClient({("ingress", "front"): _live()}), desired)
    assert (entry["drifted"], entry["reason"]) == (True, "differs")


@pytest.mark.parametrize(
    ("client", "definition", "reason"),
    [
        (FakeClient(), SERVICE, "missing"),
        (FakeClient(served=()), SERVICE, "kind not served"),
        (FakeClient(), {**SERVICE, "metadata": {"name": "front"}}, "no namespace given"),
        (FakeClient(fail=ApiException(status=403, reason="Forbidden")), SERVICE, "unreadable (ApiException)"),
        (FakeClient(fail=ConnectionRefusedError()), SERVICE, "unreadable (ConnectionRefusedError)"),
    ],
    ids=["missing", "kind-not-served", "no-namespace", "forbidden", "api-down"],
)
def test_what_cannot_be_compared_counts_as_drifted(client, definition, reason):
    entry = read_drift(client, definition)
    assert (entry["drifted"], entry["reason"], entry["status"]) == (True, reason, {})


def test_a_secret_s_data_never_comes_back():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": {"k": "dg=="}}
    entry = read_drift(FakeClient({("n", "s"): dict(secret)}, served=("Secret",)), secret)
    assert entry["drifted"] is False
    assert set(entry) == {"definition", "drifted", "reason", "status"}
    assert entry["status"] == {}
