# SPDX-License-Identifier: GPL-3.0-or-later
"""authorization.k8s.io/v1: SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview,
LocalSubjectAccessReview and SelfSubjectRulesReview (`kubectl auth can-i --list`), as
pkg/registry/authorization: the review is judged by the API server's own authorizer (auth/authz.py) and
answered with its status filled in (201), nothing stored. Only `create` (POST) is served.
"""

from __future__ import annotations

import json

from .. import wire
from ..api import handlers, protobuf
from . import User, authz, rbac
from .requestinfo import Attributes

GROUP_VERSION = "authorization.k8s.io/v1"
PREFIX = "/apis/authorization.k8s.io/v1/"
KINDS = {
    "selfsubjectaccessreviews": "SelfSubjectAccessReview",
    "subjectaccessreviews": "SubjectAccessReview",
    "localsubjectaccessreviews": "LocalSubjectAccessReview",
    "selfsubjectrulesreviews": "SelfSubjectRulesReview",
}


def parse(path: str) -> tuple[str, str] | None:
    """(resource, namespace) of a review path, or None."""
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].strip("/").split("/")
    if len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "localsubjectaccessreviews":
        return parts[2], parts[1]
    if len(parts) == 1 and parts[0] in KINDS and parts[0] != "localsubjectaccessreviews":
        return parts[0], ""
    return None


def failure(code: int, reason: str, message: str, details: dict | None = None) -> tuple[int, dict]:
    return handlers.Failure(code, reason, message, details).status_answer()


def invalid(kind: str, errors: list[tuple[str, str, str]]) -> tuple[int, dict]:
    texts = [f"{path}: Invalid value: {value}: {detail}" for path, value, detail in errors]
    message = f'{kind}.authorization.k8s.io "" is invalid: ' + (
        texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    )
    causes = [
        {"reason": "FieldValueInvalid", "message": f"Invalid value: {value}: {detail}", "field": path}
        for path, value, detail in errors
    ]
    return failure(422, "Invalid", message, {"group": "authorization.k8s.io", "kind": kind, "causes": causes})


def handle(authorizer: authz.Authorizer, method: str, request: wire.Request, user: User):
    resource, namespace = parse(request.path)
    kind = KINDS[resource]
    if method != "POST":
        return failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    try:
        if protobuf.is_protobuf(request.headers.get("Content-Type")):  # client-go's typed clients (kubectl can-i)
            review = protobuf.decode(request.body or b"")
        else:
            review = json.loads(request.body or b"{}")
    except protobuf.Undecodable as error:
        return failure(error.code, "BadRequest" if error.code == 400 else "UnsupportedMediaType", str(error))
    except ValueError as error:
        return failure(400, "BadRequest", f"the body of the request could not be decoded: {error}")
    if not isinstance(review, dict):
        return failure(400, "BadRequest", "the body of the request is not an object")
    spec = review.get("spec") or {}
    if resource == "selfsubjectrulesreviews":
        status = rules_review(authorizer, user, spec.get("namespace", ""))
    else:
        errors = spec_errors(spec, resource)
        if errors:
            return invalid(kind, errors)
        if resource == "localsubjectaccessreviews":
            given = (spec.get("resourceAttributes") or {}).get("namespace", "")
            if given != namespace:
                return failure(
                    400, "BadRequest", f"spec.resourceAttributes.namespace must match namespace: {namespace}"
                )
        subject = user if resource == "selfsubjectaccessreviews" else spec_user(spec)
        status = access_review(authorizer, subject, spec)
    meta = dict(review.get("metadata") or {}, creationTimestamp=None)
    if namespace:
        meta["namespace"] = namespace
    answer = {"kind": kind, "apiVersion": GROUP_VERSION, "metadata": meta, "spec": spec, "status": status}
    return 201, answer


def spec_errors(spec: dict, resource: str) -> list[tuple[str, str, str]]:
    """ValidateSubjectAccessReviewSpec and its self/local forms."""
    errors = []
    resource_attributes, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource_attributes is not None and non_resource is not None:
        errors.append(
            (
                "spec.nonResourceAttributes",
                '&authorization.NonResourceAttributes{Path:"'
                + non_resource.get("path", "")
                + '", Verb:"'
                + non_resource.get("verb", "")
                + '"}',
                "cannot be specified in combination with resourceAttributes",
            )
        )
    if resource_attributes is None and non_resource is None:
        errors.append(
            (
                "spec.resourceAttributes",
                '"null"',
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    if resource == "subjectaccessreviews" and not spec.get("user") and not spec.get("groups"):
        errors.append(("spec.user", '""', "at least one of user or group must be specified"))
    return errors


def spec_user(spec: dict) -> User:
    return User(spec.get("user", ""), tuple(spec.get("groups") or []), spec.get("uid", ""), spec.get("extra") or {})


def attributes_of(user: User, spec: dict) -> Attributes:
    given = spec.get("resourceAttributes")
    if given is not None:
        return Attributes(
            user,
            given.get("verb", ""),
            True,
            "",
            given.get("group", ""),
            given.get("version", ""),
            given.get("namespace", ""),
            given.get("resource", ""),
            given.get("subresource", ""),
            given.get("name", ""),
        )
    other = spec.get("nonResourceAttributes") or {}
    return Attributes(user, other.get("verb", ""), False, other.get("path", ""))


def access_review(authorizer: authz.Authorizer, user: User, spec: dict) -> dict:
    decision, reason = authorizer.decide(attributes_of(user, spec))
    status: dict = {"allowed": decision == "allow"}
    if decision == "deny":
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


def rules_review(authorizer: authz.Authorizer, user: User, namespace: str) -> dict:
    """RulesFor of every mode that resolves rules (AlwaysAllow: everything; RBAC: the bound rules; the Node
    authorizer: incomplete for nodes); the privileged group resolves no rules of its own."""
    resource_rules: list[dict] = []
    non_resource_rules: list[dict] = []
    incomplete, errors = False, []
    for mode in authorizer.modes:
        if mode == "AlwaysAllow":
            resource_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
            non_resource_rules.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
        elif mode == "RBAC":
            found = authorizer.rbac.rules_for(user, namespace)
            for item, _source in found.rules:
                if item.get("nonResourceURLs"):
                    non_resource_rules.append(
                        {"verbs": item.get("verbs") or [], "nonResourceURLs": item["nonResourceURLs"]}
                    )
                else:
                    converted = {k: item[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if k in item}
                    resource_rules.append(converted)
            if found.errors:
                incomplete = True
                errors.append(rbac.aggregate_errors(found.errors))
        elif mode == "Node" and authz.NODES_GROUP in user.groups:
            incomplete = True
            errors.append("node authorizer does not support user rule resolution")
        elif mode in ("ABAC", "Webhook", "AlwaysDeny"):
            incomplete = incomplete or mode == "Webhook"
    status = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": incomplete}
    if errors:
        status["evaluationError"] = "\n".join(errors)
    return status
