# SPDX-License-Identifier: GPL-3.0-or-later
"""Authorization as kube-apiserver's chain: the privileged group `system:masters` first (always allowed, whatever
the modes), then the modes of `--authorization-mode` in `args/kube-apiserver` in their order (read when kubelite
starts; kube-apiserver's default and MicroK8s' default-args: `AlwaysAllow`; `microk8s enable rbac` writes
`RBAC,Node`): AlwaysAllow allows, AlwaysDeny denies, RBAC allows what a binding grants (auth/rbac.py), Node judges
the kubelets' own identities (`system:node:<name>` in `system:nodes`); the first mode with an opinion decides, none
means a 403 with kube-apiserver's text (auth/requestinfo.py). ABAC and Webhook are accepted but have no opinion.

Impersonation (`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid`, `Impersonate-Extra-*`, kubectl
`--as/--as-group`) as k8s.io/apiserver's WithImpersonation filter: each impersonated user, group, service account,
uid and extra needs the `impersonate` verb on `users`, `groups`, `serviceaccounts`, `uids`, `userextras/<key>`;
the impersonated user then gets `system:authenticated` unless the groups named it or `system:unauthenticated`.

The double's own components use the admin credential (`system:masters`), so `RBAC,Node` never stops them.
"""

from __future__ import annotations

from .. import kubeargs, wire
from ..node import Node
from . import Decision, User, rbac, requestinfo
from .requestinfo import Attributes

MODES = ("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node")
DEFAULT_MODE = "AlwaysAllow"
PRIVILEGED_GROUP = "system:masters"
AUTHENTICATED, UNAUTHENTICATED, ANONYMOUS = "system:authenticated", "system:unauthenticated", "system:anonymous"
NODES_GROUP, NODE_PREFIX = "system:nodes", "system:node:"
# The Node authorizer's rules for what is not judged by the node-to-object graph (bootstrappolicy.NodeRules).
NODE_RULES = [
    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"]},
    {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["subjectaccessreviews", "localsubjectaccessreviews"],
    },
    {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["services", "pods"]},
    {"verbs": ["create", "get", "list", "watch", "patch", "update"], "apiGroups": [""], "resources": ["nodes"]},
    {"verbs": ["patch", "update"], "apiGroups": [""], "resources": ["nodes/status", "pods/status"]},
    {"verbs": ["create", "patch", "update"], "apiGroups": ["", "events.k8s.io"], "resources": ["events"]},
    {"verbs": ["create", "delete"], "apiGroups": [""], "resources": ["pods"]},
    {"verbs": ["create"], "apiGroups": [""], "resources": ["pods/eviction"]},
    {"verbs": ["get"], "apiGroups": [""], "resources": ["endpoints"]},
    {
        "verbs": ["create", "get", "list", "watch"],
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests"],
    },
]
GRAPH_RESOURCES = ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes")


def authorization_modes(node: Node) -> list[str]:
    """`--authorization-mode` of `args/kube-apiserver` as kube-apiserver validates it (a bad value stops it)."""
    flags = kubeargs.component(node, "kube-apiserver")
    modes = [mode for mode in flags.get("authorization-mode", DEFAULT_MODE).split(",") if mode]
    errors = [] if modes else ["at least one authorization-mode must be passed"]
    for mode in modes:
        if mode not in MODES:
            errors.append(f'authorization-mode "{mode}" is not a valid mode')
        elif mode == "ABAC" and not flags.get("authorization-policy-file"):
            errors.append("authorization-mode ABAC's authorization policy file not passed")
        elif mode == "Webhook" and not flags.get("authorization-webhook-config-file"):
            errors.append("authorization-mode Webhook's authorization config file not passed")
    if len(set(modes)) != len(modes):
        errors.append(f"authorization-mode {modes} has mode specified more than once")
    if errors:
        raise kubeargs.ArgsError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return modes


class Refused(Exception):
    """An answer instead of the request (a 403 of impersonation, a 500 for impersonation headers without a user)."""

    def __init__(self, code: int, body: dict):
        super().__init__(body.get("message", ""))
        self.code, self.body = code, body


class Authorizer:
    """One API server's authorizer: its modes (fixed when it starts) over the objects of its store."""

    def __init__(self, node: Node, store, modes: list[str] | None = None):
        self.node = node
        self.store = store
        self.modes = list(modes) if modes is not None else authorization_modes(node)
        self.rbac = rbac.Resolver(store)

    @property
    def rbac_enabled(self) -> bool:
        return "RBAC" in self.modes

    # -- decisions ------------------------------------------------------------------------------------------------
    def decide(self, attributes: Attributes) -> tuple[str, str]:
        """("allow" | "deny" | "none", reason) of the union of the privileged group and the modes."""
        if PRIVILEGED_GROUP in attributes.user.groups:
            return "allow", ""
        reasons = []
        for mode in self.modes:
            decision, reason = self.mode_decision(mode, attributes)
            if decision != "none":
                return decision, reason
            if reason:
                reasons.append(reason)
        return "none", "\n".join(reasons)

    def mode_decision(self, mode: str, attributes: Attributes) -> tuple[str, str]:
        if mode == "AlwaysAllow":
            return "allow", ""
        if mode == "AlwaysDeny":
            return "deny", "Everything is forbidden."
        if mode == "RBAC":
            allowed, reason = self.rbac.allows(attributes)
            return ("allow" if allowed else "none"), reason
        if mode == "Node":
            return self.node_decision(attributes)
        return "none", ""

    def authorize(self, user: User, method: str, request: wire.Request) -> Decision:
        """The guard's question: a denial carries the whole 403 message and the Status details."""
        attributes = requestinfo.parse(method, request.path, request.query, user)
        decision, reason = self.decide(attributes)
        if decision == "allow":
            return Decision(True, reason)
        status = requestinfo.forbidden_status(attributes, reason)
        return Decision(False, status["message"], status["details"])

    # -- the Node authorizer --------------------------------------------------------------------------------------
    def node_decision(self, attributes: Attributes) -> tuple[str, str]:
        """plugin/pkg/auth/authorizer/node, simplified: a node reads the secrets, configmaps and volume claims of
        the pods bound to it, creates tokens for their service accounts, its own node lease; the rest by NodeRules."""
        user = attributes.user
        if NODES_GROUP not in user.groups:
            return "none", ""
        if not user.name.startswith(NODE_PREFIX) or len(user.name) == len(NODE_PREFIX):
            return "none", f'unknown node for user "{user.name}"'
        node_name = user.name[len(NODE_PREFIX) :]
        if attributes.resource_request and attributes.api_group == "":
            if attributes.resource in GRAPH_RESOURCES and not attributes.subresource:
                if attributes.verb != "get" or not attributes.name:
                    return "none", "can only get individual resources of this type"
                return self.related(node_name, attributes)
            if (attributes.resource, attributes.subresource) == ("serviceaccounts", "token"):
                if attributes.verb != "create" or not attributes.name:
                    return "none", "can only create tokens for individual service accounts"
                return self.related(node_name, attributes)
        if attributes.resource_request and (attributes.api_group, attributes.resource) == (
            "coordination.k8s.io",
            "leases",
        ):
            if attributes.namespace != "kube-node-lease" or (attributes.name and attributes.name != node_name):
                return "none", "can only access node lease with the same name as the requesting node"
            allowed = attributes.verb in ("get", "create", "update", "patch", "delete")
            return ("allow", "") if allowed else ("none", "can only get, create, update, patch, or delete a node lease")
        if any(rbac.rule_allows(attributes, rule) for rule in NODE_RULES):
            return "allow", ""
        return "none", ""

    def related(self, node_name: str, attributes: Attributes) -> tuple[str, str]:
        pods = self.store.execute([{"op": "list", "prefix": f"/registry/pods/{attributes.namespace}/"}])[0]
        for pod in pods.values():
            spec = pod.get("spec") or {}
            if spec.get("nodeName") == node_name and attributes.name in references(spec, attributes.resource):
                return "allow", ""
        return "none", f"no relationship found between node '{node_name}' and this object"

    # -- impersonation --------------------------------------------------------------------------------------------
    def impersonate(self, user: User, headers) -> User:
        """The user a request acts as (WithImpersonation); raises Refused."""
        name = headers.get("Impersonate-User", "")
        groups = [g for value in headers.get_all("Impersonate-Group") or [] for g in [value.strip()] if g]
        uid = headers.get("Impersonate-Uid", "")
        extra: dict[str, list[str]] = {}
        for key, value in headers.items():
            if key.lower().startswith("impersonate-extra-"):
                extra.setdefault(key[len("Impersonate-Extra-") :].lower(), []).append(value)
        if not name:
            if groups or extra or uid:
                what = ", ".join(
                    [*(f"group {g}" for g in groups), *(f"extra {k}" for k in extra), *([f"uid {uid}"] if uid else [])]
                )
                message = f"Internal error occurred: requested [{what}] without impersonating a user"
                raise Refused(
                    500,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Failure",
                        "message": message,
                        "reason": "InternalError",
                        "code": 500,
                        "details": {"causes": [{"message": message[len("Internal error occurred: ") :]}]},
                    },
                )
            return user
        checks: list[Attributes] = []
        account = name.startswith("system:serviceaccount:") and name.count(":") == 3
        if account:
            _s, _a, namespace, account_name = name.split(":")
            checks.append(
                Attributes(user, "impersonate", True, "", "", "v1", namespace, "serviceaccounts", "", account_name)
            )
            final_groups = [] if groups else ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        else:
            checks.append(Attributes(user, "impersonate", True, "", "", "v1", "", "users", "", name))
            final_groups = []
        for group in groups:
            checks.append(Attributes(user, "impersonate", True, "", "", "v1", "", "groups", "", group))
            final_groups.append(group)
        for key, values in extra.items():
            for value in values:
                checks.append(
                    Attributes(
                        user, "impersonate", True, "", "authentication.k8s.io", "v1", "", "userextras", key, value
                    )
                )
        if uid:
            checks.append(Attributes(user, "impersonate", True, "", "authentication.k8s.io", "v1", "", "uids", "", uid))
        for check in checks:
            decision, reason = self.decide(check)
            if decision != "allow":
                raise Refused(403, requestinfo.forbidden_status(check, reason))
        if name != ANONYMOUS:
            if not any(g in (AUTHENTICATED, UNAUTHENTICATED) for g in final_groups):
                final_groups.append(AUTHENTICATED)
        elif UNAUTHENTICATED not in final_groups:
            final_groups.append(UNAUTHENTICATED)
        return User(name, tuple(final_groups), uid, extra)


def references(spec: dict, resource: str) -> set[str]:
    """The names of `resource` a pod spec uses (the Node authorizer's graph edges)."""
    found: set[str] = set()
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    for volume in spec.get("volumes") or []:
        if resource == "secrets" and volume.get("secret"):
            found.add(volume["secret"].get("secretName", ""))
        if resource == "configmaps" and volume.get("configMap"):
            found.add(volume["configMap"].get("name", ""))
        if resource == "persistentvolumeclaims" and volume.get("persistentVolumeClaim"):
            found.add(volume["persistentVolumeClaim"].get("claimName", ""))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if resource == "secrets" and source.get("secret"):
                found.add(source["secret"].get("name", ""))
            if resource == "configmaps" and source.get("configMap"):
                found.add(source["configMap"].get("name", ""))
    if resource == "secrets":
        found |= {ref.get("name", "") for ref in spec.get("imagePullSecrets") or []}
    if resource == "serviceaccounts":
        found.add(spec.get("serviceAccountName") or "default")
    kinds = {"secrets": ("secretRef", "secretKeyRef"), "configmaps": ("configMapRef", "configMapKeyRef")}
    if resource in kinds:
        whole, key = kinds[resource]
        for container in containers:
            found |= {(e.get(whole) or {}).get("name", "") for e in container.get("envFrom") or []}
            found |= {((e.get("valueFrom") or {}).get(key) or {}).get("name", "") for e in container.get("env") or []}
    return found - {""}


def bootstrap(node: Node, store, modes: list[str] | None = None) -> None:
    """The `rbac/bootstrap-roles` post-start hook: the default roles and bindings a RBAC server creates when they
    are missing (kube-apiserver disables the hook when RBAC is not one of its modes)."""
    from ..api import handlers  # the API handlers import nothing of auth; this import is for the hook only
    from . import policy

    modes = authorization_modes(node) if modes is None else modes
    if "RBAC" not in modes:
        return
    api = handlers.Handlers(store)
    for resource, obj in policy.objects(node.profile.minor):
        target = handlers.parse(f"/apis/rbac.authorization.k8s.io/v1/{resource}")
        if store.execute([{"op": "get", "key": target.key(obj["metadata"]["name"])}])[0] is None:
            try:
                api.create(target, obj, handlers.Write())
            except handlers.Failure:
                continue  # another control plane made it meanwhile
