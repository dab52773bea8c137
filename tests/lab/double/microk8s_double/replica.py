# SPDX-License-Identifier: GPL-3.0-or-later
"""A node's copy of the datastore on disk under $SNAP_DATA/var/kubernetes/backend/, in dqlite's file formats.

`info.yaml` is this node (Address, ID, Role), `cluster.yaml` the members as dqlite writes them, and
`double-state.json` the replicated state: log index, cluster id, members and the key/value data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import threading
import uuid
from pathlib import Path

BOOTSTRAP_ID = 3297041220608546238  # go-dqlite's dqlite.BootstrapID: the first node of every cluster
VOTER, STANDBY, SPARE = 0, 1, 2
ROLE_NAMES = {VOTER: "voter", STANDBY: "standby", SPARE: "spare"}
STATE_FILE = "double-state.json"


def member(ident: int, address: str, role: int) -> dict:
    return {"ID": ident, "Address": address, "Role": role}


def fresh_state(port: int) -> dict:
    """A new single-node cluster: dqlite binds to 127.0.0.1 until the first join rebinds it to the host IP."""
    return {
        "index": 1,
        "cluster": str(uuid.uuid4()),
        "members": [member(BOOTSTRAP_ID, f"127.0.0.1:{port}", VOTER)],
        "data": {},
    }


def new_id() -> int:
    return secrets.randbits(63) or 1


def member_yaml(entry: dict, first: str = "", rest: str = "") -> str:
    """dqlite's YAML for one node; `first`/`rest` prefix the lines (`- `/`  ` inside cluster.yaml)."""
    return f"{first}Address: {entry['Address']}\n{rest}ID: {entry['ID']}\n{rest}Role: {entry['Role']}\n"


def write_atomic(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    if isinstance(text, bytes):
        temporary.write_bytes(text)
    else:
        temporary.write_text(text)
    os.replace(temporary, path)


def write_if_changed(path: Path, text: str) -> None:
    """Rewrite a small file only when its text changes (the member files change with roles, not with every write)."""
    try:
        if path.read_text() == text:
            return
    except FileNotFoundError:
        pass
    write_atomic(path, text)


def encode(state: dict) -> bytes:
    """The state as stored and as pushed to the members: sorted keys, so the cluster id comes first (`identity`)."""
    return json.dumps(state, sort_keys=True).encode()


@contextlib.contextmanager
def locked(backend: Path):
    """Serialises writers of the backend: the daemon and a join or leave replacing it."""
    backend.mkdir(parents=True, exist_ok=True)
    with open(backend / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save_if_current(backend: Path, state: dict, self_id: int, encoded: bytes | None = None) -> bool:
    """Save unless a join or leave replaced the backend meanwhile (then the daemon must reload instead)."""
    with locked(backend):
        if identity(backend) not in (None, (self_id, state["cluster"])):
            return False
        save(backend, state, self_id, encoded)
        return True


def save(backend: Path, state: dict, self_id: int, encoded: bytes | None = None) -> None:
    """Persist the state and the two dqlite files derived from it (callers hold `locked`). `encoded`: the state's
    `encode` when the caller already has it (the leader encodes a write once, for its disk and every member)."""
    write_atomic(backend / STATE_FILE, encode(state) if encoded is None else encoded)
    write_if_changed(backend / "cluster.yaml", "".join(member_yaml(m, "- ", "  ") for m in state["members"]))
    me = next((m for m in state["members"] if m["ID"] == self_id), None)
    if me:
        write_if_changed(backend / "info.yaml", member_yaml(me))
    if not (backend / "failure-domain").exists():
        write_atomic(backend / "failure-domain", "1\n")


def load(backend: Path) -> tuple[int, dict] | None:
    """(own ID, state) from disk, or None for a node that has no datastore yet."""
    info, state = backend / "info.yaml", backend / STATE_FILE
    if not (info.exists() and state.exists()):
        return None
    fields = dict(line.split(": ", 1) for line in info.read_text().splitlines() if ": " in line)
    return int(fields["ID"]), json.loads(state.read_text())


def ensure(backend: Path, port: int) -> tuple[int, dict]:
    """The stored identity and state, creating a fresh single-node datastore if there is none."""
    with locked(backend):
        if load(backend) is None:
            save(backend, fresh_state(port), BOOTSTRAP_ID)
    return load(backend)


def identity(backend: Path) -> tuple[int, str] | None:
    """(own ID, cluster id): changes when a join or leave replaces the backend, so the daemon reloads. Cheap: the
    state file is saved with sorted keys, so the cluster id is its first field (the rest is not parsed)."""
    info, state = backend / "info.yaml", backend / STATE_FILE
    try:
        fields = dict(line.split(": ", 1) for line in info.read_text().splitlines() if ": " in line)
        with open(state, "rb") as stored:
            head = stored.read(256).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    found = re.match(r'\{"cluster": "([^"\\]*)"', head)
    if found is None:
        loaded = load(backend)
        return (loaded[0], loaded[1]["cluster"]) if loaded else None
    return int(fields["ID"]), found.group(1)
