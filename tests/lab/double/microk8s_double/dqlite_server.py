# SPDX-License-Identifier: GPL-3.0-or-later
"""The datastore daemon (`daemon-k8s-dqlite`, :19001): a small replicated store with dqlite's role model.

Every tick each member probes the voters (the leader: every member). The leader is the lowest-ID live voter among
those holding the newest log index, provided this member reaches a majority of the voters. Reads and writes go to
the leader; a write is sent to every live member and acknowledged as soon as a majority of the voters holds it
(Raft's commit: a member that does not answer, e.g. a powered-off one whose packets go unanswered, delays no write).
A write that reaches no majority fails, and its entry stays uncommitted in the leader's log: no request is answered
from it (not even a retry of the same write, which changes nothing) until the leader has a majority holding it.
The leader pushes its state to live members that are behind (a restarted node catches up) and re-balances roles
every `rebalance_interval` seconds (go-dqlite's fixed RolesAdjustmentFrequency, 30 s; a double-only setting so the
suite can run faster). Without a majority nothing is served: requests fail after `request_timeout`.
A member forwards to the leader it knows, giving up a connection attempt after the probe timeout and asking again
(go-dqlite's connector dials the nodes and retries until it finds the leader), so requests get through once the
survivors agree on a new leader instead of hanging on a dead one. Forwards, probes and pushes keep their
connections open (wire.call's `keep`): a dead member's kernel closes them (seen before the next call, which then
connects anew), and a forward's kept connection gives up as a connection attempt does when the leader's TCP does
not acknowledge the request within the probe timeout (one that vanished without closing them).
`POST /wait` is the double's change feed (kine's watch): it answers once a key under one of the given prefixes
changed after a log index, or at the timeout, so kubelite's loops sleep until there is something to do.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import time
import urllib.parse
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from . import replica, roles, wire
from .api import store
from .node import Node

NO_LEADER = "failed to create dqlite connection: no available dqlite leader server found"
PROBE_TIMEOUT = 1.0  # s: a ping, and a connection attempt to the leader, that takes longer has failed


def working_copy(state: dict) -> dict:
    """A state the operations may change without touching `state`: its own data mapping and members, the stored
    objects shared. Operations replace or remove stored objects, never change one in place, so sharing them is safe;
    a deep copy of the whole store on every request cost the leader most of its CPU time."""
    return dict(state, data=dict(state["data"]), members=copy.deepcopy(state["members"]))


class NotLeader(Exception):
    pass


class Daemon:
    def __init__(self, node: Node):
        self.node = node
        self.port = node.port("dqlite")
        self.backend = node.paths.backend
        self.lock = threading.RLock()  # the state: held briefly, never across the network
        self.writing = threading.Lock()  # the leader's writes, one at a time
        self.pool = ThreadPoolExecutor(max_workers=32)  # probes and pushes only, nothing that waits
        self.rebalance_interval = node.setting("rebalance_interval", 30)
        self.tick = max(0.1, min(1.0, self.rebalance_interval / 5))
        self.request_timeout = node.setting("request_timeout", 10)
        self.leader_id: int | None = None
        self.peer_index: dict[int, int] = {}
        # Pushes to members: their own threads, so pushes hanging on a dead member (until it is found dead) never
        # queue the live members' behind them.
        self.pushers = ThreadPoolExecutor(max_workers=128)
        self.last_seen: dict[int, tuple[float, int]] = {}
        self.last_rebalance = time.monotonic()
        self.changed = threading.Condition(self.lock)
        self.touched: dict[str, int] = {}  # "/registry/<resource>/" -> log index of its last change
        self.state: dict = {}
        self.committed = 0  # the log index a majority of the voters is known to hold (Raft's commitIndex)
        self.reload()

    # -- identity and membership ------------------------------------------------------------------------------
    def reload(self) -> None:
        """(Re)start from the backend on disk, as after a restart of the service."""
        with self.lock:
            self.self_id, state = replica.ensure(self.backend, self.port)
            self.adopt(state)
            self.leader_id, self.peer_index, self.last_seen = None, {}, {}
            self.committed = 0  # nothing known: the first request as leader commits the newest entry again
        if self.me() and self.me()["Role"] != replica.VOTER:
            threading.Thread(target=self.ask_promotion, daemon=True).start()

    def adopt(self, state: dict) -> None:
        """Take `state` as this member's (under the lock) and wake the waiters of the prefixes it changed."""
        before, after = self.state.get("data", {}), state.get("data", {})
        for key in before.keys() | after.keys():
            if before.get(key) != after.get(key):
                self.touched[group(key)] = state["index"]
        self.state = state
        self.changed.notify_all()

    def me(self) -> dict | None:
        return next((m for m in self.state["members"] if m["ID"] == self.self_id), None)

    def voters(self) -> list[int]:
        return [m["ID"] for m in self.state["members"] if m["Role"] == replica.VOTER]

    def ask_promotion(self) -> None:
        """go-dqlite's maybePromoteOurselves: a non-voter asks the leader to adjust roles when it starts."""
        with contextlib.suppress(wire.RemoteError):
            self.execute([{"op": "adjust"}])

    # -- probing and leadership ---------------------------------------------------------------------------------
    def probe(self, members: list[dict]) -> dict[int, int]:
        """Of `members`, ID -> log index of those that answered with their expected identity within the liveness
        window (one slow answer on a loaded host is not a death)."""
        peers = {m["ID"]: m for m in members if m["ID"] != self.self_id}
        now = time.monotonic()
        for ident, index in zip(peers, self.pool.map(self.ping, peers.values())):
            if index is not None:
                self.last_seen[ident] = (now, index)
        window = max(2.0, 3 * self.tick)
        return {i: index for i, (seen, index) in self.last_seen.items() if i in peers and now - seen <= window}

    def ping(self, peer: dict) -> int | None:
        host, port = peer["Address"].rsplit(":", 1)
        try:
            answer = wire.call(host, int(port), "GET", "/ping", timeout=PROBE_TIMEOUT, keep=True)
        except (OSError, wire.RemoteError, ValueError):
            return None
        if answer.get("id") != peer["ID"] or answer.get("cluster") != self.state["cluster"]:
            return None
        return answer["index"]

    def elect(self, alive: dict[int, int]) -> int | None:
        voters = self.voters()
        indexes = {**alive, self.self_id: self.state["index"]}
        live_voters = [i for i in voters if i in indexes]
        if len(live_voters) * 2 <= len(voters):
            return None
        newest = max(indexes[i] for i in live_voters)
        return min(i for i in live_voters if indexes[i] == newest)

    def step(self) -> None:
        if replica.identity(self.backend) != (self.self_id, self.state["cluster"]):
            self.reload()
        members = self.state["members"]
        alive = self.probe([m for m in members if m["Role"] == replica.VOTER])  # enough to find the leader
        leader = self.elect(alive)
        if leader == self.self_id:  # the leader watches everyone
            alive.update(self.probe([m for m in members if m["Role"] != replica.VOTER]))
        with self.lock:
            self.leader_id, self.peer_index = leader, alive
        if self.leader_id != self.self_id:
            return
        behind = [m for m in self.state["members"] if alive.get(m["ID"], self.state["index"]) < self.state["index"]]
        if behind:
            self.replicate(self.state, behind, until="sent")
        if time.monotonic() - self.last_rebalance >= self.rebalance_interval:
            self.last_rebalance = time.monotonic()
            with contextlib.suppress(NotLeader):  # lost its majority meanwhile: the next tick finds no leader
                self.run_leader([{"op": "adjust"}])

    def run(self) -> None:
        while True:
            try:
                self.step()
            except Exception as error:  # keep serving, as the real daemon does, and say why in the journal
                print(f"datastore tick failed: {error!r}", file=sys.stderr, flush=True)
            time.sleep(self.tick)

    # -- the leader's work --------------------------------------------------------------------------------------
    def replicate(
        self,
        state: dict,
        members: list[dict],
        until: str = "all",
        voters: list[int] | None = None,
        encoded: bytes | None = None,
    ) -> set[int]:
        """Send the state to the members; the IDs that stored it. `until`: "all" answered (or timed out), "majority"
        of the voters (the leader counts itself; slower pushes go on in the background: Raft's commit does not wait
        for a dead follower) or "sent" (the leader's catch-up: nothing waited for). `encoded`: the state's
        `replica.encode`, when the caller has it (encoded once for every member, and stored as received)."""
        body = replica.encode(state) if encoded is None else encoded

        def push(peer: dict) -> int | None:
            host, port = peer["Address"].rsplit(":", 1)
            try:
                path = f"/replicate?to={peer['ID']}"
                wire.call(host, int(port), "POST", path, body, timeout=self.request_timeout / 2, keep=True)
                return peer["ID"]
            except (OSError, wire.RemoteError):
                return None

        pending = {self.pushers.submit(push, m) for m in members if m["ID"] != self.self_id}
        acked: set[int] = set()
        deadline = time.monotonic() + self.request_timeout / 2
        while pending and until != "sent":
            if until == "majority" and self.majority(acked | {self.self_id}, voters):
                break
            done, pending = wait(pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:
                break
            acked |= {f.result() for f in done if f.result() is not None}
        return acked

    def majority(self, ids: set[int], voters: list[int] | None = None) -> bool:
        voters = self.voters() if voters is None else voters
        return len([i for i in voters if i in ids]) * 2 > len(voters)

    def run_leader(self, ops: list[dict]) -> list:
        """Run the operations as the leader: one write at a time (`writing`); the state lock is held to read and to
        adopt, never across the network, so members pushing to each other cannot wait on one another. The leader
        adopts and saves a write before it sends it (Raft appends to its own log first), so no follower ever holds
        a newer state than the leader's and elects itself for it. Nothing is answered from an entry that no majority
        holds yet: a write that lost its majority left one, and a new leader may hold one from its predecessor."""
        with self.writing:
            if self.leader_id != self.self_id:
                raise NotLeader()
            if any(op["op"] == "adjust" for op in ops):
                self.peer_index = self.probe(self.state["members"])
            with self.lock:
                base = self.state  # adopted states are replaced, never changed in place
                state = working_copy(base)
            results = [self.apply(state, op) for op in ops]
            if state == base and base["index"] <= self.committed:
                return results
            with self.lock:
                if self.state is not base:  # another member's push came in meanwhile: it leads, not this one
                    raise NotLeader()
                if state != base:
                    state["index"] += 1
                    self.adopt(state)
                    encoded = replica.encode(state)
                    replica.save_if_current(self.backend, state, self.self_id, encoded)
                else:
                    state, encoded = base, None  # the newest entry, still uncommitted: commit it before answering
                live = [m for m in self.state["members"] if m["ID"] in self.peer_index]
            voters = [m["ID"] for m in base["members"] if m["Role"] == replica.VOTER]  # the configuration it ran in
            acked = self.replicate(state, live, until="majority", voters=voters, encoded=encoded)
            if not self.majority(acked | {self.self_id}, voters):
                raise NotLeader()
            self.committed = max(self.committed, state["index"])
            return results

    def apply(self, state: dict, op: dict):
        members = state["members"]
        kind = op["op"]
        if kind in store.DATA_OPS:
            return store.apply(state, op)
        if kind == "members":
            return members
        if kind == "leader":  # dqlite's `.leader`: the address of the member that answers (the leader)
            return next(m["Address"] for m in members if m["ID"] == self.self_id)
        elif kind == "adjust":
            online = set(self.peer_index) | {self.self_id}
            state["members"] = roles.adjust(members, online)
        elif kind == "join":
            return self.add_member(state, op["address"])
        elif kind == "remove":
            state["members"] = [m for m in members if m["Address"] != op["address"]]
            return len(state["members"]) < len(members)
        return None

    def add_member(self, state: dict, address: str) -> dict:
        """A new spare with a fresh ID; the first join rebinds the lone bootstrap node to the host's address."""
        for entry in state["members"]:
            if entry["ID"] == self.self_id and entry["Address"].startswith("127.0.0.1:"):
                entry["Address"] = f"{self.node.ip}:{self.port}"
        ident = replica.new_id()
        state["members"] = [m for m in state["members"] if m["Address"] != address]
        state["members"].append(replica.member(ident, address, replica.SPARE))
        return {"id": ident, "state": state}

    # -- serving ------------------------------------------------------------------------------------------------
    def execute(self, ops: list[dict]) -> list:
        """Run on the leader, wherever it is; waits for one up to `request_timeout`."""
        deadline = time.monotonic() + self.request_timeout
        while time.monotonic() < deadline:
            leader = next((m for m in self.state["members"] if m["ID"] == self.leader_id), None)
            try:
                if leader and leader["ID"] == self.self_id:
                    return self.run_leader(ops)
                if leader:
                    host, port = leader["Address"].rsplit(":", 1)
                    return wire.call(
                        host,
                        int(port),
                        "POST",
                        "/leader",
                        {"ops": ops},
                        timeout=self.request_timeout,
                        connect_timeout=PROBE_TIMEOUT,
                        keep=True,
                    )
            except (NotLeader, OSError, wire.RemoteError):
                pass
            time.sleep(self.tick)
        raise wire.RemoteError(503, NO_LEADER)

    def on_ping(self, request: wire.Request):
        return 200, {"id": self.self_id, "cluster": self.state["cluster"], "index": self.state["index"]}

    def on_replicate(self, request: wire.Request):
        """POST /replicate?to=<member ID> with the leader's state (`replica.encode`), stored as received."""
        to = urllib.parse.parse_qs(request.query).get("to", [""])[0]
        state = request.json()
        with self.lock:
            if to != str(self.self_id) or state["cluster"] != self.state["cluster"]:
                return 409, {"error": "not this node"}
            if state["index"] > self.state["index"]:
                self.adopt(state)
                replica.save_if_current(self.backend, state, self.self_id, request.body)
        return 200, {"index": self.state["index"]}

    def on_leader(self, request: wire.Request):
        try:
            return 200, self.run_leader(request.json()["ops"])
        except NotLeader:
            return 503, {"error": NO_LEADER}

    def on_execute(self, request: wire.Request):
        try:
            return 200, self.execute(request.json()["ops"])
        except wire.RemoteError as error:
            return error.status, {"error": error.message}

    def on_wait(self, request: wire.Request):
        """{"prefixes": [...], "since": index, "timeout": s} -> {"index": the newest change of those prefixes}, as
        soon as it is newer than `since`, else at the timeout (at most 60 s)."""
        body = request.json()
        prefixes, since = [group(p) for p in body["prefixes"]], int(body.get("since", -1))
        deadline = time.monotonic() + min(float(body.get("timeout", 30)), 60.0)
        with self.changed:
            while True:
                latest = max([self.touched.get(p, 0) for p in prefixes], default=0)
                left = deadline - time.monotonic()
                if latest > since or since > self.state["index"] or left <= 0:  # (a join replaced the history)
                    return 200, {"index": latest}
                self.changed.wait(left)

    def routes(self, method: str, path: str):
        return {
            ("POST", "/wait"): self.on_wait,
            ("GET", "/ping"): self.on_ping,
            ("POST", "/replicate"): self.on_replicate,
            ("POST", "/leader"): self.on_leader,
            ("POST", "/execute"): self.on_execute,
        }.get((method, path))


def group(key: str) -> str:
    """The collection a key belongs to: `/registry/pods/default/x` -> `/registry/pods/`."""
    parts = key.split("/")
    return "/".join(parts[:3]) + "/" if len(parts) > 3 else key


def serve(node: Node) -> None:
    daemon = Daemon(node)
    wire.serve((node.ip, daemon.port), daemon.routes)
    daemon.run()
