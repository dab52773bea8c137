# SPDX-License-Identifier: GPL-3.0-or-later
"""RBAC as kubernetes' plugin/pkg/auth/authorizer/rbac and pkg/registry/rbac/validation: the rules of every
ClusterRoleBinding, and of the RoleBindings of the request's namespace, whose subjects name the user (User by name,
Group by one of its groups, ServiceAccount by `system:serviceaccount:NS:NAME`, its namespace defaulting to the
binding's), allow a request when one rule matches: verb, API group, resource (`resource/subresource`, `*`, `*/sub`),
resourceNames (any when empty) or, for other paths, nonResourceURLs (`*` or a trailing `*` prefix).

A binding whose role is missing adds an error (`clusterrole.rbac.authorization.k8s.io "x" not found`), which a
denial reports after `RBAC: `. Roles and bindings are read from the store on every request (no cache), so a
revoked binding denies at once. `aggregate(roles)` is the clusterrole-aggregation controller's computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api import selectors
from . import User
from .requestinfo import Attributes

GROUP = "rbac.authorization.k8s.io"


def verb_matches(rule: dict, verb: str) -> bool:
    return any(v in ("*", verb) for v in rule.get("verbs") or [])


def group_matches(rule: dict, group: str) -> bool:
    return any(g in ("*", group) for g in rule.get("apiGroups") or [])


def resource_matches(rule: dict, combined: str, subresource: str) -> bool:
    for resource in rule.get("resources") or []:
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def name_matches(rule: dict, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def url_matches(rule: dict, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path) or (url.endswith("*") and path.startswith(url.rstrip("*"))):
            return True
    return False


def rule_allows(attributes: Attributes, rule: dict) -> bool:
    """rbac.RuleAllows."""
    if not verb_matches(rule, attributes.verb):
        return False
    if not attributes.resource_request:
        return url_matches(rule, attributes.path)
    combined = attributes.resource + (f"/{attributes.subresource}" if attributes.subresource else "")
    return (
        group_matches(rule, attributes.api_group)
        and resource_matches(rule, combined, attributes.subresource)
        and name_matches(rule, attributes.name)
    )


def service_account_name(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def applies_to(user: User, subjects: list[dict] | None, namespace: str) -> dict | None:
    """appliesToUser: the first of the subjects that names the user, or None."""
    for subject in subjects or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "User" and user.name == name:
            return subject
        if kind == "Group" and name in user.groups:
            return subject
        if kind == "ServiceAccount":
            sa_namespace = subject.get("namespace") or namespace
            if sa_namespace and user.name == service_account_name(sa_namespace, name):
                return subject
    return None


def describe(binding: dict, subject: dict) -> str:
    """The binding as an allowing reason names it (`ClusterRoleBinding "x" of ClusterRole "y" to User "alice"`)."""
    meta, ref = binding["metadata"], binding.get("roleRef") or {}
    namespace = meta.get("namespace", "")
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or namespace}"
    where = f'RoleBinding "{meta["name"]}/{namespace}"' if namespace else f'ClusterRoleBinding "{meta["name"]}"'
    return f'{where} of {ref.get("kind", "")} "{ref.get("name", "")}" to {kind} "{name}"'


@dataclass
class Found:
    """What a walk over the bindings found: the rules (with where they came from) and the errors."""

    rules: list[tuple[dict, str]] = field(default_factory=list)  # (rule, the binding it came through)
    errors: list[str] = field(default_factory=list)


class Resolver:
    """The RBAC objects of a store (api/store.py's `execute` of key/value operations)."""

    def __init__(self, store):
        self.store = store

    def read(self, namespace: str) -> tuple[dict, dict, dict, dict]:
        ops = [
            {"op": "list", "prefix": "/registry/clusterrolebindings/"},
            {"op": "list", "prefix": "/registry/clusterroles/"},
        ]
        if namespace:
            ops += [
                {"op": "list", "prefix": f"/registry/rolebindings/{namespace}/"},
                {"op": "list", "prefix": f"/registry/roles/{namespace}/"},
            ]
        found = self.store.execute(ops) + [{}, {}][: 4 - len(ops)]
        by_name = [{obj["metadata"]["name"]: obj for obj in group.values()} for group in found]
        return tuple(by_name)  # cluster bindings, cluster roles, bindings, roles

    def rules_for(self, user: User, namespace: str) -> Found:
        """VisitRulesFor: every rule that applies to the user in the namespace ("" = cluster scope only)."""
        cluster_bindings, cluster_roles, bindings, roles = self.read(namespace)
        found = Found()
        for binding in sorted(cluster_bindings.values(), key=lambda b: b["metadata"]["name"]):
            subject = applies_to(user, binding.get("subjects"), "")
            if subject:
                self.add(found, binding, subject, cluster_roles, {})
        for binding in sorted(bindings.values(), key=lambda b: b["metadata"]["name"]):
            subject = applies_to(user, binding.get("subjects"), namespace)
            if subject:
                self.add(found, binding, subject, cluster_roles, roles)
        return found

    @staticmethod
    def add(found: Found, binding: dict, subject: dict, cluster_roles: dict, roles: dict) -> None:
        ref = binding.get("roleRef") or {}
        kind, name = ref.get("kind", ""), ref.get("name", "")
        role = (roles if kind == "Role" else cluster_roles).get(name)
        if role is None:
            found.errors.append(f'{kind.lower() or "role"}.{GROUP} "{name}" not found')
            return
        source = describe(binding, subject)
        found.rules += [(item, source) for item in role.get("rules") or []]

    def allows(self, attributes: Attributes) -> tuple[bool, str]:
        """(allowed, reason): the binding that allowed it (`RBAC: allowed by ...`); a denial's reason is
        `RBAC: <errors>` when a bound role was missing, else empty."""
        found = self.rules_for(attributes.user, attributes.namespace)
        for item, source in found.rules:
            if rule_allows(attributes, item):
                return True, f"RBAC: allowed by {source}"
        return False, f"RBAC: {aggregate_errors(found.errors)}" if found.errors else ""


def aggregate_errors(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as is, several deduplicated in brackets."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def aggregate(cluster_roles: list[dict]) -> dict[str, list[dict]]:
    """The clusterrole-aggregation controller: for every ClusterRole with an aggregationRule, the rules of the
    ClusterRoles its selectors match (itself excluded), in name order, without duplicates; repeated until stable,
    as the controller converges over its resyncs (admin aggregates edit, which aggregates view). Returns the names
    whose rules change, with their new rules."""
    roles = {role["metadata"]["name"]: dict(role) for role in cluster_roles}
    changed: dict[str, list[dict]] = {}
    for _round in range(len(roles) + 1):
        moved = False
        for name, role in sorted(roles.items()):
            rule = role.get("aggregationRule")
            if not rule:
                continue
            chosen = {
                other: roles[other]
                for selector in rule.get("clusterRoleSelectors") or []
                for other in sorted(roles)
                if other != name and selectors.matches(selector, roles[other]["metadata"].get("labels"))
            }
            rules: list[dict] = []
            for other in sorted(chosen):
                for item in chosen[other].get("rules") or []:
                    if item not in rules:
                        rules.append(item)
            if rules != (role.get("rules") or []):
                roles[name] = dict(role, rules=rules)
                changed[name] = rules
                moved = True
        if not moved:
            break
    return changed
