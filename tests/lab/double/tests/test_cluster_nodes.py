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

GRACE = 4


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def statuses(node) -> dict[str, str]:
    return {row["name"]: row["status"] for row in kubelite.list_nodes(node.node)}


def test_a_silent_node_turns_not_ready_after_the_grace_period_and_ready_when_back(make_cluster):
    cluster = make_cluster(node_grace_period=GRACE, heartbeat_interval=1)
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    wait_for(lambda: statuses(first) == {"node-1": "Ready", "node-2": "Ready"}, what="both Ready")
    second.kill()
    killed = time.monotonic()
    assert statuses(first)["node-2"] == "Ready"  # the last heartbeat is still fresh
    wait_for(lambda: statuses(first)["node-2"] == "NotReady", timeout=GRACE + 5, what="NotReady")
    # not before the grace period: the last heartbeat (every 1 s, stamped to the second) is at most 2 s older
    assert time.monotonic() - killed >= GRACE - 2
    assert statuses(first)["node-1"] == "Ready"
    second.start()
    wait_for(lambda: statuses(first)["node-2"] == "Ready", what="Ready again")


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
