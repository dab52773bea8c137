# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a live object already holds a desired definition: what the roles skip on a re-run depends on it."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.onprem.microk8s.plugins.module_utils._k8s_drift import contains, identity

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "hello", "namespace": "demo", "labels": {"app": "hello"}},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {"containers": [{"name": "hello", "image": "hello:1", "ports": [{"containerPort": 8080}]}]}
        },
    },
}


def _live():
    """DESIRED as the API server returns it: with the fields it adds."""
    live = copy.deepcopy(DESIRED)
    live["metadata"].update({"uid": "1234", "resourceVersion": "77", "creationTimestamp": "2026-12-04T00:00:00Z"})
    live["metadata"]["labels"]["pod-template-hash"] = "abc"
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    container = live["spec"]["template"]["spec"]["containers"][0]
    container.update({"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"})
    container["ports"][0]["protocol"] = "TCP"
    live["status"] = {"replicas": 3}
    return live


def test_fields_the_server_adds_do_not_count_as_drift():
    assert contains(_live(), DESIRED)


@pytest.mark.parametrize(
    "change",
    [
        lambda live: live["spec"].update(replicas=2),
        lambda live: live["metadata"]["labels"].pop("app"),
        lambda live: live["metadata"]["labels"].update(app="other"),
        lambda live: live["spec"]["template"]["spec"]["containers"][0].update(image="hello:2"),
        lambda live: live["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"}),
        lambda live: live["spec"]["template"]["spec"]["containers"][0]["ports"].clear(),
        lambda live: live["spec"].pop("template"),
    ],
    ids=["replicas", "label-removed", "label-changed", "image", "extra-container", "list-shorter", "field-missing"],
)
def test_a_changed_field_counts_as_drift(change):
    live = _live()
    change(live)
    assert not contains(live, DESIRED)


def test_scalars_of_another_kind_differ():
    assert not contains({"port": "80"}, {"port": 80})
    assert not contains({"enabled": 1}, {"enabled": True})
    assert not contains({"enabled": True}, {"enabled": 1})
    assert contains({"ratio": 1.0}, {"ratio": 1})


def test_a_field_set_to_none_must_be_absent():
    assert contains({"a": 1}, {"b": None})
    assert not contains({"a": 1, "b": 2}, {"b": None})


def test_a_missing_object_is_not_in_sync():
    assert not contains(None, DESIRED)
    assert not contains({}, DESIRED)


def test_identity_defaults_the_api_version_to_v1():
    assert identity({"kind": "Namespace", "metadata": {"name": "x"}}) == {
        "api_version": "v1",
        "kind": "Namespace",
        "name": "x",
        "namespace": None,
    }
    assert identity(DESIRED)["namespace"] == "demo"
