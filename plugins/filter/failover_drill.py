# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of the failover_drill role: which node to power off when the user names none.

The drill's worst case is the node whose loss costs the most: first the app's pods (they are lost until their node is
NotReady and the pods are replaced elsewhere, and without one on the dead node the drill cannot measure the
replacement at all), then the controller-manager and scheduler leases (their successors wait for the lease to
expire), then a datastore voter (a standby must be promoted). Which node holds those changes over a cluster's life
(a node that came back after a power cut is a standby and holds no lease), so the drill reads them just before the
cut and chooses then.
"""

from __future__ import annotations

NO_APP_POD = "no node holds an app pod (the replacement-pods target cannot be measured)"


def _address(voter):
    """`10.0.0.1:19001` -> `10.0.0.1`."""
    return str(voter).rsplit(":", 1)[0]


def failover_drill_victim(candidates, addresses, nodes, voters, leases, app_nodes):
    """The node to power off and why.

    candidates: inventory hosts in order (control-plane nodes first); addresses: {host: its address (ansible_host)};
    nodes: the Kubernetes nodes
    [{name, ip}]; voters: the datastore's voters (`IP:port`); leases: {lease name: holderIdentity} (MicroK8s writes
    `<hostname>_<uuid>`); app_nodes: the node name of each of the app's endpoints.
    Returns {host, node, score, app_pods, reasons}: the first candidate with the highest score, compared in this order:
    holds an app pod at all, leases held, datastore voter, number of app pods. A node with an app pod always wins over
    one without, whatever leases or voter role the other holds. score is that [has app pod, leases, voter, app pods]
    list; reasons in words for the report (with NO_APP_POD when no candidate holds one). Candidates that are no
    Kubernetes node are skipped.
    """
    voter_addresses = {_address(v) for v in voters or []}
    best = None
    for candidate in candidates:
        host = candidate
        address = (addresses or {}).get(host) or host
        names = {host, host.split(".")[0], host.lower(), host.split(".")[0].lower()}
        node = next((n for n in nodes if n.get("name") in names), None)
        node = node or next((n for n in nodes if n.get("ip") == address), None)
        if node is None:
            continue
        reasons = []
        voter = node.get("ip") in voter_addresses
        if voter:
            reasons.append("datastore voter")
        held = sorted(name for name, holder in (leases or {}).items() if (holder or "").split("_")[0] == node["name"])
        if held:
            reasons.append("holds the %s lease%s" % (" and ".join(held), "s" if len(held) > 1 else ""))
        pods = sum(1 for name in app_nodes or [] if name == node["name"])
        if pods:
            reasons.append("%d app pod%s" % (pods, "s" if pods > 1 else ""))
        score = [int(pods > 0), len(held), int(voter), pods]
        if best is None or score > best["score"]:
            best = {"host": host, "node": node["name"], "score": score, "app_pods": pods, "reasons": reasons}
    if best is None:
        return {"host": "", "node": "", "score": [0, 0, 0, 0], "app_pods": 0, "reasons": []}
    if not best["app_pods"]:
        best["reasons"].append(NO_APP_POD)
    return best


class FilterModule:
    def filters(self):
        return {"failover_drill_victim": failover_drill_victim}
