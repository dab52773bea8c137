# SPDX-License-Identifier: GPL-3.0-or-later
"""microk8s_node's one read per node returns the host facts the roles use (with microk8s_node_manage_etc_hosts, as
inventories/home and the lab set it) instead of a setup run of its own, and resolves the names of the /etc/hosts
block it keeps: the facts must be setup's, and a name resolving elsewhere must still be refused."""

from __future__ import annotations

from conftest import changed, failure_messages, node, site


def test_node_info_gives_the_facts_setup_gives_on_every_node(lab, tmp_path):
    run, log = site(tmp_path, playbook="tests/lab/scenarios/node_facts_check.yml")
    assert run.rc == 0, (failure_messages(run), log[-3000:])
    groups = lab["all"]["children"]
    nodes = [*groups["masters"]["hosts"], *((groups.get("workers") or {}).get("hosts") or {})]
    compared = [e["event_data"]["host"] for e in run.events if e.get("event") == "runner_on_ok"
                and e["event_data"].get("task") == "Every fact the roles use is the same"]  # fmt: skip
    assert sorted(compared) == sorted(nodes)


def test_a_node_name_shadowed_above_the_hosts_block_is_refused(lab, tmp_path):
    """The block is in place, but an earlier /etc/hosts line gives node3's name node2's own address (a typo): the
    read resolves the block's names as getent does (getaddrinfo sorts the answers, here node2's own address first)
    and the run refuses it, naming both, with nothing changed."""
    hosts = node("node2", "cat", "/etc/hosts").stdout
    node("node2", "sh", "-c", "sed -i '1i 10.77.0.12 node3' /etc/hosts")
    try:
        run, _log = site(tmp_path, cmdline="--tags nodes")
        assert run.rc != 0
        messages = failure_messages(run)
        assert any("node2 resolves node3 to 10.77.0.12, not 10.77.0.13" in message for message in messages), messages
        assert changed(run) == 0
    finally:
        node("node2", "sh", "-c", "cat > /etc/hosts", input=hosts)
