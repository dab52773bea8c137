# SPDX-License-Identifier: GPL-3.0-or-later
"""A minimal Open Inference Protocol (v2, REST) client on the standard library's http.client.

Speaks only what every v2 server (MLServer, Triton, KServe) serves: `GET /v2/health/ready`,
`GET /v2/models/{m}/ready`, `POST /v2/models/{m}/infer`. One kept-alive connection; every attempt has a short
timeout; a failed attempt is retried once on a NEW connection (the load balancer may send it to another replica)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

DEFAULT_TIMEOUT = 0.3  # seconds per attempt


class OffloadError(Exception):
    """The server did not give a usable answer (refused, timed out, HTTP error, malformed body)."""


@dataclass
class InferResult:
    outputs: list  # the response's "outputs" as sent
    model_version: str | None
    uplink_bytes: int  # request line, headers and body as sent, per successful attempt
    downlink_bytes: int  # response body
    attempts: int

    @property
    def label(self) -> int:
        data = self.outputs[0]["data"]
        return int(data[0][0] if isinstance(data[0], list) else data[0])


def tls_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A verifying client context: the server checked against `ca_file` (the system's CAs when None) and, when
    `cert_file` is given, this device's certificate (and `key_file`; None = the key is in `cert_file`) presented to
    servers that require one (mutual TLS at the ingress)."""
    if key_file and not cert_file:
        raise ValueError("a client key was given without its certificate: give --cert-file too")
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:  # names the files, never their content
            raise ValueError(
                f"cannot use the client certificate {cert_file} with key {key_file or cert_file}: {exc}"
            ) from None
    return context


class V2Client:
    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: str | None = None,
        retries: int = 1,
        cert_file: str | None = None,
        key_file: str | None = None,
    ):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"the server URL must be http://host[:port] or https://host[:port], got {url!r}")
        if timeout <= 0:
            raise ValueError(f"the timeout must be > 0 s, got {timeout}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.context = None
        if self.scheme == "https":
            self.context = tls_context(ca_file, cert_file, key_file)
        elif cert_file or key_file:
            raise ValueError(f"a client certificate needs an https:// server URL, got {url!r}")
        self._conn: http.client.HTTPConnection | None = None
        self.host_header = self.host if self.port in (80, 443) else f"{self.host}:{self.port}"

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self.context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _once(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes, int]:
        conn = self._connect()
        headers = [("Host", self.host_header)]
        if body is not None:
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        conn.putrequest(method, self.prefix + path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body)
        sent = len(f"{method} {self.prefix + path} HTTP/1.1\r\n") + 2
        sent += sum(len(f"{name}: {value}\r\n") for name, value in headers) + len(body or b"")
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        return response.status, data, sent

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, int, int]:
        """(status, body, bytes sent, attempts); each attempt within the timeout, retried on a new connection."""
        error: Exception | None = None
        for attempt in range(1, self.retries + 2):
            try:
                status, data, sent = self._once(method, path, body)
                if status >= 500:
                    raise OffloadError(f"{method} {path}: HTTP {status}")
                return status, data, sent, attempt
            except (OSError, http.client.HTTPException, OffloadError, socket.timeout) as exc:
                error = exc
                self.close()  # the retry goes on a new connection
        raise OffloadError(f"{method} {self.prefix + path} on {self.host}:{self.port} failed: {error}") from error

    def ready(self) -> bool:
        try:
            return self.request("GET", "/v2/health/ready")[0] == 200
        except OffloadError:
            return False

    def model_ready(self, model: str) -> bool:
        try:
            return self.request("GET", f"/v2/models/{urllib.parse.quote(model)}/ready")[0] == 200
        except OffloadError:
            return False

    def infer(self, model: str, inputs: list[float], version: str | None = None) -> InferResult:
        """One input row as FP32 [1, n]; returns the server's outputs."""
        payload = {"inputs": [{"name": "input-0", "shape": [1, len(inputs)], "datatype": "FP32", "data": inputs}]}
        body = json.dumps(payload, separators=(",", ":")).encode()
        path = f"/v2/models/{urllib.parse.quote(model)}"
        if version:
            path += f"/versions/{urllib.parse.quote(version)}"
        status, data, sent, attempts = self.request("POST", path + "/infer", body)
        if status != 200:
            raise OffloadError(f"infer on {model}: HTTP {status}: {data[:200]!r}")
        try:
            answer = json.loads(data)
            outputs = answer["outputs"]
            InferResult(outputs, None, 0, 0, 0).label  # noqa: B018 - validates the shape
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise OffloadError(f"infer on {model}: malformed answer {data[:200]!r}") from exc
        return InferResult(outputs, answer.get("model_version"), sent, len(data), attempts)


def wait_ready(client: V2Client, model: str, timeout: float) -> bool:
    """Poll until the server and the model are ready, or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.ready() and client.model_ready(model):
            return True
        time.sleep(0.5)
    return False
