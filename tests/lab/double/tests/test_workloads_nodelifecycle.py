# SPDX-License-Identifier: GPL-3.0-or-later
"""Node lifecycle: the node monitor turns a silent node Unknown after the grace period (on its own clock, at its
monitor period); pods on it turn not ready at once and are evicted after their toleration; garbage."""

from __future__ import annotations

from microk8s_double import kubelite
from microk8s_double.controllers import garbage, nodelifecycle
from workload_objects import NOW, node, pod

RS = {"metadata": {"name": "hello-abc", "uid": "uid-rs"}}
TIMEOUT = 300
TOLERATIONS = {nodelifecycle.NOT_READY: TIMEOUT, nodelifecycle.UNREACHABLE: TIMEOUT}


def verbs(actions) -> list[tuple[str, str]]:
    return [(a.verb, a.name) for a in actions]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_monitor_marks_a_node_unknown_once_its_heartbeat_stopped_for_the_grace_period():
    clock = Clock()
    monitor = nodelifecycle.Monitor(period=5, grace=40, clock=clock)
    silent, talking = node("n1", beat_age=100), node("n2")
    assert monitor.due() and monitor.check([silent, talking], NOW) == []  # first sight starts the clock
    clock.now += 4
    assert not monitor.due()  # next pass one monitor period later
    for step in range(8):
        clock.now += 5
        talking = node("n2", beat_age=-step)  # a new heartbeat each pass
        marked = monitor.check([silent, talking], NOW)
        if clock.now - 1000 <= 40:
            assert marked == [], clock.now
    assert verbs(marked) == [("status", "n1")]
    ready = marked[0].body["status"]["conditions"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
    )  # fmt: skip
    assert ready["lastHeartbeatTime"] == silent["status"]["conditions"][0]["lastHeartbeatTime"]


def test_a_node_already_unknown_is_not_written_again_and_a_new_heartbeat_restarts_the_clock():
    clock = Clock()
    monitor = nodelifecycle.Monitor(period=1, grace=10, clock=clock)
    gone = node("n1", ready="Unknown", beat_age=100)
    monitor.check([gone], NOW)
    clock.now += 20
    assert monitor.check([gone], NOW) == []
    back = node("n1")
    clock.now += 1
    assert monitor.check([back], NOW) == []
    clock.now += 10
    assert monitor.check([back], NOW) == []  # 10 s is not more than the grace period
    clock.now += 1
    assert verbs(monitor.check([back], NOW)) == [("status", "n1")]


def node_lease(name: str, renewed: str, owner_uid: str = "uid-n1") -> dict:
    meta = {"name": name, "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": owner_uid}]}  # fmt: skip
    return {"metadata": meta, "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": renewed}}


def test_a_renewed_node_lease_is_a_heartbeat_though_the_status_is_not_posted():
    """A real kubelet posts an unchanged status every 5 minutes; its Lease, renewed every 10 s, keeps it Ready."""
    clock = Clock()
    monitor = nodelifecycle.Monitor(period=5, grace=40, clock=clock)
    quiet = node("n1", beat_age=200)  # the status as posted 200 s ago
    monitor.check([quiet], NOW, [node_lease("n1", "t0")])
    for step in range(1, 20):
        clock.now += 5
        assert monitor.check([quiet], NOW, [node_lease("n1", f"t{step // 2}")]) == []
    for _pass in range(8):  # the Lease is no longer renewed either
        clock.now += 5
        marked = monitor.check([quiet], NOW, [node_lease("n1", "t9")])
    assert verbs(marked) == [("status", "n1")]


def test_a_deleted_nodes_lease_is_collected_and_a_live_nodes_kept():
    live = node("n1")  # uid uid-n1
    leases = [node_lease("n1", "t0", "uid-n1"), node_lease("n2", "t0", "uid-n2"), node_lease("n3", "t0", "")]
    leases[2]["metadata"].pop("ownerReferences")  # not owned yet (created before its Node): left alone
    assert [(a.verb, a.resource, a.namespace, a.name) for a in garbage.orphan_leases(leases, [live])] == [
        ("delete", "leases", "kube-node-lease", "n2")
    ]


def test_pods_on_a_live_node_are_left_alone():
    assert nodelifecycle.reconcile([node("n1", beat_age=10)], [pod("p", RS, "n1")], NOW, TOLERATIONS) == []


def test_pods_on_an_unknown_node_turn_not_ready_then_are_evicted_after_the_toleration():
    silent = node("n1", ready="Unknown", beat_age=60, changed_age=10)
    actions = nodelifecycle.reconcile([silent], [pod("p", RS, "n1")], NOW, TOLERATIONS)
    assert verbs(actions) == [("status", "p")]
    ready = next(c for c in actions[0].body["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    gone = node("n1", ready="Unknown", beat_age=400, changed_age=TIMEOUT + 1)
    actions = nodelifecycle.reconcile([gone], [pod("p", RS, "n1")], NOW, TOLERATIONS)
    assert verbs(actions) == [("status", "p"), ("delete", "p")]
    assert actions[0].body["status"] == {
        "reason": "NodeLost",
        "message": "Node n1 which was running pod p is unresponsive",
    }


def test_the_default_toleration_depends_on_the_taint():
    unreachable = node("n1", ready="Unknown", changed_age=30)
    not_ready = node("n2", ready=False, changed_age=30)
    pods = [pod("a", RS, "n1", ready=False), pod("b", RS, "n2", ready=False)]
    short = {nodelifecycle.UNREACHABLE: 20, nodelifecycle.NOT_READY: 60}
    assert verbs(nodelifecycle.reconcile([unreachable, not_ready], pods, NOW, short)) == [
        ("status", "a"), ("delete", "a")
    ]  # fmt: skip


def test_pods_already_terminating_are_not_evicted_again():
    gone = node("n1", ready="Unknown", changed_age=TIMEOUT + 1)
    leaving = pod("p", RS, "n1", metadata={"deletionTimestamp": "2026-01-01T11:00:00Z"})
    assert nodelifecycle.reconcile([gone], [leaving], NOW, TOLERATIONS) == []


def test_a_pod_toleration_sets_its_own_eviction_time():
    gone = node("n1", ready="Unknown", changed_age=30)
    quick = pod("quick", RS, "n1", ready=False)
    quick["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 20}]  # fmt: skip
    forever = pod("forever", RS, "n1", ready=False)
    forever["spec"]["tolerations"] = [{"operator": "Exists"}]
    actions = nodelifecycle.reconcile([gone], [quick, forever], NOW, TOLERATIONS)
    assert verbs(actions) == [("status", "quick"), ("delete", "quick")]


def replica_set(name: str, owner_uid: str) -> dict:
    owner = [{"kind": "Deployment", "uid": owner_uid, "controller": True}]
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "ownerReferences": owner}}


def test_garbage_owned_by_deleted_owners_and_pods_on_deleted_nodes():
    deployment = {"metadata": {"name": "d", "uid": "uid-d"}}
    live_rs = replica_set("live", "uid-d")
    orphan_rs = replica_set("orphan", "uid-x")
    pods = [pod("kept", live_rs, "n1"), pod("orphaned", orphan_rs, "n1"), pod("lost", live_rs, "gone-node"),
            pod("bare", None, "n1")]  # fmt: skip
    actions = garbage.collect([deployment], [live_rs, orphan_rs], pods, [node("n1")])
    assert verbs(actions) == [("delete", "orphan"), ("delete", "orphaned"), ("delete", "lost")]
    assert actions[-1].body["gracePeriodSeconds"] == 0


OUT_OF_SERVICE = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}


def test_the_out_of_service_taint_evicts_at_once_on_a_node_down_well_within_the_toleration():
    down = node("n1", ready="Unknown", changed_age=30, taints=[OUT_OF_SERVICE])
    kept = pod("kept", RS, "n1", ready=False)
    kept["spec"]["tolerations"] = [{"key": OUT_OF_SERVICE["key"], "operator": "Exists", "effect": "NoExecute"}]
    actions = nodelifecycle.reconcile([down], [pod("p", RS, "n1", ready=False), kept], NOW, TOLERATIONS)
    assert verbs(actions) == [("delete", "p")]  # the default 300 s unreachable toleration does not matter
    untainted = node("n1", ready="Unknown", changed_age=30)
    assert verbs(nodelifecycle.reconcile([untainted], [pod("p", RS, "n1", ready=False)], NOW, TOLERATIONS)) == []


def test_a_noexecute_taint_toleration_seconds_count_from_time_added():
    added = dict(OUT_OF_SERVICE, timeAdded="2026-01-01T11:59:30Z")
    tainted = node("n1", taints=[added])
    waiting = pod("p", RS, "n1")
    waiting["spec"]["tolerations"] = [{"key": OUT_OF_SERVICE["key"], "operator": "Exists", "effect": "NoExecute",
                                       "tolerationSeconds": 60}]  # fmt: skip
    moment = nodelifecycle.parse("2026-01-01T12:00:00Z")
    assert nodelifecycle.reconcile([tainted], [waiting], moment, TOLERATIONS) == []
    later = nodelifecycle.parse("2026-01-01T12:00:31Z")
    assert verbs(nodelifecycle.reconcile([tainted], [waiting], later, TOLERATIONS)) == [("delete", "p")]


def test_pod_gc_force_deletes_terminating_pods_on_out_of_service_nodes_from_1_26():
    terminating = {"deletionTimestamp": "2026-01-01T11:00:00Z"}
    down = node("n1", ready="Unknown", changed_age=30, taints=[OUT_OF_SERVICE])
    pods = [pod("stuck", None, "n1", metadata=terminating), pod("running", None, "n1")]
    actions = garbage.collect([], [], pods, [down], minor=26)
    assert verbs(actions) == [("delete", "stuck")] and actions[0].body["gracePeriodSeconds"] == 0
    assert garbage.collect([], [], pods, [down], minor=25) == []  # NodeOutOfServiceVolumeDetach: beta in 1.26
    alive = node("n1", taints=[OUT_OF_SERVICE])  # Ready: the taint alone does not force anything
    assert garbage.collect([], [], pods, [alive], minor=28) == []
    untainted = node("n1", ready="Unknown", changed_age=30)
    assert garbage.collect([], [], pods, [untainted], minor=28) == []


def test_in_a_controller_round_the_endpoints_controller_sees_the_pods_the_node_lifecycle_marked_not_ready():
    """The node lifecycle controller (workloads) marks a lost node's pods not ready; the endpoints controller must
    drop them in the same round, as the real ones (sharing informers) do within milliseconds, not a round later."""
    order = [module.__name__.rsplit(".", 1)[1] for module in kubelite.controller_modules()]
    assert order.index("workloads") < order.index("endpoints"), order
    rest = [name for name in order if name not in kubelite.FIRST_CONTROLLERS]
    assert rest == sorted(rest)
