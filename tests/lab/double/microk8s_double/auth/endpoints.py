# SPDX-License-Identifier: GPL-3.0-or-later
"""The authentication side's own API endpoints, before the generic handlers:

- `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`: TokenRequest (auth/tokens.py), `expirationSeconds`
  defaulted to 3600, at least 600 (422 `may not specify a duration less than 10 minutes`), capped by
  `--service-account-max-token-expiration`;
- `POST /apis/authentication.k8s.io/v1/tokenreviews`: TokenReview (static and ServiceAccount tokens);
- `POST /apis/authentication.k8s.io/{v1,v1beta1}/selfsubjectreviews` (`kubectl auth whoami`): v1beta1 1.27-1.29,
  v1 from 1.28; other verbs 405;
- `POST /apis/certificates.k8s.io/v1/certificatesigningrequests`: the requester's identity into spec.username,
  uid, groups, extra, status dropped, CertificateSubjectRestriction (403), then the generic create (validation in
  api/validate.py through auth/csr.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import kubeargs
from ..api import handlers, resources
from . import authn, csr, tokens


def route(server, method: str, path: str):
    """A handler for the paths served here, None for the others."""
    target = handlers.parse(path)
    if target is None:
        return None
    resource, minor = target.resource, server.node.profile.minor
    if resource.name == "serviceaccounts" and target.subresource == "token":
        if method != "POST":
            return lambda request: not_allowed()
        return lambda request: guarded(lambda: token_request(server, target, request))
    if resource.name == "selfsubjectreviews":
        if not resource.served(minor):
            return lambda request: (404, {"error": "404 page not found"})
        if method != "POST" or target.name:
            return lambda request: not_allowed()
        return lambda request: (201, self_subject_review(resource, request.user))
    if resource.name == "tokenreviews":
        if method != "POST" or target.name:
            return lambda request: not_allowed()
        return lambda request: guarded(lambda: token_review(server, request))
    if resource.name == "certificatesigningrequests" and method == "POST" and target.name is None:
        return lambda request: guarded(lambda: create_csr(server, target, request))
    return None


def not_allowed():
    return handlers.Failure(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                            "resource").status_answer()  # fmt: skip


def guarded(answer):
    try:
        return answer()
    except handlers.Failure as failure:
        return failure.status_answer()


def user_info(user) -> dict:
    info = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    info["groups"] = list(user.groups)
    if user.extra:
        info["extra"] = user.extra
    return info


def self_subject_review(resource: resources.Resource, user) -> dict:
    return {"kind": "SelfSubjectReview", "apiVersion": resource.group_version, "metadata": {"creationTimestamp": None},
            "status": {"userInfo": user_info(user)}}  # fmt: skip


def token_review(server, request) -> tuple[int, dict]:
    """TokenReview: who a bearer token is, for the audiences asked (default the API server's)."""
    body = handlers.decode(request.body)
    spec = dict((body.get("spec") if isinstance(body, dict) else None) or {})
    found = authn.flags(server.node)
    wanted = spec.get("audiences") or authn.audiences(found)
    user = (
        authn.bearer(server.node, request, str(spec.get("token") or ""), found, wanted) if spec.get("token") else None
    )
    status: dict = {"user": {}}
    if user:
        status = {"authenticated": True, "user": user_info(user), "audiences": wanted}
    else:
        status["error"] = "[invalid bearer token, token lookup failed]" if spec.get("token") else "token is empty"
    answer = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": None},
              "spec": spec, "status": status}  # fmt: skip
    return 201, answer


def token_request(server, target: handlers.Target, request) -> tuple[int, dict]:
    body = handlers.decode(request.body)
    spec = dict((body.get("spec") if isinstance(body, dict) else None) or {})
    meta = (body.get("metadata") if isinstance(body, dict) else None) or {}
    account = server.handlers.get(handlers.Target(target.resource, target.namespace, target.name, None))
    found = authn.flags(server.node)
    seconds = int(spec.get("expirationSeconds") or tokens.DEFAULT_EXPIRATION)
    problems = []
    if seconds < tokens.MIN_EXPIRATION:
        problems.append(f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 "
                        "minutes")  # fmt: skip
    if seconds > tokens.MAX_EXPIRATION:
        problems.append(f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration larger than "
                        "2^32 seconds")  # fmt: skip
    if problems:
        text = ", ".join(problems)
        message = f'TokenRequest.authentication.k8s.io "{meta.get("name", "")}" is invalid: ' + (
            f"[{text}]" if len(problems) > 1 else text
        )
        raise handlers.Failure(422, "Invalid", message, {"group": "authentication.k8s.io", "kind": "TokenRequest"})
    longest = found.get("service-account-max-token-expiration")
    if longest and kubeargs.duration(longest) > 0:
        seconds = min(seconds, int(kubeargs.duration(longest)))
    issuer = found.get("service-account-issuer", "").split(",")[0]
    audiences = spec.get("audiences") or authn.audiences(found)
    key = Path(found.get("service-account-signing-key-file") or server.node.paths.cert("serviceaccount.key"))
    now = time.time()
    claims = tokens.claims_for(account, audiences, issuer, seconds, server.node.profile.minor, now)
    token = tokens.sign(key, claims)
    answer = {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": meta.get("name", target.name), "namespace": target.namespace, "creationTimestamp": None},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": spec.get("boundObjectRef")},
        "status": {"token": token, "expirationTimestamp": tokens.stamp(claims["exp"])},
    }
    return 201, answer


def create_csr(server, target: handlers.Target, request) -> tuple:
    body = handlers.decode(request.body)
    if not isinstance(body, dict):
        raise handlers.Failure(400, "BadRequest", "the body of the request could not be decoded")
    spec = dict(body.get("spec") or {})
    user = request.user
    spec.update(username=user.name, groups=list(user.groups))
    spec.pop("uid", None)
    spec.pop("extra", None)
    if user.uid:
        spec["uid"] = user.uid
    if user.extra:
        spec["extra"] = user.extra
    body = dict(body, spec=spec, status={})
    refused = csr.forbidden_subject(body)
    if refused:
        name = (body.get("metadata") or {}).get("name", "")
        message = f'certificatesigningrequests.certificates.k8s.io "{name}" is forbidden: {refused}'
        raise handlers.Failure(403, "Forbidden", message, handlers.details(target.resource, name))
    encoded = json.dumps(body).encode()
    return server.handlers.handle("POST", target, request.query, request.headers, encoded)
