# SPDX-License-Identifier: GPL-3.0-or-later
"""x509 client certificates (`--client-ca-file`): the API server's TLS asks for an optional client certificate and
takes any (as Go's `tls.RequestClientCert`), the authenticator then checks it against the CA: a certificate from
another CA, expired or not yet valid, or not for client authentication gets 401, not a failed handshake.

Python's ssl has no verify callback, so the server context gets one through ctypes (libssl's SSL_CTX_set_verify
with a callback accepting every chain); where that is impossible the context falls back to CERT_OPTIONAL with the
CA (then a foreign certificate fails the handshake instead of getting 401).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import hashlib
import os
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

SSL_VERIFY_PEER = 0x01
_VERIFY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_ACCEPT = _VERIFY(lambda ok, store: 1)  # kept alive for the process's life


def _set_verify():
    """libssl's SSL_CTX_set_verify: through _ssl's own link, else the system's libssl (the same loaded copy)."""
    for library in (getattr(ssl._ssl, "__file__", None), ctypes.util.find_library("ssl")):
        try:
            function = ctypes.CDLL(library).SSL_CTX_set_verify if library else None
        except (OSError, AttributeError):
            continue
        if function is not None:
            function.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY]
            function.restype = None
            return function
    return None


_SET_VERIFY = _set_verify()


def request_client_certificates(context: ssl.SSLContext, ca_file: str) -> None:
    """Make a server context ask for a client certificate and accept any; the authenticator judges it."""
    if _SET_VERIFY is not None and type(context).__basicsize__ >= object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p):
        pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value  # PySSLContext.ctx
        if pointer:
            _SET_VERIFY(pointer, SSL_VERIFY_PEER, _ACCEPT)
            return
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(ca_file)


@dataclass(frozen=True)
class Checked:
    """What the CA check of one certificate found: an error, else the subject's CN and O values and validity."""

    error: str
    common_name: str = ""
    organizations: tuple[str, ...] = ()
    not_before: float = 0.0
    not_after: float = 0.0


_CACHE: dict[tuple[bytes, str, float], Checked] = {}
_LOCK = threading.Lock()


def peer_certificate(request) -> bytes | None:
    """The DER client certificate of the request's TLS connection, None without one (or without TLS)."""
    connection = getattr(request.handler, "connection", None)
    getter = getattr(connection, "getpeercert", None)
    try:
        return getter(binary_form=True) if getter else None
    except (ValueError, ssl.SSLError):
        return None


def check(der: bytes, ca_file: Path) -> Checked:
    """The chain check against the CA (signature and purpose, cached per certificate and CA file version)."""
    stat = ca_file.stat()
    key = (hashlib.sha256(der).digest(), str(ca_file), stat.st_mtime)
    with _LOCK:
        found = _CACHE.get(key)
    if found is None:
        found = _check(der, ca_file)
        with _LOCK:
            if len(_CACHE) > 512:
                _CACHE.clear()
            _CACHE[key] = found
    return found


def _check(der: bytes, ca_file: Path) -> Checked:
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(pem)
    try:
        done = subprocess.run(
            ["openssl", "verify", "-no_check_time", "-purpose", "sslclient", "-CAfile", str(ca_file), handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            reason = (done.stderr or done.stdout).strip().splitlines()
            return Checked(f"x509: {reason[-1] if reason else 'certificate signed by unknown authority'}")
        decoded = ssl._ssl._test_decode_cert(handle.name)
    finally:
        os.unlink(handle.name)
    names = [pair for rdn in decoded.get("subject", ()) for pair in rdn]
    common = next((value for name, value in names if name == "commonName"), "")
    organizations = tuple(value for name, value in names if name == "organizationName")
    return Checked(
        "",
        common,
        organizations,
        ssl.cert_time_to_seconds(decoded["notBefore"]),
        ssl.cert_time_to_seconds(decoded["notAfter"]),
    )


def authenticate(der: bytes, ca_file: Path, now: float | None = None) -> tuple[str, tuple[str, ...]] | str:
    """(user, groups) of a valid client certificate, else the error text (the real authenticator's)."""
    found = check(der, ca_file)
    if found.error:
        return found.error
    now = datetime.datetime.now(datetime.timezone.utc).timestamp() if now is None else now
    if not found.not_before <= now <= found.not_after:
        stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        after = datetime.datetime.fromtimestamp(found.not_after, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"x509: certificate has expired or is not yet valid: current time {stamp} is after {after}"
    if not found.common_name:
        return "x509: certificate has no common name"
    return found.common_name, found.organizations


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
