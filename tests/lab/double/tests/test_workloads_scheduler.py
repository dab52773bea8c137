# SPDX-License-Identifier: GPL-3.0-or-later
"""The scheduler: spreading, cordon, readiness, taints, selectors, anti-affinity, topology spread, messages."""

from __future__ import annotations

from microk8s_double.controllers import scheduler
from workload_objects import NOW, node, pod

RS = {"metadata": {"name": "hello-abc", "uid": "uid-rs"}}


def pending(name: str, **spec) -> dict:
    result = pod(name, RS)
    result["spec"].update(spec)
    return result


def bindings(actions) -> dict:
    return {a.name: a.body["target"]["name"] for a in actions if a.verb == "bind"}


def unschedulable(actions) -> dict:
    return {a.name: a.body["status"]["conditions"][-1]["message"] for a in actions if a.verb == "status"}


def test_replicas_spread_over_the_nodes():
    nodes = [node("n1"), node("n2"), node("n3")]
    placed = bindings(scheduler.schedule([pending(f"p{i}") for i in range(3)], nodes, NOW))
    assert sorted(placed.values()) == ["n1", "n2", "n3"]


def test_existing_pods_count_when_spreading():
    nodes = [node("n1"), node("n2")]
    running = pod("old", RS, "n1")
    assert bindings(scheduler.schedule([running, pending("new")], nodes, NOW)) == {"new": "n2"}


def test_cordoned_and_not_ready_nodes_are_skipped_with_the_scheduler_message():
    nodes = [node("n1", unschedulable=True), node("n2", ready=False), node("n3")]
    assert set(bindings(scheduler.schedule([pending("p1"), pending("p2")], nodes, NOW)).values()) == {"n3"}
    none_left = [node("n1", unschedulable=True), node("n2", ready=False)]
    message = unschedulable(scheduler.schedule([pending("p")], none_left, NOW))["p"]
    assert message == (
        "0/2 nodes are available: 1 node(s) had taint {node.kubernetes.io/not-ready: }, that the pod didn't "
        "tolerate, 1 node(s) were unschedulable."
    )


def test_without_nodes_the_pod_waits():
    assert unschedulable(scheduler.schedule([pending("p")], [], NOW)) == {"p": "no nodes available to schedule pods"}


def test_the_same_unschedulable_status_is_not_written_twice():
    lone = [node("n1", unschedulable=True)]
    first = scheduler.schedule([pending("p")], lone, NOW)
    waiting = pending("p")
    waiting["status"] = first[0].body["status"]
    assert scheduler.schedule([waiting], lone, NOW) == []


def test_taints_need_tolerations():
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    nodes = [node("n1", taints=[taint])]
    assert bindings(scheduler.schedule([pending("p")], nodes, NOW)) == {}
    tolerant = pending("q", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db"}])
    assert bindings(scheduler.schedule([tolerant], nodes, NOW)) == {"q": "n1"}


def test_node_selector_and_required_node_affinity():
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "hdd"})]
    assert bindings(scheduler.schedule([pending("p", nodeSelector={"disk": "hdd"})], nodes, NOW)) == {"p": "n2"}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}  # fmt: skip
    assert bindings(scheduler.schedule([pending("q", affinity=affinity)], nodes, NOW)) == {"q": "n1"}


def test_preferred_node_affinity_wins_over_fewer_pods_and_yields_to_what_is_required():
    """kube-scheduler's NodeAffinity score plugin: the weight of each preferred term the node matches."""
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "hdd"}), node("n3", labels={})]
    others = {"metadata": {"name": "other", "uid": "uid-other"}}
    running = [pod("a", others, "n2"), pod("b", others, "n2")]  # n2 has the most pods
    prefer = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]},
                }
            ]
        }
    }
    assert bindings(scheduler.schedule([*running, pending("p", affinity=prefer)], nodes, NOW)) == {"p": "n2"}
    assert bindings(
        scheduler.schedule([*running, pending("q", nodeSelector={"disk": "ssd"}, affinity=prefer)], nodes, NOW)
    ) == {"q": "n1"}  # a preference never overrides a requirement
    assert bindings(scheduler.schedule([*running, pending("r")], nodes, NOW)) == {"r": "n1"}  # without: fewer pods


def test_required_anti_affinity_allows_one_per_host():
    term = {"labelSelector": {"matchLabels": {"app": "hello"}}, "topologyKey": "kubernetes.io/hostname"}
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    pods = [pending(f"p{i}", affinity=affinity) for i in range(3)]
    actions = scheduler.schedule(pods, [node("n1"), node("n2")], NOW)
    assert sorted(bindings(actions).values()) == ["n1", "n2"]
    assert unschedulable(actions) == {"p2": "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."}


def test_hard_topology_spread_by_zone():
    nodes = [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]
    constraint = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"app": "hello"}}}  # fmt: skip
    running = [pod("x", RS, "a1"), pod("y", RS, "a2")]
    placed = bindings(scheduler.schedule([*running, pending("p", topologySpreadConstraints=[constraint])], nodes, NOW))
    assert placed == {"p": "b1"}


def test_host_ports_conflict():
    with_port = {"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}
    running = pod("x", RS, "n1")
    running["spec"]["containers"] = [with_port]
    actions = scheduler.schedule([running, pending("p", containers=[with_port])], [node("n1"), node("n2")], NOW)
    assert bindings(actions) == {"p": "n2"}


def test_pods_of_other_schedulers_and_bound_pods_are_ignored():
    other = pending("p", schedulerName="my-scheduler")
    assert scheduler.schedule([other, pod("bound", RS, "n1")], [node("n1")], NOW) == []
