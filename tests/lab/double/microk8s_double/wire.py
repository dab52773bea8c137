# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON over HTTP(S) between the daemons: a small client and a threaded server with one handler per route.

The daemons' own frequent calls (kubelite's to its datastore and API server, the datastore's probes, pushes and
forwards) keep their connections open (`call(..., keep=True)`, HTTP/1.1 keep-alive, as client-go's and Go's net/http
do): each reuses an idle connection to the same peer with the same TLS context, so a call costs neither a TCP
connection and a server thread nor a TLS handshake. The server closes a connection idle for IDLE_TIMEOUT; a client
reuses one idle for less than REUSE_WITHIN and only if the peer has not closed it (e.g. a restarted daemon), else it
connects anew.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# A route answers (status, body) or (status, body, [(header, value)]): dict bodies are sent as JSON, bytes
# verbatim, an iterator as a chunked stream.
Route = Callable[["Request"], tuple[int, object]]
IDLE_TIMEOUT = 90.0  # s: the server closes a connection idle this long (kube-apiserver's IdleTimeout)
REUSE_WITHIN = 60.0  # s: a client reuses a connection idle for less, well before the server closes it


class RemoteError(Exception):
    """A peer answered with an error status; `status`, the peer's `message` and the raw `body`."""

    def __init__(self, status: int, message: str, body: bytes = b""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes):
        self.handler = handler
        self.body = body
        self.path, _mark, self.query = handler.path.partition("?")
        self.client_ip = handler.client_address[0]
        self.local_ip = handler.connection.getsockname()[0]

    @property
    def headers(self):
        return self.handler.headers

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


def serve(
    address: tuple[str, int],
    routes: Callable[[str, str], Route | None],
    tls: Callable[[], ssl.SSLContext] | None = None,
) -> ThreadingHTTPServer:
    """Serve in a daemon thread; `routes(method, path)` picks the handler; `tls()` gives the current context."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK hold the body back
        # for ~40 ms on every request (measured: ~50 ms -> ~9 ms per API call).
        disable_nagle_algorithm = True
        timeout = IDLE_TIMEOUT  # between requests (and for the TLS handshake): then the connection is closed

        def log_message(self, *args):  # the daemons log their own events
            pass

        def _dispatch(self, method: str) -> None:
            request = Request(self, read_body(self.rfile, self.headers))
            route = routes(method, request.path)
            status, body, *extra = route(request) if route else (404, {"error": "404 page not found"})
            headers = extra[0] if extra else []
            kind = next((value for name, value in headers if name.lower() == "content-type"), "application/json")
            self.reply(status, body, kind, [(n, v) for n, v in headers if n.lower() != "content-type"])

        def reply(self, status: int, body: object, content_type: str = "application/json", headers=None) -> None:
            if isinstance(body, Iterator):
                self.stream(status, body, content_type)
                return
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers or []:
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def stream(self, status: int, items: Iterator, content_type: str) -> None:
            """Chunked, one JSON document per line as produced (a watch), until the producer or the peer stops."""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for item in items:
                line = json.dumps(item).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PUT(self):
            self._dispatch("PUT")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def do_PATCH(self):
            self._dispatch("PATCH")

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request, client_address):  # one line, not a traceback, per broken connection
            print(f"request from {client_address[0]} failed: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)

        def get_request(self):
            sock, peer = super().get_request()
            wrapped = tls().wrap_socket(sock, server_side=True, do_handshake_on_connect=False) if tls else sock
            return wrapped, peer

    server = Server(address, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def read_body(stream, headers) -> bytes:
    """The request body: Content-Length bytes, or the chunks of `Transfer-Encoding: chunked` (trailers skipped)."""
    if "chunked" not in headers.get("Transfer-Encoding", "").lower():
        length = int(headers.get("Content-Length") or 0)
        return stream.read(length) if length else b""
    chunks = []
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline().strip():
                continue  # trailer fields up to the empty line
            return b"".join(chunks)
        chunks.append(stream.read(size))
        stream.readline()  # the CRLF after each chunk


def call(
    host: str,
    port: int,
    method: str,
    path: str,
    body: object = None,
    timeout: float = 5.0,
    context: ssl.SSLContext | None = None,
    source_ip: str | None = None,
    headers: dict | None = None,
    connect_timeout: float | None = None,
    keep: bool = False,
) -> object:
    """One request; returns the decoded JSON body (or bytes); raises RemoteError on status >= 300, OSError on I/O.
    `keep`: go over a kept connection to the peer when there is one and keep this one for the next call (for a
    context that is reused, e.g. certs.cached_context's). Without it a call connects anew, so a dead peer costs what
    a connection attempt costs (a powered-off one: `timeout`; an unreachable one: the kernel's EHOSTUNREACH), not
    the wait for an answer on an open connection. `connect_timeout`: a shorter limit for the peer's TCP to answer
    (a connection attempt's SYN, and on a kept connection the acknowledgement of each request: TCP_USER_TIMEOUT),
    so a peer that died without closing its connections costs it on both; `timeout` for the rest."""
    key = (host, port, context, source_ip)
    connection = kept(key, timeout) if keep else None
    if connection is None:
        source = (source_ip, 0) if source_ip else None
        tls = {"context": context} if context else {}
        kind = http.client.HTTPSConnection if context else http.client.HTTPConnection
        connection = kind(host, port, timeout=timeout, source_address=source, **tls)
        if connect_timeout is not None:
            connect(connection, timeout, connect_timeout)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    try:
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
    except BaseException:
        connection.close()
        raise
    if keep and not response.will_close:
        keep_open(key, connection)
    else:
        connection.close()
    decoded = json.loads(payload) if response.getheader("Content-Type", "").startswith("application/json") else payload
    if response.status >= 300:
        if isinstance(decoded, dict):
            message = decoded.get("error") or decoded.get("message", "")
        else:  # text, never a bytes literal (`b''`)
            message = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(decoded)
        raise RemoteError(response.status, message, payload)
    return decoded


def connect(connection: http.client.HTTPConnection, timeout: float, connect_timeout: float) -> None:
    """Connect within `connect_timeout`, which then also limits how long the peer's TCP may leave a request
    unacknowledged (TCP_USER_TIMEOUT); `timeout` for the answers."""
    connection.timeout = connect_timeout
    try:
        connection.connect()
        connection.sock.settimeout(timeout)
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(connect_timeout * 1000))
    except BaseException:
        connection.close()
        raise


# Idle kept connections: (host, port, TLS context, source address) -> [(idle since, connection)], newest last.
_IDLE: dict[tuple, list[tuple[float, http.client.HTTPConnection]]] = {}
_IDLE_LOCK = threading.Lock()


def kept(key: tuple, timeout: float) -> http.client.HTTPConnection | None:
    """An idle connection of `key` to reuse, with `timeout` for its calls; None when there is none still open."""
    with _IDLE_LOCK:
        idle = _IDLE.get(key, [])
        while idle:
            since, connection = idle.pop()
            if time.monotonic() - since < REUSE_WITHIN and not closed_by_peer(connection.sock):
                connection.sock.settimeout(timeout)
                return connection
            connection.close()
    return None


def closed_by_peer(sock) -> bool:
    """An idle connection has nothing to read: readable (or hung up) means the peer closed it, e.g. a daemon that
    restarted or died (its kernel closes its connections)."""
    poller = select.poll()  # not select.select: it fails for file descriptors above 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def keep_open(key: tuple, connection: http.client.HTTPConnection) -> None:
    """Keep a connection for the next call to the same peer; close those no call reused in time."""
    now = time.monotonic()
    with _IDLE_LOCK:
        for other in list(_IDLE):
            idle = _IDLE[other]
            while idle and now - idle[0][0] >= REUSE_WITHIN:
                idle.pop(0)[1].close()
            if not idle:
                del _IDLE[other]
        _IDLE.setdefault(key, []).append((now, connection))
