# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet's two heartbeats (pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodelease), with the timings of
kubeargs.Timings:
- the node Lease `kube-node-lease/<node>` (coordination.k8s.io/v1: holderIdentity the node, leaseDurationSeconds
  nodeLeaseDurationSeconds, renewTime a MicroTime, owned by the Node so that deleting the Node collects it), renewed
  every quarter of nodeLeaseDurationSeconds (10 s by default): a compare-and-swap on the Lease as last written, read
  again only after a conflict;
- the Node's status: every `--node-status-update-frequency` (10 s) the kubelet reads its Node and posts its status
  only when it differs from the stored one (conditions without their heartbeat times, addresses, node info: e.g.
  after the node lifecycle controller set Ready Unknown) or nodeStatusReportFrequency (5m) passed since its last
  post; a status that did not change keeps its lastTransitionTime. The first round registers the Node (or patches
  its labels when it exists) and posts its status.
The node lifecycle controller hears whichever of the two comes first (controllers/nodelifecycle.py)."""

from __future__ import annotations

import time

from . import nodes
from .controllers import lease
from .kubeargs import Timings
from .kubeclient import ApiError, KubeClient
from .node import Node

NAMESPACE = "kube-node-lease"
HEARTBEAT_TIMES = ("lastHeartbeatTime", "lastTransitionTime")


def _without_times(status: dict) -> dict:
    conditions = [{k: v for k, v in c.items() if k not in HEARTBEAT_TIMES} for c in status.get("conditions") or []]
    return dict(status, conditions=conditions)


def status_changed(stored: dict, posted: dict) -> bool:
    """nodeStatusHasChanged: does the status the kubelet computed differ from the stored one, heartbeat times aside?"""
    mine, theirs = _without_times(posted["status"]), _without_times(stored.get("status") or {})
    return any(theirs.get(key) != value for key, value in mine.items())


def keep_transitions(stored: dict | None, posted: dict) -> dict:
    """The posted Node with each condition's lastTransitionTime kept from the stored one when its status is the same."""
    before = {c["type"]: c for c in ((stored or {}).get("status") or {}).get("conditions") or []}
    conditions = []
    for condition in posted["status"]["conditions"]:
        old = before.get(condition["type"])
        if old and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
            condition = dict(condition, lastTransitionTime=old["lastTransitionTime"])
        conditions.append(condition)
    return dict(posted, status=dict(posted["status"], conditions=conditions))


def node_lease(name: str, duration: int, owner: dict | None) -> dict:
    """The Lease a kubelet creates (no acquireTime or leaseTransitions: nobody else competes for it)."""
    meta = {"name": name, "namespace": NAMESPACE}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": owner["name"], "uid": owner["uid"]}]
    spec = {"holderIdentity": name, "leaseDurationSeconds": duration, "renewTime": lease.stamp(lease.now())}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}


class Heartbeat:
    """One node's kubelet heartbeats; `beat(client)` does what is due, `period` is how often to call it."""

    def __init__(self, node: Node, worker: bool, timings: Timings, clock=time.monotonic):
        self.node, self.worker, self.clock = node, worker, clock
        self.duration = timings.node_lease_duration
        self.lease_every = timings.node_lease_duration * 0.25
        self.status_every = timings.node_status_update_frequency
        self.report_every = timings.node_status_report_frequency
        self.period = min(self.lease_every, self.status_every)
        self.next_lease = self.next_status = 0.0
        self.reported: float | None = None  # when this kubelet last posted its status
        self.registered = False  # its labels are on the stored Node
        self.owner: dict | None = None  # the Node's name and uid, for the Lease's owner reference
        self.held: dict | None = None  # the Lease as last written

    def beat(self, client: KubeClient) -> None:
        moment = self.clock()
        if moment >= self.next_status:
            self.sync_status(client)
            self.next_status = moment + self.status_every
        if moment >= self.next_lease:
            self.renew_lease(client)
            self.next_lease = moment + self.lease_every

    def forget(self) -> None:
        """After a failed round: read everything again (a join may have replaced the cluster)."""
        self.registered, self.reported, self.held = False, None, None
        self.next_lease = self.next_status = 0.0

    def sync_status(self, client: KubeClient) -> None:
        name = self.node.hostname
        stored = client.get("nodes", name)
        posted = keep_transitions(stored, nodes.heartbeat(self.node, self.worker))
        due = self.reported is None or self.clock() - self.reported >= self.report_every
        if stored is None:
            stored = self._register(client, posted)
        elif due or status_changed(stored, posted):
            try:
                client.patch("nodes", name, {"status": posted["status"]}, subresource="status")
                self.reported = self.clock()
            except ApiError as error:
                if error.status != 404:
                    raise
                stored = self._register(client, posted)  # deleted meanwhile (`remove-node`, `kubectl delete node`)
        labels = posted["metadata"]["labels"]
        if not self.registered and any(stored["metadata"].get("labels", {}).get(k) != v for k, v in labels.items()):
            client.patch("nodes", name, {"metadata": {"labels": labels}})
        self.registered = True
        self.owner = {"name": name, "uid": stored["metadata"]["uid"]}

    def _register(self, client: KubeClient, posted: dict) -> dict:
        created = client.create("nodes", posted)
        self.reported = self.clock()
        return created

    def renew_lease(self, client: KubeClient) -> None:
        fresh = node_lease(self.node.hostname, self.duration, self.owner)
        if self.held is not None:
            try:
                self.held = client.update("leases", dict(self.held, spec=dict(self.held["spec"], **fresh["spec"])))
                return
            except ApiError as error:
                self.held = None
                if error.status not in (404, 409):
                    raise
        stored = client.get("leases", self.node.hostname, NAMESPACE)
        if stored is None:
            self.held = client.create("leases", fresh)
            return
        meta = dict(stored["metadata"])
        if self.owner and not meta.get("ownerReferences"):
            meta["ownerReferences"] = fresh["metadata"]["ownerReferences"]
        self.held = client.update("leases", dict(stored, metadata=meta, spec=dict(stored["spec"], **fresh["spec"])))
