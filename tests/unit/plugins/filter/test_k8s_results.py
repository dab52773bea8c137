# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading kubernetes.core.k8s results of one and of several objects, and what is worth waiting for."""

from __future__ import annotations

from ansible_collections.onprem.microk8s.plugins.filter.k8s_results import (
    after_apply,
    all_ready,
    applied,
    drifted,
    is_ready,
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
