# SPDX-License-Identifier: GPL-3.0-or-later
"""Container probes (startup, liveness, readiness) as the kubelet runs them: httpGet (2xx/3xx succeeds), tcpSocket
(connects) or exec (exit 0, inside the container's namespaces and root), after initialDelaySeconds, every
periodSeconds, with timeoutSeconds; the result flips after successThreshold / failureThreshold results in a row."""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Callable

# (argv, timeout) -> exit code, for exec probes (run in the container, with its environment, by the runtime)
Exec = Callable[[list[str], float], int]


def port_number(port: int | str, container: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    return next(p["containerPort"] for p in container.get("ports") or [] if p.get("name") == port)


def http_get(action: dict, pod_ip: str, container: dict, timeout: float) -> bool:
    host = action.get("host") or pod_ip
    port = port_number(action["port"], container)
    if action.get("scheme", "HTTP").upper() == "HTTPS":
        context = ssl._create_unverified_context()  # the kubelet does not verify probe certificates
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.20")
    try:
        connection.request("GET", action.get("path") or "/", headers=headers)
        return 200 <= connection.getresponse().status < 400
    finally:
        connection.close()


def tcp_socket(action: dict, pod_ip: str, container: dict, timeout: float) -> bool:
    with socket.create_connection((action.get("host") or pod_ip, port_number(action["port"], container)), timeout):
        return True


def check(probe: dict, pod_ip: str, container: dict, run_exec: Exec) -> bool:
    """One probe; any error (refused, timeout, bad status, missing port name) is a failure."""
    timeout = probe.get("timeoutSeconds", 1)
    try:
        if probe.get("httpGet"):
            return http_get(probe["httpGet"], pod_ip, container, timeout)
        if probe.get("tcpSocket"):
            return tcp_socket(probe["tcpSocket"], pod_ip, container, timeout)
        if probe.get("exec"):
            return run_exec(probe["exec"]["command"], timeout) == 0
    except (OSError, StopIteration, http.client.HTTPException):
        return False
    return False


@dataclass
class Prober:
    """One probe of one running container; `result` starts as the kind's initial value."""

    probe: dict
    started: float  # monotonic time the container started
    result: bool
    successes: int = 0
    failures: int = 0
    next_due: float = 0.0

    def due(self, now: float) -> bool:
        return now >= max(self.next_due, self.started + self.probe.get("initialDelaySeconds", 0))

    def record(self, ok: bool, now: float) -> bool:
        """Count a result; returns the (possibly flipped) probe result."""
        self.next_due = now + self.probe.get("periodSeconds", 10)
        self.successes, self.failures = (self.successes + 1, 0) if ok else (0, self.failures + 1)
        if ok and self.successes >= self.probe.get("successThreshold", 1):
            self.result = True
        elif not ok and self.failures >= self.probe.get("failureThreshold", 3):
            self.result = False
        return self.result
