# SPDX-License-Identifier: GPL-3.0-or-later
"""Watch streams (`?watch=1`): events for the objects of one collection that match the request's selectors.

The datastore has no change feed, so the stream polls it (every `interval`) and reports the differences:
ADDED, MODIFIED (new resourceVersion), DELETED (gone, or no longer matching). Starting without a resourceVersion
(or "0") it first sends every matching object as ADDED, as the real API server does; starting from a version it
sends the objects changed since as MODIFIED. Simplified: a deletion between the client's list and its watch
start is not reported; the stream ends at `timeoutSeconds` (or 5 minutes) and when the datastore fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from .. import datastore

DEFAULT_TIMEOUT = 300


def events(
    snapshot: Callable[[], dict[str, dict]],
    wanted: Callable[[dict], bool],
    since: str | None,
    timeout: float,
    interval: float = 0.5,
) -> Iterator[dict]:
    """`snapshot()` -> {key: object} of the collection (already in the form clients see)."""
    deadline = time.monotonic() + (timeout or DEFAULT_TIMEOUT)
    try:
        known = {k: o for k, o in snapshot().items() if wanted(o)}
    except datastore.DatastoreError:
        return
    start = int(since) if since and since != "0" else None
    for obj in known.values():
        if start is None:
            yield {"type": "ADDED", "object": obj}
        elif int(obj["metadata"].get("resourceVersion", 0)) > start:
            yield {"type": "MODIFIED", "object": obj}
    while time.monotonic() < deadline:
        time.sleep(interval)
        try:
            current = {k: o for k, o in snapshot().items() if wanted(o)}
        except datastore.DatastoreError:
            return
        for key, obj in known.items():
            if key not in current:
                yield {"type": "DELETED", "object": obj}
        for key, obj in current.items():
            before = known.get(key)
            if before is None:
                yield {"type": "ADDED", "object": obj}
            elif before["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                yield {"type": "MODIFIED", "object": obj}
        known = current
