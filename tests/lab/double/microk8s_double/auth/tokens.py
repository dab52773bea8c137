# SPDX-License-Identifier: GPL-3.0-or-later
"""ServiceAccount tokens: TokenRequest (`POST .../serviceaccounts/NAME/token`, authentication.k8s.io/v1) mints an
RS256 JWT signed with `--service-account-signing-key-file` (MicroK8s: `certs/serviceaccount.key`, made by the install
hook and shared by join); the authenticator checks it with `--service-account-key-file`: signature, issuer
(`--service-account-issuer`), audience (`--api-audiences`, default the issuer), expiry, and that the bound
ServiceAccount still exists with the same uid (a deleted one's tokens get 401 at once).

Claims as kube-apiserver writes them: aud, exp, iat, iss, (1.30+) jti, kubernetes.io {namespace, serviceaccount
{name, uid}}, nbf, sub = system:serviceaccount:NS:NAME; header {alg: RS256, kid: base64url(sha256(SPKI DER))}.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import subprocess
import threading
import uuid
from pathlib import Path

from .. import nodes

DEFAULT_EXPIRATION = 3600  # SetDefaults_TokenRequestSpec
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")  # PKCS#1 v1.5 SHA-256 prefix

_KEYS: dict[tuple[str, float], tuple[int, int, str]] = {}
_LOCK = threading.Lock()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(key_file: Path) -> tuple[int, int, str]:
    """(modulus, exponent, kid) of an RSA key file (private or public PEM), cached per file version."""
    cache_key = (str(key_file), key_file.stat().st_mtime)
    with _LOCK:
        found = _KEYS.get(cache_key)
    if found:
        return found
    text = key_file.read_text()
    public = ["-pubin"] if "PUBLIC KEY" in text and "PRIVATE" not in text else []
    der = subprocess.run(["openssl", "pkey", *public, "-in", str(key_file), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout  # fmt: skip
    listing = subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-noout", "-text"], input=der,
                             capture_output=True, check=True).stdout.decode()  # fmt: skip
    modulus_lines, exponent, reading = [], 65537, False
    for line in listing.splitlines():
        if line.startswith("Modulus:"):
            reading = True
            continue
        if line.startswith("Exponent:"):
            reading = False
            exponent = int(line.split()[1])
        elif reading:
            modulus_lines.append(line.strip())
    modulus = int("".join(modulus_lines).replace(":", ""), 16)
    found = (modulus, exponent, b64url(hashlib.sha256(der).digest()))
    with _LOCK:
        _KEYS[cache_key] = found
    return found


def sign(key_file: Path, claims: dict) -> str:
    """A compact RS256 JWS of the claims."""
    kid = public_key(key_file)[2]
    header = b64url(json.dumps({"alg": "RS256", "kid": kid}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_file)], input=signing_input,
                               capture_output=True, check=True).stdout  # fmt: skip
    return f"{header}.{payload}.{b64url(signature)}"


def verify(token: str, key_files: list[Path]) -> dict | None:
    """The claims of a token whose RS256 signature one of the keys checks, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(unb64url(parts[0]))
        claims = json.loads(unb64url(parts[1]))
        signature = int.from_bytes(unb64url(parts[2]), "big")
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        return None
    digest = hashlib.sha256(f"{parts[0]}.{parts[1]}".encode()).digest()
    for key_file in key_files:
        try:
            modulus, exponent, _kid = public_key(key_file)
        except (OSError, subprocess.CalledProcessError, ValueError):
            continue
        size = (modulus.bit_length() + 7) // 8
        expected = b"\x00\x01" + b"\xff" * (size - len(DIGEST_INFO) - len(digest) - 3) + b"\x00" + DIGEST_INFO + digest
        if signature < modulus and pow(signature, exponent, modulus).to_bytes(size, "big") == expected:
            return claims
    return None


def claims_for(account: dict, audiences: list[str], issuer: str, seconds: int, minor: int, now: float) -> dict:
    meta = account["metadata"]
    moment = int(now)
    claims = {
        "aud": audiences,
        "exp": moment + seconds,
        "iat": moment,
        "iss": issuer,
        "kubernetes.io": {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
        },
        "nbf": moment,
        "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
    }
    if minor >= 30:
        claims["jti"] = str(uuid.uuid4())
    return dict(sorted(claims.items()))


def stamp(seconds: float) -> str:
    return nodes.stamp(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))
