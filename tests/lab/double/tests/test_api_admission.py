# SPDX-License-Identifier: GPL-3.0-or-later
"""What the API server adds to and refuses in requests, as the real one does: error Status formats
(k8s.io/apimachinery's errors), server-side field validation, the DefaultTolerationSeconds admission, evictions
under PodDisruptionBudgets, both Event APIs, and chunked request bodies."""

from __future__ import annotations

import http.client
import json

import pytest
from api_fixtures import admin_headers, api_server
from test_api_server import deployment

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def connect(api) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(api.ip, api.node.port("apiserver"), context=api.client.context, timeout=10)


def raw(api, method: str, path: str, body: object = None, content_type: str = "application/json"):
    """(status, Warning headers, decoded body) of one request."""
    connection = connect(api)
    headers = {**admin_headers(api.node), "Content-Type": content_type}
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, response.headers.get_all("Warning") or [], answer


def test_error_statuses_name_the_resource_or_for_invalid_the_kind(api):
    broken = deployment("bad")
    del broken["spec"]["selector"]
    code, _warnings, invalid = raw(api, "POST", "/apis/apps/v1/namespaces/default/deployments", broken)
    assert (code, invalid["reason"]) == (422, "Invalid")
    assert invalid["message"] == 'Deployment.apps "bad" is invalid: spec.selector: Required value'
    wanted = {"name": "bad", "group": "apps", "kind": "Deployment"}
    assert {k: invalid["details"][k] for k in ("name", "group", "kind")} == wanted
    assert invalid["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                             "field": "spec.selector"}]  # fmt: skip
    two = deployment("two", replicas=-1, matchLabels={"app": "other"})
    message = raw(api, "POST", "/apis/apps/v1/namespaces/default/deployments", two)[2]["message"]
    assert message.startswith('Deployment.apps "two" is invalid: [spec.template.metadata.labels: Invalid value: ')
    assert message.endswith(", spec.replicas: Invalid value: -1: must be greater than or equal to 0]")
    code, _warnings, missing = raw(api, "GET", "/apis/apps/v1/namespaces/default/deployments/x")
    assert (code, missing["message"]) == (404, 'deployments.apps "x" not found')
    assert missing["details"] == {"name": "x", "group": "apps", "kind": "deployments"}
    api.client.create("configmaps", {"metadata": {"name": "c"}}, "default")
    code, _warnings, twice = raw(api, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}})
    assert (code, twice["reason"], twice["message"]) == (409, "AlreadyExists", 'configmaps "c" already exists')
    assert twice["details"] == {"name": "c", "kind": "configmaps"}


def test_field_validation_strict_refuses_warn_warns_and_unknown_fields_are_never_stored(api):
    path = "/apis/apps/v1/namespaces/default/deployments"
    bogus = deployment("web")
    bogus["spec"] = {"bogus": 1, **bogus["spec"]}  # reported in the body's order
    bogus["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    code, _warnings, refused = raw(api, "POST", path + "?fieldValidation=Strict", bogus)
    assert (code, refused["reason"]) == (400, "BadRequest")
    assert refused["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
                                  'error: unknown field "spec.bogus", unknown field '
                                  '"spec.template.spec.containers[0].imagee"')  # fmt: skip
    code, warnings, made = raw(api, "POST", path + "?fieldValidation=Warn", bogus)
    quoted = ['"unknown field \\"spec.bogus\\""', '"unknown field \\"spec.template.spec.containers[0].imagee\\""']
    assert code == 201 and warnings == [f"299 - {text}" for text in quoted]
    assert "bogus" not in made["spec"] and "imagee" not in made["spec"]["template"]["spec"]["containers"][0]
    code, warnings, _made = raw(api, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldValidation=Strict",
                                {"spec": {"bogus": 2}}, "application/strategic-merge-patch+json")  # fmt: skip
    assert (code, _made["message"]) == (400, 'strict decoding error: unknown field "spec.bogus"')
    code, warnings, _made = raw(api, "PUT", path + "/web?fieldValidation=Ignore", dict(made, extra=1))
    assert code == 200 and not warnings and "extra" not in api.client.get("deployments", "web", "default")
    assert raw(api, "POST", path + "?fieldValidation=Sloppy", deployment("x"))[0] == 400


def test_servers_before_1_25_ignore_field_validation(tmp_path):
    with api_server(tmp_path, "1.20") as old:
        bogus = dict(deployment("web"), bogus=1)
        code, warnings, _made = raw(old, "POST", "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
                                    bogus)  # fmt: skip
        assert code == 201 and not warnings


def test_pods_get_the_default_node_taint_tolerations_they_lack(api):
    def created(name: str, tolerations: list) -> list:
        pod = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i:1"}],
                                                    "tolerations": tolerations}}  # fmt: skip
        return api.client.create("pods", pod, "default")["spec"]["tolerations"]

    assert created("plain", []) == [
        {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]
    own = {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
    assert [(t["key"], t["tolerationSeconds"]) for t in created("own", [own])] == [(NOT_READY, 5), (UNREACHABLE, 300)]
    everything = {"operator": "Exists"}
    assert created("all", [everything]) == [everything]


def ready_pod(name: str, owner: dict, node: str) -> dict:
    reference = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
                 "uid": owner["metadata"]["uid"], "controller": True}  # fmt: skip
    return {"metadata": {"name": name, "labels": {"app": "web"}, "ownerReferences": [reference]},
            "spec": {"containers": [{"name": "c", "image": "i:1"}], "nodeName": node},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip


def test_evictions_respect_the_disruption_budget(api):
    core = api.client.request("GET", "/api/v1")["resources"]
    assert {
        "name": "pods/eviction",
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
        "verbs": ["create"],
    }.items() <= next(r for r in core if r["name"] == "pods/eviction").items()
    assert "policy/v1" in [g["preferredVersion"]["groupVersion"] for g in api.client.request("GET", "/apis")["groups"]]
    owner = dict(deployment("web", replicas=2), kind="ReplicaSet")
    owner = api.client.create("replicasets", owner, "default")
    for name, node in (("web-a", "n1"), ("web-b", "n2")):
        api.client.create("pods", ready_pod(name, owner, node), "default")
        api.client.patch("pods", name, {"status": ready_pod(name, owner, node)["status"]}, "default", "status")
    budget = {"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    api.client.create("poddisruptionbudgets", budget, "default")
    status = api.client.get("poddisruptionbudgets", "web", "default")["status"]
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 1, 1)

    def evict(name: str):
        body = {"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}}
        return raw(api, "POST", f"/api/v1/namespaces/default/pods/{name}/eviction", body)

    code, _warnings, done = evict("web-a")
    assert (code, done["status"]) == (201, "Success")
    assert api.client.get("pods", "web-a", "default")["metadata"]["deletionTimestamp"]  # a graceful delete
    code, _warnings, refused = evict("web-b")
    assert (code, refused["reason"]) == (429, "TooManyRequests")
    assert refused["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert (
        refused["details"]["causes"][0]["message"]
        == "The disruption budget web needs 1 healthy pods and has 1 currently"
    )
    assert api.client.get("pods", "web-b", "default")["metadata"].get("deletionTimestamp") is None
    assert api.client.get("poddisruptionbudgets", "web", "default")["status"]["disruptionsAllowed"] == 0
    assert evict("web-a")[0] == 201  # already terminating: budgets do not apply
    assert evict("nothing")[0] == 404


def test_events_are_one_store_in_both_api_versions(api):
    spec = {"containers": [{"name": "c", "image": "i:1"}]}
    pod = api.client.create("pods", {"metadata": {"name": "p"}, "spec": spec}, "default")
    assert api.client.event(pod, "Scheduled", "Successfully assigned default/p to n1", "default-scheduler")
    new = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "p.2"}, "reason": "Pulled",
           "note": "Container image already present", "type": "Normal", "reportingController": "kubelet",
           "reportingInstance": "n1", "action": "Pulling", "eventTime": "2024-01-01T00:00:00.000000Z",
           "regarding": {"kind": "Pod", "name": "p", "namespace": "default",
                         "uid": pod["metadata"]["uid"]}}  # fmt: skip
    made = api.client.request("POST", "/apis/events.k8s.io/v1/namespaces/default/events", new)
    assert (made["apiVersion"], made["note"], made["regarding"]["name"]) == ("events.k8s.io/v1", new["note"], "p")
    selector = f"involvedObject.name=p,involvedObject.kind=Pod,involvedObject.uid={pod['metadata']['uid']}"
    listed = api.client.list("events", "default", field_selector=selector)
    assert sorted(e["message"] for e in listed) == ["Container image already present",
                                                    "Successfully assigned default/p to n1"]  # fmt: skip
    both = api.client.request("GET", "/apis/events.k8s.io/v1/namespaces/default/events")["items"]
    assert sorted(e["reason"] for e in both) == ["Pulled", "Scheduled"] and all("note" in e for e in both)
    nowhere = dict(pod, metadata=dict(pod["metadata"], namespace="nowhere"))
    assert api.client.event(nowhere, "Lost", "the namespace does not exist", "test") is False  # never raises


def test_chunked_request_bodies_are_read_whole(api):
    connection = connect(api)
    headers = {**admin_headers(api.node), "Content-Type": "application/json"}
    body = json.dumps({"metadata": {"name": "chunked"}, "data": {"a": "1"}}).encode()
    connection.request("POST", "/api/v1/namespaces/default/configmaps", body=iter([body[:10], body[10:]]),
                       headers=headers, encode_chunked=True)  # fmt: skip
    response = connection.getresponse()
    assert response.status == 201 and json.loads(response.read())["data"] == {"a": "1"}
    connection.request("GET", "/api/v1/namespaces/default/configmaps/chunked", headers=headers)  # same connection
    assert connection.getresponse().status == 200
    connection.close()
