# SPDX-License-Identifier: GPL-3.0-or-later
"""The datastore as the rest of the node sees it: the daemon's entry point and the calls the CLI makes.

`main()` runs `daemon-k8s-dqlite` (see dqlite_server.py). The other functions talk to this node's daemon, which
forwards to the leader, as MicroK8s' own tools query dqlite.
"""

from __future__ import annotations

import time

from . import certs, replica, wire
from . import node as node_module
from .node import Node

NODE_PREFIX = "/registry/minions/"


class DatastoreError(Exception):
    pass


def execute(node: Node, ops: list[dict], timeout: float | None = None) -> list:
    """Run operations on the leader through this node's daemon; DatastoreError when the datastore cannot answer."""
    wait = timeout or node.setting("request_timeout", 10)
    try:
        return wire.call(node.ip, node.port("dqlite"), "POST", "/execute", {"ops": ops}, timeout=wait + 5, keep=True)
    except wire.RemoteError as error:
        raise DatastoreError(error.message) from error
    except OSError as error:
        raise DatastoreError(f"failed to create dqlite connection: {error}") from error


def wait_change(node: Node, prefixes: list[str], since: int, timeout: float) -> int:
    """Block until a key under one of `prefixes` (e.g. `/registry/pods/`) changed after log index `since`, or for
    `timeout` seconds; the index of the newest such change (pass it as `since` next time). -1 = "now": answers at once.
    Raises DatastoreError when this node's datastore does not answer."""
    body = {"prefixes": prefixes, "since": since, "timeout": timeout}
    try:
        answer = wire.call(node.ip, node.port("dqlite"), "POST", "/wait", body, timeout=timeout + 5, keep=True)
        return int(answer["index"])
    except (wire.RemoteError, OSError, KeyError, TypeError, ValueError) as error:
        raise DatastoreError(f"failed to watch the datastore: {error}") from error


def prefixes(resources: list[str]) -> list[str]:
    return [f"/registry/{name}/" for name in resources]


class Waker:
    """Sleep until the datastore reports a change of some collections (`pods`, `services`...), or a timeout; True
    when something changed (the first call answers at once). Without a datastore to ask (a worker, or no quorum)
    it just sleeps and says True; so it does when the datastore does not answer, for at most `error_pause` s."""

    def __init__(self, node: Node, resources: list[str], local: bool, error_pause: float | None = None):
        self.node, self.prefixes, self.local, self.since = node, prefixes(resources), local, -1
        self.error_pause = error_pause

    def wait(self, timeout: float) -> bool:
        timeout = max(timeout, 0.0)
        if not self.local:
            time.sleep(timeout)
            return True
        started = time.monotonic()
        try:
            latest = wait_change(self.node, self.prefixes, self.since, timeout)
        except DatastoreError:
            left = max(0.0, timeout - (time.monotonic() - started))
            time.sleep(left if self.error_pause is None else min(left, self.error_pause))
            return True
        changed, self.since = latest != self.since, latest
        return changed


def local_view(node: Node) -> dict:
    """Members and roles as `dqlite .cluster` reports them (liveness is not checked); empty with `error` when the
    datastore cannot be queried, which status prints as `none`."""
    try:
        members = execute(node, [{"op": "members"}])[0]
    except DatastoreError as error:
        return {"nodes": [], "error": str(error)}
    nodes = [{"address": m["Address"], "role": replica.ROLE_NAMES[m["Role"]]} for m in members]
    return {"nodes": nodes, "error": None}


def ha_formed(view: dict) -> bool:
    return sum(1 for n in view["nodes"] if n["role"] == "voter") > 2


def is_worker(node: Node) -> bool:
    return node.paths.lock("clustered.lock").exists()


ONLY_COPY = (
    "This node currently holds the only copy of the Kubernetes database so it cannot leave the cluster.\n"
    "To remove this node you can either first remove all other nodes with 'microk8s remove-node' or\n"
    "form a highly available cluster by adding at least three nodes."
)


def leave(node: Node) -> tuple[int, str]:
    """Take this node out of the cluster's datastore (a worker has nothing there), then reset it to a fresh single
    node: new datastore, new certificates, no join locks (the daemons pick that up as after a restart).

    As leave.py's `is_leader_without_successor`, only the one voter of a cluster with other members is refused; a
    node alone in its datastore goes ahead and is wiped like any other (nothing to remove it from)."""
    if not is_worker(node):
        members = execute(node, [{"op": "members"}])[0]
        me = replica.load(node.paths.backend)[0]
        voters = [m["ID"] for m in members if m["Role"] == replica.VOTER]
        if voters == [me] and len(members) > 1:
            return 3, ONLY_COPY
        # A node removed while it was away (`remove-node --force` on a survivor) is no member any more: nothing to
        # remove, it is reset all the same (leave.py's removal request fails and it goes on).
        address = next((m["Address"] for m in members if m["ID"] == me), None)
        if len(members) > 1 and address is not None:
            execute(node, [{"op": "remove", "address": address}])
    with replica.locked(node.paths.backend):
        replica.save(node.paths.backend, replica.fresh_state(node.port("dqlite")), replica.BOOTSTRAP_ID)
    certs.reset(node)
    for lock in ("clustered.lock", "no-cert-reissue"):
        node.paths.lock(lock).unlink(missing_ok=True)
    return 0, ""


def remove_node(node: Node, name_or_ip: str, force: bool) -> tuple[int, str]:
    """`microk8s remove-node`: the Kubernetes node (by name, 1.28+ also by InternalIP) and its dqlite entry."""
    objects = execute(node, [{"op": "list", "prefix": NODE_PREFIX}])[0]
    match = next(
        (
            o
            for o in objects.values()
            if name_or_ip in (o["metadata"]["name"], internal_ip(o))
            and (name_or_ip == o["metadata"]["name"] or node.profile.since(28))
        ),
        None,
    )
    ip = internal_ip(match) if match else name_or_ip
    address = f"{ip}:{node.port('dqlite')}"
    registered = any(m["Address"] == address for m in execute(node, [{"op": "members"}])[0])
    if match is None:
        lines = [f"Node {name_or_ip} does not exist in Kubernetes."]
        if force and node.profile.since(21):
            lines.append(f"Attempting to remove {name_or_ip} from dqlite.")
            if registered:
                execute(node, [{"op": "remove", "address": address}])
                lines.append("Removing node entry found in dqlite.")
        return 1, "\n".join(lines)
    if registered and not force:
        return 1, (
            f"Removal failed. Node {name_or_ip} is registered with dqlite. "
            "Please, run first 'microk8s leave' on the departing node. \n"
            "If the node is not available anymore and will never attempt to join the cluster "
            "in the future use the '--force' flag \n"
            "to unregister the node while removing it."
        )
    ops = [{"op": "delete", "key": NODE_PREFIX + match["metadata"]["name"]}]
    execute(node, ops + ([{"op": "remove", "address": address}] if registered else []))
    return 0, ""


def internal_ip(node_object: dict) -> str:
    addresses = node_object["status"]["addresses"]
    return next((a["address"] for a in addresses if a["type"] == "InternalIP"), "")


def main() -> int:
    """`daemon-k8s-dqlite`: idle on worker nodes (they never join dqlite), else serve the datastore."""
    from . import dqlite_server

    node = node_module.current()
    while is_worker(node):
        time.sleep(2)
    dqlite_server.serve(node)
    return 0
