# SPDX-License-Identifier: GPL-3.0-or-later
"""The datastore's change feed (`POST /wait`, datastore.wait_change) that kubelite's loops sleep on: it answers at
once for a change of a watched collection, and only at the timeout for changes elsewhere."""

from __future__ import annotations

import threading
import time

import pytest
from cluster_fixtures import clusters
from microk8s_double import datastore


@pytest.fixture
def node(tmp_path):
    with clusters(tmp_path) as make:
        yield make().new_node().node


def put_later(node, key: str, delay: float = 0.5) -> threading.Thread:
    """Put the key after `delay` s; join the thread before the node goes (a waiter may wake before the put's answer)."""

    def put():
        time.sleep(delay)
        datastore.execute(node, [{"op": "put", "key": key, "value": {"n": time.time()}}])

    thread = threading.Thread(target=put, daemon=True)
    thread.start()
    return thread


def test_a_change_of_a_watched_collection_wakes_the_waiter_at_once(node):
    since = datastore.wait_change(node, ["/registry/pods/"], -1, 0)  # "now"
    putter = put_later(node, "/registry/pods/default/p")
    started = time.monotonic()
    latest = datastore.wait_change(node, ["/registry/pods/"], since, 10)
    assert latest > since and time.monotonic() - started < 5
    putter.join()


def test_changes_elsewhere_do_not_wake_it(node):
    since = datastore.wait_change(node, ["/registry/pods/"], -1, 0)
    putter = put_later(node, "/registry/leases/kube-system/x")
    started = time.monotonic()
    assert datastore.wait_change(node, ["/registry/pods/"], since, 2) == since
    assert time.monotonic() - started >= 1.9
    putter.join()
