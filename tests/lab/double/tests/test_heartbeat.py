# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet's heartbeats against the API server: the node Lease in `kube-node-lease` renewed every quarter of
nodeLeaseDurationSeconds (owned by the Node), the Node's status read every `--node-status-update-frequency` and
posted only when it changed or every nodeStatusReportFrequency (what `kubectl describe node` and the node lifecycle
controller see on real MicroK8s)."""

from __future__ import annotations

import pytest
from api_fixtures import api_server
from microk8s_double import heartbeat
from microk8s_double.kubeargs import Timings

TIMINGS = Timings(node_monitor_period=5, node_monitor_grace_period=40, lease_duration=60, renew_deadline=30,
                  retry_period=2, node_status_update_frequency=10, not_ready_toleration=300,
                  unreachable_toleration=300)  # fmt: skip


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """The client, counting the writes per resource."""

    def __init__(self, client):
        self.client, self.writes = client, []

    def __getattr__(self, name):
        method = getattr(self.client, name)
        if name in ("create", "update", "patch"):

            def counted(resource, *args, **kwargs):
                self.writes.append((name, resource))
                return method(resource, *args, **kwargs)

            return counted
        return method


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def test_the_first_beat_registers_the_node_and_its_owned_lease(api):
    beat = heartbeat.Heartbeat(api.node, worker=False, timings=TIMINGS, clock=Clock())
    beat.beat(api.client)
    node = api.client.get("nodes", "node-1")
    lease = api.client.get("leases", "node-1", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "node-1" and lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": node["metadata"]["uid"]}
    ]
    assert "acquireTime" not in lease["spec"] and beat.period == 10


def test_the_lease_is_renewed_each_period_and_an_unchanged_status_posted_every_five_minutes(api):
    clock = Clock()
    beat = heartbeat.Heartbeat(api.node, worker=False, timings=TIMINGS, clock=clock)
    beat.beat(api.client)
    counting = Counting(api.client)
    renewed = [api.client.get("leases", "node-1", "kube-node-lease")["spec"]["renewTime"]]
    for _tick in range(29):  # 290 s
        clock.now += 10
        beat.beat(counting)
        renewed.append(api.client.get("leases", "node-1", "kube-node-lease")["spec"]["renewTime"])
    assert renewed == sorted(renewed) and len(set(renewed)) == len(renewed)
    assert counting.writes == [("update", "leases")] * 29  # no status post yet
    clock.now += 10  # 300 s since the last post
    beat.beat(counting)
    assert ("patch", "nodes") in counting.writes


def test_a_status_the_controller_changed_is_posted_at_the_next_status_read_keeping_transitions(api):
    clock = Clock()
    beat = heartbeat.Heartbeat(api.node, worker=False, timings=TIMINGS, clock=clock)
    beat.beat(api.client)
    ready = api.client.get("nodes", "node-1")["status"]["conditions"][0]
    unknown = dict(ready, status="Unknown", reason="NodeStatusUnknown", lastTransitionTime="2026-01-01T00:00:00Z")
    api.client.patch("nodes", "node-1", {"status": {"conditions": [unknown]}}, subresource="status")
    clock.now += 10
    beat.beat(api.client)
    back = api.client.get("nodes", "node-1")["status"]["conditions"][0]
    assert back["status"] == "True" and back["lastTransitionTime"] != "2026-01-01T00:00:00Z"
    clock.now += 300
    beat.beat(api.client)  # the report: a new heartbeat time, the same transition
    again = api.client.get("nodes", "node-1")["status"]["conditions"][0]
    assert again["lastTransitionTime"] == back["lastTransitionTime"]


def test_a_deleted_lease_or_node_is_created_again(api):
    clock = Clock()
    beat = heartbeat.Heartbeat(api.node, worker=False, timings=TIMINGS, clock=clock)
    beat.beat(api.client)
    api.client.delete("leases", "node-1", "kube-node-lease")
    api.client.delete("nodes", "node-1")
    clock.now += 10
    beat.beat(api.client)
    node = api.client.get("nodes", "node-1")
    lease = api.client.get("leases", "node-1", "kube-node-lease")
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]


def test_status_changed_ignores_the_heartbeat_times_only():
    stored = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "a",
                                         "lastTransitionTime": "a"}], "addresses": [1]}}  # fmt: skip
    same = {"status": {"conditions": [dict(stored["status"]["conditions"][0], lastHeartbeatTime="b")],
                       "addresses": [1]}}  # fmt: skip
    assert not heartbeat.status_changed(stored, same)
    assert heartbeat.status_changed(stored, dict(same, status=dict(same["status"], addresses=[2])))
