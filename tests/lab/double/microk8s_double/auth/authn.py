# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication, as kube-apiserver's union of authenticators configured by `args/kube-apiserver`:

- x509 client certificates against `--client-ca-file` (CN = user, O = groups; auth/x509.py);
- static tokens of `--token-auth-file` (MicroK8s up to 1.27: `credentials/known_tokens.csv`, lines
  `token,user,uid,"group1,group2"`, re-read when the file changes);
- ServiceAccount tokens checked with `--service-account-key-file` (auth/tokens.py), dead once their
  ServiceAccount is gone or replaced;
- anonymous (`system:anonymous`, group `system:unauthenticated`) for a request without any credential, when
  `--anonymous-auth` is not false and the authorization mode is not AlwaysAllow (kube-apiserver turns anonymous
  auth off with AlwaysAllow: "AnonymousAuth is not allowed with the AlwaysAllow authorizer").

A credential that is presented but invalid gets 401 (never anonymous). Every authenticated user gets the group
`system:authenticated`. The flags are read again when the args file changes (real: at start; the suite restarts
kubelite after editing them anyway).
"""

from __future__ import annotations

import csv
import hmac
import time
from pathlib import Path

from .. import default_args, kubeargs, wire
from ..node import Node
from . import User, tokens, x509

AUTHENTICATED = "system:authenticated"
_FLAGS: dict[tuple[str, float], dict[str, str]] = {}


def flags(node: Node) -> dict[str, str]:
    """kube-apiserver's flags from the node's args file (cached per file version); without the file (unit tests'
    bare nodes) the profile's shipped default args."""
    path = node.paths.args("kube-apiserver")
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return shipped(node)
    if key not in _FLAGS:
        if len(_FLAGS) > 64:
            _FLAGS.clear()
        _FLAGS[key] = kubeargs.component(node, "kube-apiserver")
    return _FLAGS[key]


def shipped(node: Node) -> dict[str, str]:
    env = {"SNAP": str(node.paths.snap), "SNAP_DATA": str(node.paths.snap_data),
           "SNAP_COMMON": str(node.paths.snap_common)}  # fmt: skip
    text = default_args.files(node.profile)["kube-apiserver"]
    words = []
    for line in text.splitlines():
        line = line.strip().replace('"', "").replace("'", "")
        if line and not line.startswith("#"):
            words += [kubeargs.expand(part, env) for part in line.split(" ")]
    return kubeargs.flags(words)


def files(value: str) -> list[Path]:
    return [Path(part) for part in value.split(",") if part]


def anonymous_allowed(node: Node) -> bool:
    found = flags(node)
    modes = found.get("authorization-mode", "AlwaysAllow").split(",")
    return found.get("anonymous-auth", "true") != "false" and "AlwaysAllow" not in modes


def with_authenticated(name: str, groups, uid: str = "", extra: dict | None = None) -> User:
    groups = tuple(dict.fromkeys([*groups, AUTHENTICATED]))
    return User(name, groups, uid, extra or {})


def authenticate(node: Node, request: wire.Request) -> User | None:
    """The user behind the request, or None (401)."""
    found = flags(node)
    der = x509.peer_certificate(request)
    if der and found.get("client-ca-file"):
        result = x509.authenticate(der, Path(found["client-ca-file"]))
        if isinstance(result, tuple):
            return with_authenticated(result[0], result[1])
    header = request.headers.get("Authorization", "")
    scheme, _space, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return bearer(node, request, token.strip(), found)
    if der or header:
        return None
    if anonymous_allowed(node):
        return User("system:anonymous", ("system:unauthenticated",))
    return None


def bearer(node: Node, request, token: str, found: dict[str, str], wanted: list[str] | None = None) -> User | None:
    """The token's user (static token file, then ServiceAccount tokens for the audiences `wanted`, default the API
    server's own); `request` only needs a `store` to look ServiceAccounts up."""
    if found.get("token-auth-file"):
        user = static_token(Path(found["token-auth-file"]), token)
        if user:
            return user
    keys = files(found.get("service-account-key-file", ""))
    if keys and token.count(".") == 2:
        return service_account(request, token, keys, found, wanted)
    return None


_TOKENS: dict[tuple[str, float], list[list[str]]] = {}


def static_token(path: Path, token: str) -> User | None:
    """--token-auth-file: CSV `token,user,uid[,"groups"]`."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return None
    if key not in _TOKENS:
        if len(_TOKENS) > 64:
            _TOKENS.clear()
        _TOKENS[key] = [row for row in csv.reader(path.read_text().splitlines()) if len(row) >= 3]
    for row in _TOKENS[key]:
        if hmac.compare_digest(row[0].encode(), token.encode()):
            groups = [g for g in (row[3].split(",") if len(row) > 3 else []) if g]
            return with_authenticated(row[1], groups, row[2])
    return None


def audiences(found: dict[str, str]) -> list[str]:
    """--api-audiences, default the issuers."""
    given = found.get("api-audiences") or found.get("service-account-issuer", "")
    return [a for a in given.split(",") if a]


def service_account(request, token: str, keys: list[Path], found: dict[str, str], wanted=None) -> User | None:
    claims = tokens.verify(token, keys)
    if claims is None:
        return None
    issuers = [i for i in found.get("service-account-issuer", "").split(",") if i]
    now = time.time()
    aud = claims.get("aud")
    aud = [aud] if isinstance(aud, str) else aud or []
    if issuers and claims.get("iss") not in issuers:
        return None
    if not set(aud) & set(wanted or audiences(found)):
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] < now or int(claims.get("nbf", 0)) > now:
        return None
    bound = claims.get("kubernetes.io") or {}
    namespace, account = bound.get("namespace", ""), (bound.get("serviceaccount") or {})
    if not namespace or not account.get("name"):
        return None
    store = getattr(request, "store", None)
    if store is None:
        return None
    current = store.execute([{"op": "get", "key": f"/registry/serviceaccounts/{namespace}/{account['name']}"}])[0]
    meta = (current or {}).get("metadata", {})
    if not current or meta.get("uid") != account.get("uid") or meta.get("deletionTimestamp"):
        return None  # "service account token has been invalidated"
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
    extra = {"authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]} if claims.get("jti") else {}
    return with_authenticated(f"system:serviceaccount:{namespace}:{account['name']}", groups, meta["uid"], extra)
