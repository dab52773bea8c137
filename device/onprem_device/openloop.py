# SPDX-License-Identifier: GPL-3.0-or-later
"""An open-loop load generator for a v2 inference service: a fixed request rate from one asyncio event loop.

Request i is due at start + i / rate whether or not earlier ones were answered (a slow server does not slow the
generator down, as a closed loop of threads would), and its latency is counted FROM WHEN IT WAS DUE, not from when
it was sent: a request the generator could only send late (no free connection, a busy client) counts its wait too,
so the figures do not hide stalls (no "coordinated omission", as wrk2 measures). The service time (sent to answered)
is kept apart. Requests go over kept-alive HTTP/1.1 connections; a new one is opened when all are busy, up to
`connections`. Standard library only: it runs on a device or a lab client without installing anything."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def infer_request(host_header: str, path: str, row) -> bytes:
    """The bytes of one v2 infer request (FP32 [1, n], as onprem_device.client sends it)."""
    payload = {"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP32", "data": list(row)}]}
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) of one HTTP/1.1 response with a Content-Length body (what v2 servers send)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ValueError("response without Content-Length")
    await reader.readexactly(int(headers["content-length"]))
    return status, headers.get("connection", "").lower() != "close"


async def _run(url: str, model: str, rows: list, per_second: float, seconds: float, connections: int, timeout: float):
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise ValueError(f"the open-loop generator speaks plain http://host:port, got {url!r}")
    host, port = parsed.hostname, parsed.port or 80
    host_header = host if port == 80 else f"{host}:{port}"
    path = f"{parsed.path.rstrip('/')}/v2/models/{urllib.parse.quote(model)}/infer"
    requests = [infer_request(host_header, path, row) for row in rows]
    loop = asyncio.get_running_loop()
    idle: list = []
    opened = [0]
    slot = asyncio.Semaphore(connections)
    results: list[dict] = []

    async def attempt(index: int, conn) -> tuple:
        """(connection, sent, status, keep-alive) of one request on `conn`, or a new connection when None."""
        if conn is None:
            conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            opened[0] += 1
        reader, writer = conn
        sent = loop.time()
        try:
            writer.write(requests[index % len(requests)])
            status, keep = await asyncio.wait_for(_read_response(reader), timeout)
        except BaseException:
            writer.close()
            raise
        return conn, sent, status, keep

    async def one(index: int, due: float) -> None:
        async with slot:  # at most `connections` requests in flight; the wait counts in the latency
            sent = None
            reused = idle.pop() if idle else None
            try:
                try:
                    conn, sent, status, keep = await attempt(index, reused)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    if reused is None or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                        raise
                    # a kept-alive connection the server closed meanwhile: once more on a new one, as clients do
                    conn, sent, status, keep = await attempt(index, None)
                done = loop.time()
                if keep:
                    idle.append(conn)
                else:
                    conn[1].close()
                ok, error = status == 200, None if status == 200 else f"HTTP {status}"
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                done = loop.time()
                ok, error = False, f"{type(exc).__name__}: {exc}"
            results.append(
                {
                    "due_s": due - begin,
                    "latency_ms": (done - due) * 1000,
                    "service_ms": (done - sent) * 1000 if sent is not None else None,
                    "send_lag_ms": (sent - due) * 1000 if sent is not None else None,
                    "ok": ok,
                    "error": error,
                }
            )

    total = int(per_second * seconds)
    tasks = []
    begin = loop.time() + 0.2
    wall_begin = time.time() + 0.2
    for index in range(total):
        due = begin + index / per_second
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    for _reader, writer in idle:
        writer.close()
    return results, opened[0], wall_begin


def run(
    url: str,
    model: str,
    rows: list,
    per_second: float,
    seconds: float,
    connections: int = 64,
    timeout: float = 2.0,
) -> dict:
    """Open loop at `per_second` for `seconds`; latency from each request's due time. Returns a summary and
    the started/ended wall-clock times (to read the server's own metrics over the same span)."""
    if per_second <= 0 or seconds <= 0 or connections < 1 or timeout <= 0:
        raise ValueError("rate, seconds, connections and timeout must be positive")
    if not rows:
        raise ValueError("no input rows to send")
    results, opened, started = asyncio.run(_run(url, model, rows, per_second, seconds, connections, timeout))
    ok = [r for r in results if r["ok"]]
    latencies = [r["latency_ms"] for r in ok]
    service = [r["service_ms"] for r in ok]
    lags = [r["send_lag_ms"] for r in results if r["send_lag_ms"] is not None]
    last_due = max((r["due_s"] for r in results), default=0.0)
    return {
        "generator": "asyncio open loop, latency from the scheduled time",
        "rate": per_second,
        "seconds": seconds,
        "requests": len(results),
        "ok": len(ok),
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "p99_ms": _percentile(latencies, 99),
        "service_p95_ms": _percentile(service, 95),
        "send_lag_p95_ms": _percentile(lags, 95),
        "achieved_rate": len(results) / last_due if last_due else 0.0,
        "connections_opened": opened,
        "started": started,
        "ended": time.time(),
    }
