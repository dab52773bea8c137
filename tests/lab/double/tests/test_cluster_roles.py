# SPDX-License-Identifier: GPL-3.0-or-later
"""The datastore's role model over real daemons on loopback: growth 1-2-3-4-7, promotion after a voter dies,
quorum loss freezing reads and writes, and a powered-off node catching up when it comes back (contract 6)."""

from __future__ import annotations

import time

import pytest
from cluster_fixtures import api_get, clusters, wait_for
from microk8s_double import datastore, dqlite_server, roles, wire

REBALANCE = 1  # seconds, as the suite sets rebalance_interval


@pytest.fixture
def make_cluster(tmp_path):
    with clusters(tmp_path) as make:
        yield make


def counts(node) -> dict[str, int]:
    view = node.roles().values()
    return {role: list(view).count(role) for role in ("voter", "standby", "spare")}


def settled(node, voters: int, standbys: int = 0, spares: int = 0):
    expected = {"voter": voters, "standby": standbys, "spare": spares}
    return wait_for(lambda: counts(node) == expected, timeout=30, what=f"roles {expected}")


def test_roles_as_the_cluster_grows(make_cluster):
    cluster = make_cluster()
    first = cluster.new_node()
    assert first.roles() == {"127.0.0.1:19001": "voter"}  # a lone node, not yet rebound to its address
    (second,) = cluster.grow(1)
    settled(first, voters=1, spares=1)
    assert first.roles()[f"{first.ip}:19001"] == "voter"
    assert not datastore.ha_formed(datastore.local_view(first.node))
    cluster.grow(1)
    settled(first, voters=3)
    assert datastore.ha_formed(datastore.local_view(second.node))
    cluster.grow(1)
    settled(first, voters=3, standbys=1)
    cluster.grow(3)
    settled(first, voters=3, standbys=3, spares=1)
    cluster_yaml = (cluster.nodes[-1].paths.backend / "cluster.yaml").read_text()
    assert cluster_yaml.count("- Address: ") == 7 and f"- Address: {first.ip}:19001\n  ID: " in cluster_yaml


def test_a_dead_voter_is_replaced_by_a_standby_within_the_rebalance_interval(make_cluster):
    cluster = make_cluster()
    cluster.new_node()
    cluster.grow(3)
    first = cluster.nodes[0]
    settled(first, voters=3, standbys=1)
    standby = next(n for n in cluster.nodes if n.roles().get(f"{n.ip}:19001") == "standby")
    victim = next(n for n in cluster.nodes[1:] if first.roles()[f"{n.ip}:19001"] == "voter")
    victim.kill()
    witness = next(n for n in cluster.nodes if n not in (victim,))
    wait_for(lambda: witness.roles()[f"{standby.ip}:19001"] == "voter", timeout=REBALANCE * 3 + 5, what="promotion")
    assert witness.roles()[f"{victim.ip}:19001"] == "spare"
    assert counts(witness) == {"voter": 3, "standby": 0, "spare": 1}


def test_a_dead_voter_stays_listed_when_nobody_can_replace_it(make_cluster):
    cluster = make_cluster()
    cluster.new_node()
    cluster.grow(2)
    first, _second, third = cluster.nodes
    settled(first, voters=3)
    third.kill()
    datastore.execute(first.node, [{"op": "put", "key": "/probe", "value": 1}])  # 2 of 3 voters: still a quorum
    assert first.roles()[f"{third.ip}:19001"] == "voter"


def test_losing_the_quorum_freezes_reads_and_writes(make_cluster):
    cluster = make_cluster(request_timeout=2)  # how long a frozen request waits
    cluster.new_node()
    cluster.grow(2)
    first, second, third = cluster.nodes
    settled(first, voters=3)
    second.kill()
    third.kill()
    with pytest.raises(datastore.DatastoreError, match="no available dqlite leader server found"):
        datastore.execute(first.node, [{"op": "put", "key": "/frozen", "value": 1}])
    view = datastore.local_view(first.node)
    assert view["nodes"] == [] and dqlite_server.NO_LEADER in view["error"]
    with pytest.raises(wire.RemoteError) as failed:  # what `kubectl get nodes` shows: "Error from server: rpc ..."
        api_get(first, "/api/v1/nodes")
    assert failed.value.status == 500
    assert failed.value.message == f"rpc error: code = Unknown desc = {dqlite_server.NO_LEADER}"


def test_a_write_without_a_majority_is_never_acknowledged_not_even_when_retried(make_cluster):
    """The leader appends a write to its own log before the voters hold it; when no majority does, the write fails
    and the entry stays uncommitted: a retry of the same write (which changes nothing in the leader's log) must fail
    too, and must not be read back, until a majority holds it (once a voter is back, the retry commits it)."""
    cluster = make_cluster(request_timeout=2)
    cluster.new_node()
    cluster.grow(2)
    settled(cluster.nodes[0], voters=3)
    leader = leading(cluster)
    others = [n for n in cluster.nodes if n is not leader]
    for node in others:
        node.kill()
    put = [{"op": "put", "key": "/lost", "value": 1}]
    for _attempt in range(2):
        with pytest.raises(datastore.DatastoreError, match="no available dqlite leader server found"):
            datastore.execute(leader.node, put)
    with pytest.raises(datastore.DatastoreError):
        datastore.execute(leader.node, [{"op": "get", "key": "/lost"}])
    others[0].start()
    assert wait_for(lambda: datastore.execute(leader.node, put) == [None], timeout=30, what="a majority again")
    assert datastore.execute(others[0].node, [{"op": "get", "key": "/lost"}]) == [1]


def test_a_powered_off_node_comes_back_with_its_identity_and_catches_up(make_cluster):
    cluster = make_cluster()
    cluster.new_node()
    cluster.grow(2)
    first, _second, third = cluster.nodes
    settled(first, voters=3)
    info = third.paths.backend / "info.yaml"  # its own copy too (a commit needs a majority only, so it may lag)
    identity = wait_for(lambda: "Role: 0" in info.read_text() and info.read_text(), what="third one's info.yaml voter")
    third.kill()
    datastore.execute(first.node, [{"op": "put", "key": "/while-away", "value": "written"}])
    third.start()
    assert (third.paths.backend / "info.yaml").read_text() == identity
    got = wait_for(lambda: datastore.execute(third.node, [{"op": "get", "key": "/while-away"}]), what="catch-up")
    assert got == ["written"]
    state = wait_for(lambda: "while-away" in (third.paths.backend / "double-state.json").read_text(), what="copy")
    assert state


def leading(cluster):
    """The node whose datastore leads (dqlite's `.leader`), once every node names the same one a second apart (the
    lead moves to the lowest-ID voter shortly after the voters are complete)."""

    def agreed():
        named = {datastore.execute(n.node, [{"op": "leader"}])[0] for n in cluster.nodes}
        return named.pop() if len(named) == 1 else None

    def stable():
        before = agreed()
        time.sleep(1)
        return before if before and agreed() == before else None

    address = wait_for(stable, what="one datastore leader")
    return next(n for n in cluster.nodes if address == f"{n.ip}:19001")


def test_a_powered_off_voter_delays_no_write(make_cluster):
    """Raft commits once a majority holds an entry: a voter whose packets go unanswered must not hold writes up for
    the push timeout (5 s here) while the leader still counts it alive."""
    cluster = make_cluster(request_timeout=10)
    cluster.new_node()
    cluster.grow(2)
    settled(cluster.nodes[0], voters=3)
    leader = leading(cluster)
    follower = next(n for n in cluster.nodes if n is not leader)
    took = []
    with follower.powered_off():
        for number in range(6):
            started = time.monotonic()
            datastore.execute(leader.node, [{"op": "put", "key": f"/after-cut/{number}", "value": number}])
            took.append(time.monotonic() - started)
    assert max(took) < 2, took


def test_a_request_through_a_follower_reaches_the_new_leader_after_the_leader_is_powered_off(make_cluster):
    """The survivors elect a leader after the liveness window (2 s here; real dqlite: an election timeout of 3-6 s) and
    a request waiting on a member gets there instead of hanging on the dead leader until the request timeout (10 s)."""
    cluster = make_cluster(request_timeout=10)
    cluster.new_node()
    cluster.grow(2)
    settled(cluster.nodes[0], voters=3)
    leader = leading(cluster)
    witness = next(n for n in cluster.nodes if n is not leader)
    with leader.powered_off():
        started = time.monotonic()
        datastore.execute(witness.node, [{"op": "put", "key": "/after-cut", "value": "written"}])
        took = time.monotonic() - started
        assert datastore.execute(witness.node, [{"op": "get", "key": "/after-cut"}]) == ["written"]
    assert took < 8, took  # real dqlite: a randomised election timeout of 3-6 s


@pytest.mark.parametrize(
    ("members", "online", "expected"),
    [
        ([0], {1}, [0]),
        ([0, 2], {1, 2}, [0, 2]),
        ([0, 2, 2], {1, 2, 3}, [0, 0, 0]),
        ([0, 0, 0, 2, 2, 2, 2], {1, 2, 3, 4, 5, 6, 7}, [0, 0, 0, 1, 1, 1, 2]),
        ([0, 0, 0, 1], {2, 3, 4}, [2, 0, 0, 0]),  # dead voter 1 replaced by the standby
        ([0, 0, 0, 1, 2], {1, 2, 3, 5}, [0, 0, 0, 2, 1]),  # dead standby replaced by a spare
        ([0, 0, 0], {2, 3}, [0, 0, 0]),  # nobody to promote: the dead voter stays
    ],
)
def test_role_adjustment_rules(members, online, expected):
    listed = [{"ID": i + 1, "Address": f"10.77.0.{i + 1}:19001", "Role": r} for i, r in enumerate(members)]
    assert [m["Role"] for m in roles.adjust(listed, online)] == expected
