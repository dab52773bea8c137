# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading kubernetes.core.k8s results of one and of several objects, and what is worth waiting for."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.microk8s.plugins.filter.k8s_results import (
    after_apply,
    all_ready,
    applied,
    drift_against,
    drift_from,
    drifted,
    get_args,
    is_ready,
    listed,
    rolled_out,
    to_wait_for,
)

READY = {"conditions": [{"type": "Ready", "status": "True"}]}
NOT_READY = {"conditions": [{"type": "Ready", "status": "False"}]}


def _object(kind, name, status=None):
    return {"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": {"name": name}, "status": status or {}}


def test_one_object_comes_back_at_the_top_level_several_under_results():
    one = {"changed": False, "result": _object("Certificate", "a", READY)}
    several = {"changed": True, "result": {"results": [one, {"changed": True, "result": _object("Certificate", "b")}]}}
    assert applied(one) == [one]
    assert [r["result"]["metadata"]["name"] for r in applied(several)] == ["a", "b"]
    assert applied({"skipped": True, "changed": False}) == []


def test_changed_and_unready_objects_of_the_kind_are_waited_for_not_unchanged_ready_ones():
    registered = {
        "changed": True,
        "result": {
            "results": [
                {"changed": False, "result": _object("ClusterIssuer", "selfsigned")},  # another kind
                {"changed": False, "result": _object("Certificate", "kept", READY)},
                {"changed": False, "result": _object("Certificate", "stuck", NOT_READY)},
                {"changed": True, "result": _object("Certificate", "new", READY)},  # Ready before the change
            ]
        },
    }
    assert to_wait_for(registered, "Certificate") == ["stuck", "new"]
    # check mode wrote nothing: a changed object is not there to wait for, an unready unchanged one is
    assert to_wait_for(registered, "Certificate", check_mode=True) == ["stuck"]
    assert to_wait_for(registered, "ClusterIssuer") == ["selfsigned"]


def test_all_ready_needs_every_named_object_listed_and_ready():
    listed = [_object("Certificate", "a", READY), _object("Certificate", "b", NOT_READY)]
    assert all_ready(listed, ["a"])
    assert not all_ready(listed, ["a", "b"])
    assert not all_ready(listed, ["c"])  # not created yet
    assert all_ready([], [])
    assert is_ready(_object("Certificate", "a", READY)) and not is_ready({})


def _drift(kind, name, drifted, status=None):
    return {"definition": _object(kind, name), "drifted": drifted, "reason": "", "status": status or {}}


def _deployment(generation=2, observed=2, replicas=3, updated=3, available=3):
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
        },
    }


def test_a_deployment_has_rolled_out_when_every_wanted_replica_is_current_and_available():
    assert rolled_out(_deployment(), 3)
    assert rolled_out(_deployment(), "3")  # as a role variable may come
    assert not rolled_out(_deployment(observed=1), 3), "its controller has not seen the new spec yet"
    assert not rolled_out(_deployment(updated=2), 3), "one replica still runs the old template"
    assert not rolled_out(_deployment(available=2), 3), "one replica is not available"
    assert not rolled_out(_deployment(replicas=4, available=3), 3), "an old replica is still terminating"
    assert not rolled_out(_deployment(), 2), "more replicas than wanted"


def test_a_missing_deployment_or_a_status_read_without_metadata():
    assert not rolled_out(None, 1) and not rolled_out({}, 1)
    unchanged = {"status": {"observedGeneration": 5, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}
    assert rolled_out(unchanged, 1), "after_apply's result of an unchanged object carries the status only"
    assert not rolled_out({"status": {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}, 1)


def test_only_drifted_definitions_are_applied():
    drift = [_drift("Certificate", "a", False, READY), _drift("Certificate", "b", True)]
    assert [d["metadata"]["name"] for d in drifted(drift)] == ["b"]
    assert drifted([]) == []


def test_in_sync_objects_that_are_not_ready_are_still_waited_for():
    drift = [
        _drift("Certificate", "ready", False, READY),
        _drift("Certificate", "stuck", False, NOT_READY),
        _drift("Certificate", "no-status-yet", False),
        _drift("Certificate", "applied-instead", True),  # the apply's own result says whether to wait
        _drift("ClusterIssuer", "other-kind", False, NOT_READY),
    ]
    written = {"changed": False, "result": _object("Certificate", "applied-instead", READY)}
    merged = after_apply(drift, written)
    assert to_wait_for(merged, "Certificate") == ["stuck", "no-status-yet"]
    assert to_wait_for(after_apply(drift, {"changed": True, "result": _object("Certificate", "applied-instead")}),
                       "Certificate") == ["stuck", "no-status-yet", "applied-instead"]  # fmt: skip


def test_after_apply_takes_the_apply_s_result_for_written_objects_and_the_read_status_for_the_others():
    drift = [_drift("Deployment", "hello", False, {"availableReplicas": 3}), _drift("Service", "hello", True)]
    written = {"changed": True, "result": _object("Service", "hello", {"loadBalancer": {"ingress": [{"ip": "1"}]}})}
    merged = after_apply(drift, written)
    assert [m["changed"] for m in merged] == [False, True]
    assert merged[0]["result"]["status"] == {"availableReplicas": 3}
    assert merged[0]["result"]["metadata"]["name"] == "hello"
    assert merged[1]["result"]["status"]["loadBalancer"]["ingress"][0]["ip"] == "1"


def test_after_apply_with_nothing_written_reports_every_object_unchanged():
    drift = [_drift("Deployment", "hello", False, {"availableReplicas": 3})]
    assert after_apply(drift, {"skipped": True, "changed": False}) == [
        {"changed": False, "result": {**_object("Deployment", "hello"), "status": {"availableReplicas": 3}}}
    ]


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "hello", "namespace": "default"},
    "spec": {"replicas": 3},
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello", "namespace": "default"}}
CLUSTER_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "viewer"}}


def _read(items, rc=0, stderr=""):
    return {"args": [], "rc": rc, "stdout": json.dumps({"kind": "List", "items": items}), "stderr": stderr}


def _live(definition, **changes):
    return {**definition, **changes, "metadata": {**definition["metadata"], "uid": "1"}, "status": {"ready": 1}}


def test_one_get_per_namespace_names_kind_group_and_name():
    assert get_args([DEPLOYMENT, SERVICE, CLUSTER_ROLE]) == [
        ["deployment.apps/hello", "service/hello", "-n", "default"],
        ["clusterrole.rbac.authorization.k8s.io/viewer"],
    ]
    assert get_args([]) == []


def test_objects_the_get_printed_are_compared_with_their_definitions():
    reads = [_read([_live(DEPLOYMENT), _live(SERVICE)]), _read([_live(CLUSTER_ROLE, rules=[])])]
    entries = drift_from([DEPLOYMENT, SERVICE, CLUSTER_ROLE], reads)
    assert [(e["drifted"], e["reason"]) for e in entries] == [(False, "in sync")] * 3
    assert entries[0]["status"] == {"ready": 1}  # what the waits after an apply look at
    scaled = _live(DEPLOYMENT, spec={"replicas": 1})
    entries = drift_from([DEPLOYMENT, SERVICE], [_read([scaled, _live(SERVICE)])])
    assert [(e["drifted"], e["reason"]) for e in entries] == [(True, "differs"), (False, "in sync")]
    assert drifted(entries) == [DEPLOYMENT]


def test_an_object_of_the_same_name_but_another_kind_or_namespace_is_not_it():
    elsewhere = {**_live(SERVICE), "metadata": {"name": "hello", "namespace": "other"}}
    other_kind = {**_live(SERVICE), "kind": "Endpoints"}
    entries = drift_from([SERVICE], [_read([elsewhere, other_kind])])
    assert (entries[0]["drifted"], entries[0]["reason"]) == (True, "missing")


def test_a_missing_object_is_applied_and_a_failed_read_applies_everything():
    not_found = 'Error from server (NotFound): services "hello" not found'
    entries = drift_from([DEPLOYMENT, SERVICE], [_read([_live(DEPLOYMENT)], rc=1, stderr=not_found)])
    assert [(e["drifted"], e["reason"]) for e in entries] == [(False, "in sync"), (True, "missing")]
    refused = {"args": [], "rc": 1, "stdout": "", "stderr": "The connection to the server was refused"}
    assert [e["reason"] for e in drift_from([DEPLOYMENT, SERVICE], [refused])] == ["unreadable", "unreadable"]
    no_microk8s = {"args": [], "rc": None, "stdout": "", "stderr": ""}
    assert [e["drifted"] for e in drift_from([DEPLOYMENT], [no_microk8s])] == [True]
    garbled = {"args": [], "rc": 0, "stdout": "{not json", "stderr": ""}
    assert [e["reason"] for e in drift_from([DEPLOYMENT], [garbled])] == ["unreadable"]


def test_objects_already_read_are_compared_and_list_items_without_kind_take_the_definitions():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "auth", "namespace": "devices", "labels": {"app": "x"}},
        "data": {"ca.crt": "QQ=="},
    }
    as_listed = {key: value for key, value in _live(secret).items() if key not in ("kind", "apiVersion")}
    assert [e["reason"] for e in drift_against([secret], [as_listed])] == ["in sync"]
    assert [e["reason"] for e in drift_against([secret], [_live(secret)])] == ["in sync"]
    relabelled = {**as_listed, "metadata": {**as_listed["metadata"], "labels": {"app": "someone-else"}}}
    assert [e["reason"] for e in drift_against([secret], [relabelled])] == ["differs"]
    other_data = {**as_listed, "data": {"ca.crt": "Qg=="}}
    assert drifted(drift_against([secret], [other_data])) == [secret]
    elsewhere = {**as_listed, "metadata": {**as_listed["metadata"], "namespace": "default"}}
    other_kind = {**_live(secret), "kind": "ConfigMap"}
    assert [e["reason"] for e in drift_against([secret], [elsewhere, other_kind])] == ["missing"]
    assert [e["reason"] for e in drift_against([secret], [])] == ["missing"]


def test_a_single_object_printed_without_a_list_is_read_too():
    one = {"args": [], "rc": 0, "stdout": json.dumps(_live(SERVICE)), "stderr": ""}
    assert drift_from([SERVICE], [one])[0]["reason"] == "in sync"


def test_listed_gives_what_a_read_printed_and_refuses_a_read_that_did_not_answer():
    assert listed(_read([_live(SERVICE), _live(DEPLOYMENT)])) == [_live(SERVICE), _live(DEPLOYMENT)]
    assert listed({"args": [], "rc": 0, "stdout": json.dumps(_live(SERVICE)), "stderr": ""}) == [_live(SERVICE)]
    assert listed(_read([])) == []
    refused = {"args": ["namespaces"], "rc": 1, "stdout": "", "stderr": "The connection to the server was refused"}
    with pytest.raises(AnsibleFilterError, match=r"get namespaces failed .*refused"):
        listed(refused)
    with pytest.raises(AnsibleFilterError, match="no JSON"):
        listed({"args": [], "rc": 0, "stdout": "{not json", "stderr": ""})
    with pytest.raises(AnsibleFilterError):
        listed({"args": ["namespaces"], "rc": None, "stdout": "", "stderr": ""})  # MicroK8s not installed
