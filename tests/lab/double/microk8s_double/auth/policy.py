# SPDX-License-Identifier: GPL-3.0-or-later
"""The bootstrap RBAC policy kube-apiserver's `rbac/bootstrap-roles` post-start hook creates when RBAC is one of
its authorization modes (kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy, policy.go and
testdata/cluster-roles.yaml): the user-facing ClusterRoles cluster-admin, admin, edit, view (admin/edit/view are
aggregated from the `system:aggregate-to-*` roles by their `rbac.authorization.k8s.io/aggregate-to-*` labels), the
discovery roles and their default ClusterRoleBindings. Every object carries the label
`kubernetes.io/bootstrapping=rbac-defaults` (what `microk8s disable rbac` deletes) and the annotation
`rbac.authorization.kubernetes.io/autoupdate: "true"`.

Versions: `system:basic-user` may create `selfsubjectreviews` (authentication.k8s.io, `kubectl auth whoami`) from
1.27 (beta, on by default; GA 1.28). Controller roles (`system:controller:*`) and namespaced roles are left out.
"""

from __future__ import annotations

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ANNOTATION = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
API_VERSION = "rbac.authorization.k8s.io/v1"


def rule(verbs, groups, resources, names=None) -> dict:
    found = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        found["resourceNames"] = list(names)
    return found


def urls(verbs, paths) -> dict:
    return {"verbs": list(verbs), "nonResourceURLs": list(paths)}


def cluster_role(name: str, rules: list[dict] | None, labels: dict | None = None, aggregate: str = "") -> dict:
    role = {
        "apiVersion": API_VERSION,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": dict(LABEL, **(labels or {})), "annotations": dict(ANNOTATION)},
    }
    if aggregate:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE + aggregate: "true"}}]}
    role["rules"] = rules
    return role


def binding(role: str, *subjects: tuple[str, str], name: str = "") -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name or role, "labels": dict(LABEL), "annotations": dict(ANNOTATION)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": who} for kind, who in subjects],
    }


def aggregate_to_view() -> list[dict]:
    return [
        rule(
            READ,
            [""],
            [
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        rule(
            READ,
            [""],
            [
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
        ),
        rule(READ, [""], ["namespaces"]),
        rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        rule(
            READ,
            ["apps"],
            [
                "controllerrevisions",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
            ],
        ),
        rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, ["batch"], ["jobs", "cronjobs", "cronjobs/status", "jobs/status"]),
        rule(
            READ,
            ["extensions"],
            [
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
        ),
        rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def aggregate_to_edit() -> list[dict]:
    return [
        rule(READ, [""], ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"]),
        rule(["impersonate"], [""], ["serviceaccounts"]),
        rule(WRITE, [""], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
        rule(["create"], [""], ["pods/eviction"]),
        rule(
            WRITE,
            [""],
            [
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
        ),
        rule(["create"], [""], ["serviceaccounts/token"]),
        rule(
            WRITE,
            ["apps"],
            [
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
        rule(WRITE, ["batch"], ["jobs", "cronjobs"]),
        rule(
            WRITE,
            ["extensions"],
            [
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "ingresses",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
        ),
        rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
        rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
    ]


def cluster_roles(minor: int) -> list[dict]:
    basic = [rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"])]
    if minor >= 27:
        basic.append(rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]))
    discovery = [
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/version/",
        "/openapi",
        "/openapi/*",
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
    ]
    approver = "system:certificates.k8s.io:{}-approver"
    signers = ("kube-apiserver-client", "kube-apiserver-client-kubelet", "kubelet-serving", "legacy-unknown")
    return [
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), urls(["*"], ["*"])]),
        cluster_role("admin", None, aggregate="admin"),
        cluster_role("edit", None, {AGGREGATE + "admin": "true"}, aggregate="edit"),
        cluster_role("view", None, {AGGREGATE + "edit": "true"}, aggregate="view"),
        cluster_role(
            "system:aggregate-to-admin",
            [
                rule(READ_WRITE, ["rbac.authorization.k8s.io"], ["roles", "rolebindings"]),
                rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            ],
            {AGGREGATE + "admin": "true"},
        ),
        cluster_role("system:aggregate-to-edit", aggregate_to_edit(), {AGGREGATE + "edit": "true"}),
        cluster_role("system:aggregate-to-view", aggregate_to_view(), {AGGREGATE + "view": "true"}),
        cluster_role("system:basic-user", basic),
        cluster_role("system:discovery", [urls(["get"], discovery)]),
        cluster_role(
            "system:public-info-viewer", [urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])]
        ),
        cluster_role(
            "system:auth-delegator",
            [
                rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
                rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            ],
        ),
        cluster_role(
            "system:node-bootstrapper",
            [rule(["create", *READ], ["certificates.k8s.io"], ["certificatesigningrequests"])],
        ),
        *[
            cluster_role(
                approver.format(signer),
                [rule(["approve"], ["certificates.k8s.io"], ["signers"], [f"kubernetes.io/{signer}"])],
            )
            for signer in signers
        ],
    ]


def cluster_role_bindings(minor: int) -> list[dict]:
    return [
        binding("cluster-admin", ("Group", "system:masters")),
        binding("system:basic-user", ("Group", "system:authenticated")),
        binding("system:discovery", ("Group", "system:authenticated")),
        binding("system:public-info-viewer", ("Group", "system:authenticated"), ("Group", "system:unauthenticated")),
    ]


def objects(minor: int) -> list[tuple[str, dict]]:
    """(resource, object) in the order the hook creates them: roles, then bindings."""
    return [("clusterroles", role) for role in cluster_roles(minor)] + [
        ("clusterrolebindings", item) for item in cluster_role_bindings(minor)
    ]
