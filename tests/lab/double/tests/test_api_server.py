# SPDX-License-Identifier: GPL-3.0-or-later
"""The API server's REST semantics through kubeclient, against an in-memory datastore: create/update/patch/delete,
resourceVersion conflicts, validation, selectors, graceful pod deletion, watch and the controllers' Lease."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from api_fixtures import admin_headers, api_server
from microk8s_double.api import patch
from microk8s_double.controllers import lease
from microk8s_double.kubeclient import ApiError


def deployment(name: str = "hello", replicas: int = 1, **selector) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": selector or {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": "hello"}]}},
        },
    }


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def test_create_gives_identity_defaults_and_refuses_a_second_one(api):
    made = api.client.create("deployments", deployment(), "default")
    meta = made["metadata"]
    assert (meta["namespace"], meta["generation"]) == ("default", 1) and meta["uid"] and int(meta["resourceVersion"])
    container = made["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"  # untagged image
    assert made["spec"]["strategy"]["type"] == "RollingUpdate" and made["status"] == {}
    with pytest.raises(ApiError) as twice:
        api.client.create("deployments", deployment(), "default")
    assert (twice.value.status, twice.value.reason) == (409, "AlreadyExists")


def test_stale_resource_version_conflicts_and_spec_changes_bump_generation(api):
    made = api.client.create("deployments", deployment(), "default")
    newer = api.client.patch("deployments", "hello", {"spec": {"replicas": 3}}, "default")
    assert int(newer["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
    assert newer["metadata"]["generation"] == 2
    with pytest.raises(ApiError) as stale:
        api.client.update("deployments", made)
    assert stale.value.status == 409 and "the object has been modified" in stale.value.message
    same = api.client.patch("deployments", "hello", {"spec": {"replicas": 3}}, "default", patch_type="strategic")
    assert same["metadata"]["resourceVersion"] == newer["metadata"]["resourceVersion"]  # a no-op writes nothing


def test_status_subresource_and_main_resource_do_not_overwrite_each_other(api):
    api.client.create("deployments", deployment(), "default")
    api.client.patch("deployments", "hello", {"status": {"replicas": 1}, "spec": {"replicas": 5}}, "default", None,
                     "merge")  # fmt: skip
    ignored = api.client.get("deployments", "hello", "default")
    assert ignored["status"] == {} and ignored["spec"]["replicas"] == 5
    done = api.client.patch("deployments", "hello", {"status": {"replicas": 1}, "spec": {"replicas": 9}}, "default",
                            subresource="status")  # fmt: skip
    assert done["status"] == {"replicas": 1} and done["spec"]["replicas"] == 5


def test_invalid_objects_are_refused_with_the_fields_named(api):
    broken = deployment()
    del broken["spec"]["selector"]
    with pytest.raises(ApiError) as refused:
        api.client.create("deployments", broken, "default")
    assert refused.value.status == 422
    assert refused.value.message == 'Deployment.apps "hello" is invalid: spec.selector: Required value'
    with pytest.raises(ApiError) as mismatch:
        api.client.create("deployments", deployment(matchLabels={"app": "other"}), "default")
    assert "`selector` does not match template `labels`" in mismatch.value.message
    with pytest.raises(ApiError) as bad_name:
        api.client.create("configmaps", {"metadata": {"name": "Bad_Name"}}, "default")
    assert bad_name.value.status == 422
    with pytest.raises(ApiError) as no_namespace:
        api.client.create("configmaps", {"metadata": {"name": "x"}}, "nowhere")
    assert (no_namespace.value.status, no_namespace.value.message) == (404, 'namespaces "nowhere" not found')


def test_dry_run_stores_nothing(api):
    path = "/apis/apps/v1/namespaces/default/deployments?dryRun=All"
    answer = api.client.request("POST", path, deployment())
    assert answer["metadata"]["name"] == "hello"
    assert api.client.get("deployments", "hello", "default") is None


def test_label_and_field_selectors(api):
    for name, tier, node in (("a", "web", "n1"), ("b", "db", "n1"), ("c", "web", "n2")):
        pod = {
            "metadata": {"name": name, "labels": {"tier": tier}},
            "spec": {"containers": [{"name": "c", "image": "i:1"}]},
        }
        api.client.create("pods", pod, "default")
        if node:
            api.client.request("POST", f"/api/v1/namespaces/default/pods/{name}/binding", {"target": {"name": node}})

    def names(**query):
        return sorted(p["metadata"]["name"] for p in api.client.list("pods", "default", **query))

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier in (db,cache)") == ["b"]
    assert names(label_selector="tier!=web,!missing") == ["b"]
    assert names(field_selector="spec.nodeName=n1") == ["a", "b"]
    assert names(field_selector="spec.nodeName=n1,metadata.name!=a") == ["b"]
    assert len(api.client.list("pods")) == 3  # every namespace
    with pytest.raises(ApiError) as bound:
        api.client.request("POST", "/api/v1/namespaces/default/pods/a/binding", {"target": {"name": "n2"}})
    assert bound.value.status == 409


def test_pods_on_a_node_end_gracefully_unless_forced(api):
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i:1"}], "nodeName": "n1"}}
    api.client.create("pods", pod, "default")
    assert api.client.delete("pods", "p", "default")
    terminating = api.client.get("pods", "p", "default")
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30 and terminating["metadata"]["deletionTimestamp"]
    assert api.client.delete("pods", "p", "default", {"gracePeriodSeconds": 0})
    assert api.client.get("pods", "p", "default") is None
    api.client.create("pods", dict(pod, spec=dict(pod["spec"], nodeName="")), "default")
    api.client.delete("pods", "p", "default")
    assert api.client.get("pods", "p", "default") is None  # never scheduled: gone at once


def test_scale_subresource(api):
    api.client.create("deployments", deployment(), "default")
    scale = api.client.request("GET", "/apis/apps/v1/namespaces/default/deployments/hello/scale")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 1} and scale["status"]["selector"] == "app=hello"
    api.client.patch("deployments", "hello", {"spec": {"replicas": 4}}, "default", subresource="scale")
    assert api.client.get("deployments", "hello", "default")["spec"]["replicas"] == 4


def test_watch_streams_changes_after_the_listed_version(api):
    _items, version = api.client.list_with_version("configmaps", "default")
    api.client.create("configmaps", {"metadata": {"name": "early"}}, "default")
    connection = http.client.HTTPSConnection(api.ip, api.node.port("apiserver"), context=api.client.context, timeout=10)
    headers = admin_headers(api.node)
    connection.request("GET", f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={version}"
                       "&timeoutSeconds=5", headers=headers)  # fmt: skip
    response = connection.getresponse()
    first = json.loads(response.readline())
    assert (first["type"], first["object"]["metadata"]["name"]) == ("MODIFIED", "early")
    api.client.create("configmaps", {"metadata": {"name": "late"}, "data": {"a": "1"}}, "default")
    api.client.delete("configmaps", "early", "default")
    seen = [json.loads(response.readline()) for _unused in range(2)]
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in seen) == [
        ("ADDED", "late"),
        ("DELETED", "early"),
    ]
    connection.close()


def test_strategic_merge_replaces_a_nodes_taints_whole():
    """NodeSpec.Taints has no patch strategy (listType atomic): a patch without a taint removes it (an administrator
    lifting `node.kubernetes.io/out-of-service` this way must see it go)."""
    dedicated = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    out_of_service = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}
    merged = patch.strategic_merge({"spec": {"taints": [out_of_service, dedicated]}}, {"spec": {"taints": [dedicated]}})
    assert merged["spec"]["taints"] == [dedicated]


def test_strategic_merge_merges_containers_by_name_and_honours_directives():
    current = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}],
                        "finalizers": ["f1"], "tolerations": [{"key": "t"}]}}  # fmt: skip
    changes = {"spec": {"containers": [{"name": "b", "image": "y:2"}, {"name": "a", "$patch": "delete"}],
                        "finalizers": ["f2"], "tolerations": [{"key": "u"}]}}  # fmt: skip
    merged = patch.strategic_merge(current, changes)
    assert merged["spec"] == {"containers": [{"name": "b", "image": "y:2"}], "finalizers": ["f1", "f2"],
                              "tolerations": [{"key": "u"}]}  # fmt: skip
    dropped = patch.merge_patch(current, {"spec": {"containers": None}})
    assert dropped == {"spec": {"finalizers": ["f1"], "tolerations": [{"key": "t"}]}}
    ops = [
        {"op": "replace", "path": "/spec/containers/0/image", "value": "x:9"},
        {"op": "remove", "path": "/spec/finalizers"},
    ]
    patched = patch.json_patch(current, ops)["spec"]
    assert patched == {"containers": [{"name": "a", "image": "x:9"}, {"name": "b", "image": "y:1"}],
                       "tolerations": [{"key": "t"}]}  # fmt: skip


def test_one_lease_holder_until_it_stops_renewing(api):
    first = lease.Election(api.client, "node-1", duration=1)
    second = lease.Election(api.client, "node-2", duration=1)
    assert first.step() and not second.step()
    assert first.step() and not second.step()  # renewed
    time.sleep(1.3)
    assert second.step() and not first.step()
    held = api.client.get("leases", lease.NAME, lease.NAMESPACE)["spec"]
    assert (held["holderIdentity"], held["leaseTransitions"]) == ("node-2", 1)
