# SPDX-License-Identifier: GPL-3.0-or-later
"""Node liveness and the API server on :16443: heartbeats, NotReady after the grace period, the Table columns
kubectl prints, authentication, and the real kubectl against it when one is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
from cluster_fixtures import api_get, clusters, kubeconfig, wait_for
from microk8s_double import kubelite, wire
from microk8s_double.kubeclient import KubeClient

GRACE = 4
QUICK = {  # args files: heartbeats (node Lease renewals) every second, a node monitor pass every second, 4 s grace
    "kubelet": {"node-status-update-frequency": "1s"},
    "kubelet-config": {"nodeLeaseDurationSeconds": "4"},
    "kube-controller-manager": {"node-monitor-period": "1s", "node-monitor-grace-period": f"{GRACE}s",
                                "leader-elect-lease-duration": "6s", "leader-elect-renew-deadline": "4s",
                                "leader-elect-retry-period": "1s"},
}  # fmt: skip


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def statuses(node) -> dict[str, str]:
    return {row["name"]: row["status"] for row in kubelite.list_nodes(node.node)}


def silence(first, second, grace: float) -> float:
    """Power off `second`; seconds until `first` lists it NotReady (bounded by the grace period plus 5 s)."""
    wait_for(lambda: statuses(first) == {"node-1": "Ready", "node-2": "Ready"}, what="both Ready")
    second.kill()
    killed = time.monotonic()
    wait_for(lambda: statuses(first)["node-2"] == "NotReady", timeout=grace + 5, what="NotReady")
    return time.monotonic() - killed


def test_a_silent_node_turns_not_ready_after_the_grace_period_and_ready_when_back(make_cluster):
    cluster = make_cluster(args=QUICK)
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    took = silence(first, second, GRACE)
    # not before the grace period: the last heartbeat (every 1 s) was seen at most 1 s + a monitor period before
    assert took >= GRACE - 2
    assert statuses(first)["node-1"] == "Ready"
    second.start()
    wait_for(lambda: statuses(first)["node-2"] == "Ready", what="Ready again")


def test_the_lease_holder_powered_off_turns_not_ready_after_lease_plus_grace(make_cluster):
    """The controllers' leader is the node that dies (its packets unanswered, as after a power cut): another control
    plane takes the lease once it expired (6 s) and its node lifecycle controller, whose clocks start when it leads,
    marks the dead node NotReady a grace period (4 s) later. The datastore's own failover (the dead node may lead it
    too) must not stretch that: real dqlite elects within seconds and commits without the dead member."""
    cluster = make_cluster(args=QUICK, request_timeout=10)
    first = cluster.new_node()
    cluster.grow(2)
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
    wait_for(lambda: set(statuses(first).values()) == {"Ready"} and len(statuses(first)) == 3, what="all Ready")
    holder_name = wait_for(lambda: api_get(first, path))["spec"]["holderIdentity"].split("_")[0]
    holder = next(n for n in cluster.nodes if n.hostname == holder_name)
    witness = next(n for n in cluster.nodes if n is not holder)
    lease = 6
    with holder.powered_off():
        killed = time.monotonic()
        wait_for(lambda: statuses(witness)[holder_name] == "NotReady", timeout=lease + GRACE + 15, what="NotReady")
        took = time.monotonic() - killed
        assert not api_get(witness, path)["spec"]["holderIdentity"].startswith(f"{holder_name}_")
    # not before: the new leader's clock starts when it takes the lease; not much after: no datastore stall
    assert lease + GRACE - 3 <= took <= lease + GRACE + 6, took


def test_a_grace_period_edited_in_the_args_file_applies_after_a_kubelite_restart(make_cluster):
    cluster = make_cluster(
        args=dict(
            QUICK, **{"kube-controller-manager": dict(QUICK["kube-controller-manager"], node_monitor_grace_period="9s")}
        )
    )
    first = cluster.new_node()
    (second,) = cluster.grow(1, worker=True)  # first stays the only candidate for the controllers' lease
    assert 7 <= silence(first, second, 9) <= 12
    second.start()
    first.set_args("kube-controller-manager", node_monitor_grace_period="3s")
    first.restart_kubelite()  # the lease holder: its node lifecycle controller reads the new value
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
    before = api_get(first, path)["spec"]["holderIdentity"]
    wait_for(lambda: api_get(first, path)["spec"]["holderIdentity"] != before, timeout=15, what="the lease retaken")
    assert 1 <= silence(first, second, 3) <= 6


def test_a_restarted_lease_holder_is_a_new_candidate_and_waits_for_its_old_lease_to_expire(make_cluster):
    """kube-controller-manager's identity is `<hostname>_<uuid>`, new each start, and it does not release the lease
    when it stops: after `snap restart microk8s.daemon-kubelite` on the holder no controller runs until the lease
    (6 s here; MicroK8s ships 60 s) expires, then the restarted node takes it under its new identity."""
    cluster = make_cluster(args=QUICK)
    first = cluster.new_node()
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
    old = wait_for(lambda: api_get(first, path))["spec"]
    assert old["holderIdentity"].startswith("node-1_") and len(old["holderIdentity"]) == len("node-1_") + 36
    first.restart_kubelite()
    restarted = time.monotonic()
    wait_for(lambda: api_get(first, path)["spec"]["holderIdentity"] != old["holderIdentity"], timeout=20,
             what="the lease taken under a new identity")  # fmt: skip
    taken = time.monotonic() - restarted
    new = api_get(first, path)["spec"]
    assert new["holderIdentity"].startswith("node-1_") and new["leaseTransitions"] == old["leaseTransitions"] + 1
    assert 6 - 2 <= taken <= 6 + 4, taken  # the lease's duration after its last renewal (at most 1 s before)


def test_lease_duration_and_toleration_seconds_come_from_the_args_files(make_cluster):
    cluster = make_cluster(args={k: QUICK[k] for k in ("kubelet", "kubelet-config")})  # MicroK8s' defaults otherwise
    first = cluster.new_node()
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
    assert wait_for(lambda: api_get(first, path))["spec"]["leaseDurationSeconds"] == 60
    client = KubeClient.for_node(first.node)
    wait_for(lambda: client.get("serviceaccounts", "default", "default") or True, what="API up")

    def tolerations(name: str) -> dict:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "hello:local"}]}}  # fmt: skip
        made = client.create("pods", pod)
        return {t["key"]: t["tolerationSeconds"] for t in made["spec"]["tolerations"]}

    assert tolerations("before") == {"node.kubernetes.io/not-ready": 300, "node.kubernetes.io/unreachable": 300}
    first.set_args("kube-controller-manager", leader_elect_lease_duration="20s", leader_elect_renew_deadline="15s")
    first.set_args("kube-apiserver", default_unreachable_toleration_seconds="7")
    first.restart_kubelite()  # a new candidate: it takes the lease once the one of 60 s it held expired
    wait_for(lambda: api_get(first, path)["spec"]["leaseDurationSeconds"] == 20, timeout=60 + 15,
             what="lease taken again with 20 s")  # fmt: skip
    client = KubeClient.for_node(first.node)
    assert wait_for(lambda: tolerations("after")) == {"node.kubernetes.io/not-ready": 300,
                                                      "node.kubernetes.io/unreachable": 7}  # fmt: skip


def test_pods_of_a_powered_off_node_are_evicted_after_grace_plus_toleration(make_cluster):
    args = dict(QUICK, **{"kube-apiserver": {"default-unreachable-toleration-seconds": "3"}})
    cluster = make_cluster(args=args, pod_network="host")
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    client = KubeClient.for_node(first.node)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"nodeName": "node-2", "containers": [{"name": "c", "image": "hello:local"}]}}  # fmt: skip
    wait_for(lambda: statuses(first) == {"node-1": "Ready", "node-2": "Ready"}, what="both Ready")
    wait_for(lambda: client.create("pods", pod), what="pod created")  # (bound to a registered node: not garbage)
    second.kill()
    killed = time.monotonic()

    def evicted():
        found = client.get("pods", "p", "default")
        return found["metadata"].get("deletionTimestamp") and found["status"].get("reason")

    wait_for(evicted, timeout=GRACE + 3 + 8, what="the pod evicted")
    took = time.monotonic() - killed
    assert GRACE + 3 - 2 <= took <= GRACE + 3 + 4
    assert client.get("pods", "p", "default")["status"]["reason"] == "NodeLost"


def test_table_has_the_real_columns_and_wide_ones_at_priority_1(make_cluster):
    first = make_cluster().new_node()
    wait_for(lambda: api_get(first, "/api/v1/nodes")["items"], what="node registered")
    table = api_get(first, "/api/v1/nodes", table=True)
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", 0),
        ("Status", 0),
        ("Roles", 0),
        ("Age", 0),
        ("Version", 0),
        ("Internal-IP", 1),
        ("External-IP", 1),
        ("OS-Image", 1),
        ("Kernel-Version", 1),
        ("Container-Runtime", 1),
    ]
    cells = table["rows"][0]["cells"]
    assert cells[:3] == ["node-1", "Ready", "<none>"] and cells[4] == first.node.profile.version
    assert cells[5:7] == [first.ip, "<none>"] and cells[9].startswith("containerd://")
    names = [n["metadata"]["name"] for n in api_get(first, "/api/v1/namespaces")["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_requests_without_the_admin_token_are_unauthorized(make_cluster):
    first = make_cluster().new_node()
    with pytest.raises(wire.RemoteError) as refused:
        api_get(first, "/api/v1/nodes", token="wrong")
    assert (refused.value.status, refused.value.message) == (401, "Unauthorized")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_real_kubectl_lists_the_nodes(make_cluster):
    cluster = make_cluster()
    first = cluster.new_node()
    cluster.grow(1)
    config = kubeconfig(first)

    def kubectl(*args: str) -> str:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    plain = wait_for(lambda: (out := kubectl("get", "nodes")).count(" Ready ") == 2 and out, what="2 Ready nodes")
    assert plain.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    wide = kubectl("get", "nodes", "-o", "wide").splitlines()
    assert wide[0].split()[5:] == ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert first.ip in wide[1]
    listed = json.loads(kubectl("get", "nodes", "-o", "json"))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["node-1", "node-2"]
