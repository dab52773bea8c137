# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-apiserver's health endpoints (k8s.io/apiserver/pkg/server/healthz): `/livez`, `/readyz` and the deprecated
`/healthz`, each also per check (`/readyz/etcd`). `ok` when every check passes; `?verbose` lists them
(`[+]etcd ok` ... `readyz check passed`); `?exclude=<check>` leaves one out; a failing check makes the answer a 500
that lists every check, the failed one `[-]etcd failed: reason withheld`, and ends `readyz check failed`. The etcd
check is one read of the datastore. Simplified: the post-start hooks' checks (`poststarthook/...`) are not listed."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

CHECKS = {
    "livez": ("ping", "log", "etcd"),
    "healthz": ("ping", "log", "etcd"),
    "readyz": ("ping", "log", "etcd", "etcd-readiness", "informer-sync", "shutdown"),
}
DATASTORE_CHECKS = {"etcd", "etcd-readiness"}
TEXT = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
NOT_FOUND = (404, b"404 page not found\n", TEXT)


def parse(path: str) -> bool:
    """Whether the path is a health endpoint (or one of its checks)."""
    endpoint, _slash, _check = path.strip("/").partition("/")
    return path.startswith("/") and endpoint in CHECKS


def answer(path: str, query: str, datastore_answers: Callable[[], bool]) -> tuple[int, bytes, list]:
    endpoint, _slash, single = path.strip("/").partition("/")
    checks = CHECKS[endpoint]
    if single and single not in checks:
        return NOT_FOUND
    options = parse_qs(query, keep_blank_values=True)
    excluded = {name for value in options.get("exclude", []) for name in value.split(",")}
    wanted = [single] if single else [name for name in checks if name not in excluded]
    datastore_ok = datastore_answers() if DATASTORE_CHECKS & set(wanted) else True
    failed = {name for name in wanted if name in DATASTORE_CHECKS and not datastore_ok}
    if single:
        if failed:
            return 500, b"internal server error: the datastore does not answer\n", TEXT
        return 200, b"ok", TEXT
    if not failed and "verbose" not in options:
        return 200, b"ok", TEXT
    lines = [
        f"[+]{name} excluded: ok" if name in excluded
        else f"[-]{name} failed: reason withheld" if name in failed
        else f"[+]{name} ok"
        for name in checks
    ]  # fmt: skip
    verdict = f"{endpoint} check failed" if failed else f"{endpoint} check passed"
    return (500 if failed else 200), ("\n".join([*lines, verdict]) + "\n").encode(), TEXT
