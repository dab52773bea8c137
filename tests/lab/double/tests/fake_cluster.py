# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the double's CLI with the cluster code replaced by a scenario (JSON file named by FAKE_CLUSTER).

The CLI suite checks texts and exit codes, not networking: kubelite.list_nodes, datastore.local_view/leave/
remove_node/execute (get/put) and agent_client.join answer from the scenario; the addons' API writes
(addon_workloads.run, the rbac addon's deletions) only check that the API is up. Keys: `nodes` (absent = API server
down), `members`, `data` (the datastore's keys), `join` ({http_status, message, error_kind}, or "real" to ask a real
agent), `leave` and `remove_node` ([rc, text]).
"""

from __future__ import annotations

import json
import os
import sys

from microk8s_double import agent_client, cli, datastore, kubelite
from microk8s_double.auth import policy
from microk8s_double.commands import addon_workloads, rbac_addon


def main() -> int:
    with open(os.environ["FAKE_CLUSTER"]) as handle:
        scenario = json.load(handle)

    def api_up():
        if "nodes" not in scenario:
            raise datastore.DatastoreError("failed to create dqlite connection: connection refused")

    def list_nodes(node):
        api_up()
        return scenario["nodes"]

    def execute(node, ops, timeout=None):
        """get/put on the scenario's `data`, written back so the next CLI call sees it."""
        api_up()
        data = scenario.setdefault("data", {})
        results = [data.get(op["key"]) if op["op"] == "get" else data.update({op["key"]: op["value"]}) for op in ops]
        with open(os.environ["FAKE_CLUSTER"], "w") as handle:
            json.dump(scenario, handle)
        return results

    def record(name, result):
        def call(*args):
            with open(os.environ["FAKE_CLUSTER"] + ".calls", "a") as log:
                log.write(json.dumps([name, [a for a in args[1:] if isinstance(a, (str, int, bool, type(None)))]]))
                log.write("\n")
            return result

        return call

    kubelite.list_nodes = list_nodes
    datastore.execute = execute
    datastore.local_view = lambda node: {"nodes": scenario.get("members", []), "error": None}
    if scenario.get("join") != "real":
        join = scenario.get("join", {"http_status": 200, "message": "", "error_kind": None})
        agent_client.join = record("join", agent_client.JoinOutcome(**join))
    datastore.leave = record("leave", tuple(scenario.get("leave", [0, ""])))
    datastore.remove_node = record("remove_node", tuple(scenario.get("remove_node", [0, ""])))
    addon_workloads.run = lambda node, wanted, unwanted: api_up()  # the addons' kubectl apply: only needs an API
    # `microk8s disable rbac`: the API answers at once and holds the bootstrap policy of an RBAC server
    rbac_addon.wait_for_api = lambda node: api_up()
    rbac_addon.bootstrap_objects = lambda node: (
        api_up()
        or [
            (resource, obj["kind"].lower(), None, obj["metadata"]["name"])
            for resource, obj in policy.objects(node.profile.minor)
        ]
    )
    rbac_addon.delete = lambda node, objects: api_up()
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
