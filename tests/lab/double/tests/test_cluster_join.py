# SPDX-License-Identifier: GPL-3.0-or-later
"""Joining over HTTPS between loopback nodes: fingerprint, token use, and each refusal of the cluster agent with
its HTTP code and text per version (contract sections 5 and 6)."""

from __future__ import annotations

import time

import pytest
from cluster_fixtures import clusters, wait_for
from microk8s_double import agent_client, kubelite, wire

VERSIONS = ["1.20", "1.24", "1.28", "1.32"]


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def two_nodes(make_cluster, version: str = "1.28", **settings):
    cluster = make_cluster(version, **settings)
    return cluster, cluster.new_node(), cluster.new_node()


def member_addresses(node) -> set[str]:
    return set(node.roles())


def test_join_over_https_checks_the_fingerprint_before_spending_the_token(make_cluster):
    _cluster, first, second = two_nodes(make_cluster)
    first.add_token("a" * 32)

    wrong = second.join(first, "a" * 32, fingerprint="0" * 12)
    assert (wrong.error_kind, wrong.http_status) == ("fingerprint", None)
    assert second.join(first, "a" * 32, fingerprint="abc").error_kind == "fingerprint"  # shorter than 12

    joined = second.join(first, "a" * 32)
    assert joined.ok, joined
    wait_for(lambda: member_addresses(second) == {f"{first.ip}:19001", f"{second.ip}:19001"}, what="joined view")


def test_skip_verify_ignores_a_wrong_fingerprint(make_cluster):
    _cluster, first, second = two_nodes(make_cluster)
    first.add_token("b" * 32)
    assert second.join(first, "b" * 32, fingerprint="0" * 12, skip_verify=True).ok


def test_default_token_is_single_use_even_when_the_join_fails(make_cluster):
    cluster, first, second = two_nodes(make_cluster)
    third = cluster.new_node()
    first.add_token("c" * 32)
    second.settings["ports"] = {"cluster_agent": 25001}  # the joiner announces another agent port: refused (502)
    refused = second.join(first, "c" * 32)
    assert (refused.http_status, refused.message) == (502, "The port of the cluster agent port has to be set to 25000")
    second.settings["ports"] = {}
    again = third.join(first, "c" * 32)
    assert (again.http_status, again.message, again.error_kind) == (500, "Invalid token", "http")
    assert "c" * 32 not in first.paths.credentials("cluster-tokens.txt").read_text()


def test_token_with_ttl_is_reusable_until_it_expires(make_cluster):
    cluster, first, second = two_nodes(make_cluster)
    third, fourth = cluster.new_node(), cluster.new_node()
    first.add_token("d" * 32, ttl=60)
    assert second.join(first, "d" * 32).ok
    assert third.join(first, "d" * 32).ok
    first.add_token("e" * 32, ttl=-1)
    assert fourth.join(first, "e" * 32).message == "Invalid token"


def test_unknown_token_is_refused(make_cluster):
    _cluster, first, second = two_nodes(make_cluster)
    outcome = second.join(first, "f" * 32)
    assert (outcome.http_status, outcome.message) == (500, "Invalid token")


@pytest.mark.parametrize("version", VERSIONS)
def test_joining_the_node_itself_is_refused_from_1_21(make_cluster, version):
    first = make_cluster(version).new_node()
    first.add_token("1" * 32)
    outcome = first.join(first, "1" * 32)
    if version == "1.20":  # no such check: the lone node joins itself
        assert outcome.ok
        return
    text = f"The joining node has the same IP ({first.ip}) as the node we contact"
    assert (outcome.http_status, outcome.message) == (503, text)


@pytest.mark.parametrize(
    ("version", "status", "text"),
    [
        ("1.24", 504, "The joining node ({ip}) is already known to dqlite"),
        ("1.28", 504, "The joining node ({ip}) is already known to dqlite"),
        ("1.32", 500, "Failed to retrieve dqlite cluster nodes: the joining node ({ip}) is already known to dqlite"),
    ],
)
def test_rejoining_a_member_is_refused(make_cluster, version, status, text):
    cluster = make_cluster(version)
    first, second = cluster.new_node(), cluster.new_node()
    first.add_token("2" * 32, ttl=60)
    assert second.join(first, "2" * 32).ok
    outcome = second.join(first, "2" * 32)
    assert (outcome.http_status, outcome.message) == (status, text.format(ip=second.ip))


def test_python_agent_texts_end_with_a_period(make_cluster):
    cluster = make_cluster("1.22")
    first, second = cluster.new_node(), cluster.new_node()
    first.add_token("3" * 32, ttl=60)
    assert second.join(first, "3" * 32).ok
    assert second.join(first, "3" * 32).message == f"The joining node ({second.ip}) is already known to dqlite."
    assert (
        first.join(first, "3" * 32).message == f"The joining node has the same IP ({first.ip}) as the node we contact."
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_hostname_must_resolve_to_the_joiner_on_the_go_agent(make_cluster, version):
    cluster, first, second = two_nodes(make_cluster, version)
    hosts = cluster.hosts_file.read_text().replace(f"{second.ip} {second.hostname}\n", "")
    cluster.hosts_file.write_text(hosts)
    first.add_token("4" * 32)
    outcome = second.join(first, "4" * 32)
    if version == "1.20":  # the Python agent (1.20-1.23) does not check
        assert outcome.ok
        return
    text = f'The hostname ({second.hostname}) of the joining node does not resolve to the IP "{second.ip}". '
    assert (outcome.http_status, outcome.message) == (400, text + "Refusing join")


def test_a_cluster_without_ha_refuses_joins(make_cluster):
    _cluster, first, second = two_nodes(make_cluster, "1.28")
    first.paths.lock("ha-cluster").unlink()
    first.add_token("5" * 32)
    outcome = second.join(first, "5" * 32)
    assert (outcome.http_status, outcome.message) == (501, "Not possible to join. This is not an HA MicroK8s cluster")


def test_no_agent_listening_is_a_refused_connection(make_cluster):
    _cluster, first, second = two_nodes(make_cluster)
    outcome = second.join(first, "6" * 32, port=25999, skip_verify=True)
    assert (outcome.error_kind, outcome.http_status) == ("refused", None)


def test_worker_never_joins_the_datastore_but_reports_through_a_control_plane(make_cluster):
    cluster = make_cluster("1.28")
    first = cluster.new_node()
    (worker,) = cluster.grow(1, worker=True)
    assert worker.paths.lock("clustered.lock").exists()
    rows = wait_for(lambda: {r["name"]: r for r in first_nodes(first)}.get(worker.hostname), what="worker node")
    assert rows["status"] == "Ready"
    time.sleep(0.5)
    assert member_addresses(first) == {"127.0.0.1:19001"}  # still the lone, never rebound, voter


def first_nodes(node):
    return kubelite.list_nodes(node.node)


@pytest.mark.parametrize(("version", "found"), [("1.24", False), ("1.28", True)])
def test_image_import_endpoint_exists_from_1_25(make_cluster, version, found):
    cluster = make_cluster(version)
    first = cluster.new_node()
    with pytest.raises(wire.RemoteError) as refused:
        wire.call(
            first.ip,
            25000,
            "POST",
            "/cluster/api/v2.0/image/import",
            b"not a tar",
            timeout=30,  # ctr may be slow to give up on a busy machine
            context=agent_client.insecure_context(),
        )
    # without containerd running, ctr itself fails: the agent passes its error on
    assert (refused.value.status, "ctr" in refused.value.message) == ((500, True) if found else (404, False))
