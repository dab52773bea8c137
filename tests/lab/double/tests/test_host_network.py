# SPDX-License-Identifier: GPL-3.0-or-later
"""The suite's host clean-up runs once, after the last xdist worker: a worker done early leaves the host alone (it
once deleted the pod namespaces of the other worker's running netns tests)."""

from __future__ import annotations

from host_network import first_in, last_out


def test_only_the_last_worker_out_cleans_up_against_the_first_record(tmp_path):
    shared = tmp_path / "host-network.json"
    records = iter([{"namespaces": ["first"]}, {"namespaces": ["second"]}])
    first_in(shared, lambda: next(records))
    first_in(shared, lambda: next(records))
    assert last_out(shared) is None
    assert last_out(shared) == {"namespaces": ["first"]}


def test_a_worker_starting_after_the_others_left_records_the_host_again(tmp_path):
    shared = tmp_path / "host-network.json"
    first_in(shared, lambda: {"namespaces": ["early"]})
    assert last_out(shared) == {"namespaces": ["early"]}
    first_in(shared, lambda: {"namespaces": ["late"]})
    assert last_out(shared) == {"namespaces": ["late"]}
