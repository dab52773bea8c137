# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s enable|disable rbac` (the addon's scripts, commands/rbac_addon.py) through the CLI, and RBAC,Node on a
running node: the bootstrap policy, aggregation by the controller, the double's own kubelet and controllers still
at work."""

from __future__ import annotations

import json
import ssl

import pytest
from cluster_fixtures import clusters, wait_for
from microk8s_double import default_args, distributed, kubelite, wire
from microk8s_double.kubeclient import KubeClient

RESTART = "snapctl restart microk8s.daemon-kubelite"


def installed(make_node, version: str):
    """A node whose args files are MicroK8s' default-args (the install hook's copy of `$SNAP/default-args`)."""
    node = make_node(version)
    default_args.write(node.profile, node.data / "args")
    return node


def mode_lines(node) -> list[str]:
    args = node.data / "args" / "kube-apiserver"
    return [line for line in args.read_text().splitlines() if line.startswith("--authorization-mode")]


@pytest.mark.parametrize("version", ["1.20", "1.24", "1.26", "1.28", "1.32"])
def test_enable_writes_rbac_node_and_restarts_then_disable_goes_back(make_node, version):
    node = installed(make_node, version)
    assert mode_lines(node) == ["--authorization-mode=AlwaysAllow"]  # MicroK8s' default-args
    enabled = node.run("enable", "rbac")
    assert enabled.rc == 0, enabled.err
    expected = [
        "Enabling RBAC",
        "Reconfiguring apiserver",
        *(["Restarting apiserver"] if node.minor >= 27 else []),
        "RBAC is enabled",
    ]
    assert enabled.out.splitlines() == expected
    assert mode_lines(node) == ["--authorization-mode=RBAC,Node"]
    assert node.stand_in_log() == [RESTART]
    disabled = node.run("disable", "rbac")
    assert disabled.rc == 0, disabled.err
    lines = disabled.out.splitlines()
    assert lines[:3] == ["Disabling RBAC", "Reconfiguring apiserver", "Removing default RBAC resources"]
    assert 'clusterrolebinding.rbac.authorization.k8s.io "cluster-admin" deleted' in lines
    assert 'clusterrole.rbac.authorization.k8s.io "cluster-admin" deleted' in lines
    assert lines[-1] == "RBAC is disabled"
    assert mode_lines(node) == ["--authorization-mode=AlwaysAllow"]
    assert node.stand_in_log() == [RESTART, RESTART]
    assert node.run("status", "-a", "rbac").out == "disabled\n"


@pytest.mark.parametrize(("version", "restarts"), [("1.26", True), ("1.28", False)])
def test_from_1_27_an_api_server_already_in_rbac_mode_is_not_restarted(make_node, version, restarts):
    node = installed(make_node, version)
    args = node.data / "args" / "kube-apiserver"
    args.write_text(args.read_text().replace("--authorization-mode=AlwaysAllow", "--authorization-mode=RBAC,Node"))
    result = node.run("enable", "rbac")
    assert result.rc == 0
    assert ("Restarting apiserver" in result.out) == (version == "1.28" and restarts)
    assert node.stand_in_log() == ([RESTART] if restarts else [])


def test_a_failed_restart_fails_the_script_and_leaves_the_addon_disabled(make_node):
    node = installed(make_node, "1.28")
    (node.bin / "snapctl").write_text("#!/bin/sh\nexit 3\n")
    result = node.run("enable", "rbac")
    assert result.rc == 3 and "RBAC is enabled" not in result.out
    assert node.run("status", "-a", "rbac").out == "disabled\n"


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def as_user(node, method: str, path: str, user: str):
    """A request with the admin token impersonating `user` (kubectl --as)."""
    context = ssl.create_default_context(cafile=str(node.paths.cert("ca.crt")))
    client = KubeClient.for_node(node.node)
    headers = {"Authorization": f"Bearer {client.token}", "Impersonate-User": user}
    try:
        return 200, wire.call(node.ip, 16443, method, path, context=context, headers=headers)
    except wire.RemoteError as error:
        return error.status, json.loads(error.body)


def test_rbac_node_on_a_running_node_keeps_the_double_at_work(make_cluster):
    cluster = make_cluster("1.28")
    node = cluster.new_node()
    client = KubeClient.for_node(node.node)
    assert client.list("clusterroles") == []  # AlwaysAllow: no bootstrap policy
    assert as_user(node, "GET", "/api/v1/namespaces/default/pods", "alice")[0] == 200
    node.set_args("kube-apiserver", authorization_mode="RBAC,Node")  # what `microk8s enable rbac` writes
    node.restart_kubelite()
    wait_for(lambda: client.get("clusterroles", "cluster-admin") is not None, what="bootstrap roles")
    wait_for(lambda: (client.get("clusterroles", "admin") or {}).get("rules"), what="admin aggregated")
    status, body = as_user(node, "GET", "/api/v1/namespaces/default/pods", "alice")
    assert (status, body["message"]) == (
        403,
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    )
    client.create(
        "deployments",
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "w", "image": "i"}]},
                },
            },
        },
    )
    wait_for(lambda: client.list("pods", "default", label_selector="app=web"), what="the controllers' pod")
    wait_for(lambda: kubelite.list_nodes(node.node)[0]["status"] == "Ready", what="node Ready")
    node.set_args("kube-apiserver", authorization_mode="AlwaysAllow")
    node.restart_kubelite()
    assert as_user(node, "GET", "/api/v1/namespaces/default/pods", "alice")[0] == 200


def test_the_mode_reaches_every_node_through_their_agents(make_cluster, capsys):
    cluster = make_cluster("1.28")
    first = cluster.new_node()
    (second,) = cluster.grow(1)
    token = distributed.callback_token(first.node)
    assert token and len(token) == 64 and distributed.callback_token(second.node) == token  # handed over at join
    assert oct(second.paths.credentials("callback-token.txt").stat().st_mode & 0o777) == "0o600"
    wait_for(lambda: len(KubeClient.for_node(first.node).list("nodes")) == 2, what="both Node objects")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    forged = {
        "callback": "x" * 64,
        "service": [{"name": "kube-apiserver", "arguments_update": [{"--authorization-mode": "AlwaysDeny"}]}],
    }
    with pytest.raises(wire.RemoteError) as refused:
        wire.call(second.ip, 25000, "POST", "/cluster/api/v1.0/configure", forged, context=context)
    assert (refused.value.status, refused.value.message) == (500, "invalid callback token")
    distributed.update_argument(first.node, "kube-apiserver", "--authorization-mode", "RBAC,Node")
    assert capsys.readouterr().out == "Adding argument --authorization-mode to nodes.\n"
    lines = second.paths.args("kube-apiserver").read_text().splitlines()
    assert [line for line in lines if "authorization-mode" in line] == ["--authorization-mode=RBAC,Node"]
    second.restart_kubelite()  # what `distributed_op.py restart apiserver` asks the node's agent for
    wait_for(lambda: as_user(second, "GET", "/api/v1/namespaces/default/pods", "alice")[0] == 403, what="RBAC on 2")


def test_configure_updates_removes_and_restarts_kubelite_for_apiserver(tmp_path, monkeypatch):
    from api_fixtures import ApiFixture

    api = ApiFixture(tmp_path)
    api.close()
    node = api.node
    args = node.paths.args("kube-apiserver")
    args.parent.mkdir(parents=True, exist_ok=True)
    args.write_text("--secure-port=16443\n--authorization-mode=AlwaysAllow\n--profiling=false\n")
    distributed.store(node, "t" * 64)
    restarted = []
    monkeypatch.setattr(distributed.subprocess, "run", lambda argv, check: restarted.append(argv) or Done(0))
    body = {
        "callback": "t" * 64,
        "service": [
            {
                "name": "kube-apiserver",
                "arguments_update": [{"--authorization-mode": "RBAC,Node"}],
                "arguments_remove": ["profiling"],
            },
            {"name": "apiserver", "restart": "yes"},
        ],
    }
    assert distributed.handle_configure(node, body) == (200, {"result": "ok"})
    assert args.read_text() == "--secure-port=16443\n--authorization-mode=RBAC,Node\n"
    assert restarted == [["snapctl", "restart", "microk8s.daemon-kubelite"]]


class Done:
    def __init__(self, returncode: int):
        self.returncode = returncode
