# SPDX-License-Identifier: GPL-3.0-or-later
"""The attributes an authorizer judges, derived from a request as k8s.io/apiserver's RequestInfoFactory does, and
the texts of a denial (endpoints/handlers/responsewriters `forbiddenMessage`, apimachinery `NewForbidden`).

    attributes = requestinfo.parse("GET", "/api/v1/namespaces/team-a/pods", "", user)
    attributes.verb, attributes.resource, attributes.namespace   # "list", "pods", "team-a"
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from ..api import handlers
from . import User

SPECIAL_VERBS = ("proxy", "watch")
NAMESPACE_SUBRESOURCES = ("status", "finalize")
METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    """authorizer.AttributesRecord."""

    user: User
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def parse(method: str, path: str, query: str, user: User) -> Attributes:
    """RequestInfoFactory.NewRequestInfo: a non-resource request (verb = the lowercase method) unless the path is
    /api/VERSION/... or /apis/GROUP/VERSION/...; GET without a name is list or watch (a `metadata.name=` field
    selector names the object), DELETE without a name is deletecollection."""
    parts = [part for part in path.strip("/").split("/") if part]
    plain = Attributes(user, method.lower(), False, path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return plain
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in SPECIAL_VERBS and len(rest) > 1:
        verb, rest = rest[0], rest[1:]
    else:
        verb = METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 and verb != "proxy" else ""
    params = dict(urllib.parse.parse_qsl(query))
    if not name and verb == "get":
        verb = "watch" if params.get("watch") in ("1", "true", "True") else "list"
        terms = [term.strip() for term in params.get("fieldSelector", "").split(",")]
        named = [term.split("=", 1)[1].lstrip("=") for term in terms if term.startswith("metadata.name=")]
        if named and named[0] and "/" not in named[0] and named[0] not in (".", ".."):
            name = named[0]
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, path, group, version, namespace, resource, subresource, name)


def forbidden_message(attributes: Attributes) -> str:
    """responsewriters.forbiddenMessage."""
    who = attributes.user.name
    if not attributes.resource_request:
        return f'User "{who}" cannot {attributes.verb} path "{attributes.path}"'
    resource = attributes.resource + (f"/{attributes.subresource}" if attributes.subresource else "")
    text = f'User "{who}" cannot {attributes.verb} resource "{resource}" in API group "{attributes.api_group}"'
    if attributes.namespace:
        return f'{text} in the namespace "{attributes.namespace}"'
    return f"{text} at the cluster scope"


def forbidden_status(attributes: Attributes, reason: str) -> dict:
    """The 403 Status body: apierrors.NewForbidden(GroupResource, name, message[: reason])."""
    text = forbidden_message(attributes) + (f": {reason}" if reason else "")
    group, resource, name = attributes.api_group, attributes.resource, attributes.name
    qualified = f"{resource}.{group}" if group else resource
    if not qualified:
        message = f"forbidden: {text}"
    elif not name:
        message = f"{qualified} is forbidden: {text}"
    else:
        message = f'{qualified} "{name}" is forbidden: {text}'
    details = {key: value for key, value in (("name", name), ("group", group), ("kind", resource)) if value}
    body = handlers.Failure(403, "Forbidden", message).status()
    body["details"] = details  # always, empty for a path: apierrors.NewForbidden's
    return body
