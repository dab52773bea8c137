# SPDX-License-Identifier: GPL-3.0-or-later
"""Authorization (auth/authz.py, rbac.py, requestinfo.py, policy.py, reviews.py): the mode from args/kube-apiserver
(AlwaysAllow by default, RBAC,Node after `microk8s enable rbac`), RBAC bindings with kube-apiserver's 403 texts,
the bootstrap policy and ClusterRole aggregation, the access reviews behind `kubectl auth can-i`, impersonation
and the Node authorizer. API tests run one in-process API server on loopback (api_fixtures.py)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess

import pytest
from api_fixtures import api_server
from microk8s_double import certs, kubeargs, wire
from microk8s_double.auth import User, authn, authz, policy, rbac, requestinfo
from microk8s_double.controllers import clusterroleaggregation

ALICE = User("alice", ("dev", "system:authenticated"))
RBAC_GROUP = "rbac.authorization.k8s.io"


def attrs(method: str, path: str, query: str = "", user: User = ALICE) -> requestinfo.Attributes:
    return requestinfo.parse(method, path, query, user)


# -- request attributes and texts --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/team-a/pods", "", ("list", "", "team-a", "pods", "", "")),
        ("GET", "/api/v1/namespaces/team-a/pods", "watch=true", ("watch", "", "team-a", "pods", "", "")),
        ("GET", "/api/v1/pods", "fieldSelector=metadata.name%3Dweb", ("list", "", "", "pods", "", "web")),
        ("GET", "/api/v1/namespaces/team-a/pods/web/log", "", ("get", "", "team-a", "pods", "log", "web")),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/a/deployments",
            "",
            ("deletecollection", "apps", "a", "deployments", "", ""),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/a/deployments/d/scale",
            "",
            ("patch", "apps", "a", "deployments", "scale", "d"),
        ),
        (
            "POST",
            "/api/v1/namespaces/a/serviceaccounts/robot/token",
            "",
            ("create", "", "a", "serviceaccounts", "token", "robot"),
        ),
        (
            "PUT",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/c/approval",
            "",
            ("update", "certificates.k8s.io", "", "certificatesigningrequests", "approval", "c"),
        ),
        ("GET", "/api/v1/namespaces/team-a", "", ("get", "", "team-a", "namespaces", "", "team-a")),
        ("PUT", "/api/v1/namespaces/team-a/finalize", "", ("update", "", "team-a", "namespaces", "finalize", "team-a")),
        ("GET", "/api/v1/watch/namespaces/a/pods/p", "", ("watch", "", "a", "pods", "", "p")),
    ],
)
def test_request_attributes_as_the_request_info_factory(method, path, query, expected):
    found = attrs(method, path, query)
    assert found.resource_request
    assert (found.verb, found.api_group, found.namespace, found.resource, found.subresource, found.name) == expected


@pytest.mark.parametrize("path", ["/metrics", "/api", "/api/v1", "/apis/apps", "/apis/apps/v1", "/version"])
def test_discovery_and_other_paths_are_non_resource_requests(path):
    found = attrs("GET", path)
    assert not found.resource_request and found.verb == "get" and found.path == path


def test_forbidden_texts_and_details_are_kube_apiservers():
    listing = requestinfo.forbidden_status(attrs("GET", "/api/v1/namespaces/team-a/pods"), "")
    assert listing["message"] == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-a"'
    )
    assert (listing["code"], listing["reason"], listing["details"]) == (403, "Forbidden", {"kind": "pods"})
    named = requestinfo.forbidden_status(attrs("GET", "/api/v1/nodes/n1"), "")
    assert named["message"] == (
        'nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope'
    )
    assert named["details"] == {"name": "n1", "kind": "nodes"}
    grouped = requestinfo.forbidden_status(attrs("PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale"), "why")
    assert grouped["message"] == (
        'deployments.apps "d" is forbidden: User "alice" cannot patch resource '
        '"deployments/scale" in API group "apps" in the namespace "a": why'
    )
    assert grouped["details"] == {"name": "d", "group": "apps", "kind": "deployments"}
    path = requestinfo.forbidden_status(attrs("GET", "/metrics"), "")
    assert path["message"] == 'forbidden: User "alice" cannot get path "/metrics"'
    assert path["details"] == {}


# -- rules -------------------------------------------------------------------------------------------------------
def test_rule_matching_wildcards_subresources_names_and_urls():
    pods_log = attrs("GET", "/api/v1/namespaces/a/pods/p/log")
    assert rbac.rule_allows(pods_log, {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]})
    assert rbac.rule_allows(pods_log, {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/log"]})
    assert not rbac.rule_allows(pods_log, {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})
    assert not rbac.rule_allows(pods_log, {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods/log"]})
    named = {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]}
    assert rbac.rule_allows(attrs("GET", "/api/v1/namespaces/a/configmaps/app"), named)
    assert not rbac.rule_allows(attrs("GET", "/api/v1/namespaces/a/configmaps/other"), named)
    assert not rbac.rule_allows(attrs("GET", "/api/v1/namespaces/a/configmaps"), named)  # a list names nothing
    metrics = {"verbs": ["get"], "nonResourceURLs": ["/metrics", "/logs/*"]}
    assert rbac.rule_allows(attrs("GET", "/metrics"), metrics)
    assert rbac.rule_allows(attrs("GET", "/logs/kube.log"), metrics)
    assert not rbac.rule_allows(attrs("GET", "/metricsx"), metrics)
    assert not rbac.rule_allows(attrs("POST", "/metrics"), metrics)


def test_aggregation_fills_view_edit_and_admin_from_labelled_roles():
    extra = policy.cluster_role(
        "crontab-view",
        [{"verbs": ["get"], "apiGroups": ["x.io"], "resources": ["crontabs"]}],
        {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    )
    roles = [obj for resource, obj in policy.objects(28) if resource == "clusterroles"] + [extra]
    filled = rbac.aggregate(roles)
    crontabs = extra["rules"][0]
    assert crontabs in filled["view"] and crontabs in filled["edit"] and crontabs in filled["admin"]
    assert all(rule in filled["edit"] for rule in filled["view"])
    assert all(rule in filled["admin"] for rule in filled["edit"])
    assert not any("roles" in rule.get("resources", []) for rule in filled["edit"])
    assert any("rolebindings" in rule.get("resources", []) for rule in filled["admin"])
    assert "cluster-admin" not in filled


def test_system_basic_user_gets_selfsubjectreviews_from_1_27():
    def basic(minor):
        return next(obj for _r, obj in policy.objects(minor) if obj["metadata"]["name"] == "system:basic-user")

    assert not any("authentication.k8s.io" in rule["apiGroups"] for rule in basic(26)["rules"])
    assert any(rule["resources"] == ["selfsubjectreviews"] for rule in basic(27)["rules"])


# -- the mode ----------------------------------------------------------------------------------------------------
def test_authorization_mode_comes_from_the_args_file(tmp_path):
    with api_server(tmp_path) as api:
        assert authz.authorization_modes(api.node) == ["AlwaysAllow"]
        args = api.node.paths.args("kube-apiserver")
        args.parent.mkdir(parents=True, exist_ok=True)
        args.write_text("--authorization-mode=AlwaysAllow\n--authorization-mode=RBAC,Node\n")  # the last one wins
        assert authz.authorization_modes(api.node) == ["RBAC", "Node"]
        args.write_text("--authorization-mode=RBAC,Foo\n")
        with pytest.raises(kubeargs.ArgsError, match='authorization-mode "Foo" is not a valid mode'):
            authz.authorization_modes(api.node)
        args.write_text("--authorization-mode=RBAC,RBAC\n")
        with pytest.raises(kubeargs.ArgsError, match="has mode specified more than once"):
            authz.authorization_modes(api.node)


# -- against an API server -----------------------------------------------------------------------------------------
TOKENS = {
    "alice-token": ALICE,
    "bob-token": User("bob", ("system:authenticated",)),
    "node-token": User("system:node:n1", ("system:nodes", "system:authenticated")),
    "anonymous": User("system:anonymous", ("system:unauthenticated",)),
}


@pytest.fixture
def users(monkeypatch):
    """Bearer tokens for other users besides the admin's (the authentication side is authn.py's)."""
    original = authn.authenticate

    def authenticate(node, request):
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return TOKENS.get(token) or original(node, request)

    monkeypatch.setattr(authn, "authenticate", authenticate)


def call(api, method, path, body=None, token=None, headers=None):
    """(status, body) of one request as `token`'s user (the admin by default)."""
    context = ssl.create_default_context(cafile=str(api.node.paths.cert("ca.crt")))
    context.check_hostname = False
    sent = {"Content-Type": "application/json"}
    if token or api.client.token:
        sent["Authorization"] = f"Bearer {token or api.client.token}"
    if not token and certs.admin_cert(api.node):  # 1.28+: the admin is a client certificate
        context.load_cert_chain(*certs.admin_cert(api.node))
    try:
        return 200, wire.call(
            api.ip,
            api.node.port("apiserver"),
            method,
            path,
            body,
            context=context,
            headers=dict(sent, **(headers or {})),
        )
    except wire.RemoteError as error:
        return error.status, json.loads(error.body)


@pytest.fixture
def rbac_api(tmp_path, users):
    with api_server(tmp_path, authorization_mode="RBAC,Node") as api:
        clusterroleaggregation.sync(api.client)
        for name in ("team-a", "team-b"):
            api.client.create("namespaces", {"metadata": {"name": name}})
        yield api


def bind(api, name, role, subjects, namespace=None, kind="ClusterRole"):
    resource = "rolebindings" if namespace else "clusterrolebindings"
    api.client.create(
        resource,
        {
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": role},
            "subjects": subjects,
        },
    )


def test_always_allow_allows_everyone_and_creates_no_bootstrap_policy(tmp_path, users):
    with api_server(tmp_path) as api:
        assert call(api, "GET", "/api/v1/namespaces/default/pods", token="alice-token")[0] == 200
        assert call(api, "DELETE", "/api/v1/namespaces/default/pods", token="bob-token")[0] == 200
        assert api.client.list("clusterroles") == []


def test_rbac_creates_the_bootstrap_policy_with_its_labels(rbac_api):
    roles = {r["metadata"]["name"]: r for r in rbac_api.client.list("clusterroles")}
    for name in (
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "system:aggregate-to-view",
    ):
        assert roles[name]["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert roles[name]["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"
    assert roles["view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert roles["admin"]["rules"]  # filled by the aggregation controller
    bindings = {b["metadata"]["name"]: b for b in rbac_api.client.list("clusterrolebindings")}
    assert bindings["cluster-admin"]["subjects"][0]["name"] == "system:masters"
    assert [s["name"] for s in bindings["system:public-info-viewer"]["subjects"]] == [
        "system:authenticated",
        "system:unauthenticated",
    ]


@pytest.mark.parametrize(("version", "whoami"), [("1.20", False), ("1.26", False), ("1.27", True), ("1.32", True)])
def test_each_version_bootstraps_its_own_basic_user(tmp_path, users, version, whoami):
    with api_server(tmp_path, version, authorization_mode="RBAC,Node") as api:
        rules = api.client.get("clusterroles", "system:basic-user")["rules"]
        assert any("selfsubjectreviews" in rule["resources"] for rule in rules) == whoami
        spec = {
            "resourceAttributes": {
                "verb": "create",
                "group": "authorization.k8s.io",
                "resource": "selfsubjectaccessreviews",
            }
        }
        assert review(api, "selfsubjectaccessreviews", spec, token="bob-token")[1]["status"]["allowed"] is True


def test_unbound_user_is_denied_with_the_real_texts(rbac_api):
    status, body = call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods", token="alice-token")
    assert status == 403
    assert body["message"] == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-a"'
    )
    assert (body["reason"], body["details"]) == ("Forbidden", {"kind": "pods"})
    status, body = call(rbac_api, "GET", "/api/v1/nodes/n1", token="alice-token")
    assert body["message"] == (
        'nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope'
    )
    status, body = call(rbac_api, "GET", "/metrics", token="alice-token")
    assert (status, body["message"]) == (403, 'forbidden: User "alice" cannot get path "/metrics"')
    assert call(rbac_api, "GET", "/version", token="alice-token")[0] == 200  # system:public-info-viewer
    assert call(rbac_api, "GET", "/apis", token="alice-token")[0] == 200  # system:discovery


def test_role_bindings_grant_per_namespace_and_revocation_is_immediate(rbac_api):
    bind(rbac_api, "alice-view", "view", [{"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}], "team-a")
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods", token="alice-token")[0] == 200
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods/p/log", token="alice-token")[0] == 404  # allowed
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/secrets", token="alice-token")[0] == 403  # view: no
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-b/pods", token="alice-token")[0] == 403
    _status, body = call(
        rbac_api, "POST", "/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "c"}}, token="alice-token"
    )
    assert body["message"] == (
        'configmaps is forbidden: User "alice" cannot create resource "configmaps" in API '
        'group "" in the namespace "team-a"'
    )
    rbac_api.client.delete("rolebindings", "alice-view", "team-a")
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods", token="alice-token")[0] == 403


def test_anonymous_gets_only_the_public_info(rbac_api):
    status, body = call(rbac_api, "GET", "/api/v1/namespaces/default/pods", token="anonymous")
    assert (status, body["message"]) == (
        403,
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace '
        '"default"',
    )
    assert call(rbac_api, "GET", "/version", token="anonymous")[0] == 200  # system:public-info-viewer
    assert call(rbac_api, "GET", "/api", token="anonymous")[0] == 403  # system:discovery is for the authenticated


def test_groups_roles_resource_names_and_missing_roles(rbac_api):
    rbac_api.client.create(
        "roles",
        {
            "metadata": {"name": "one-config", "namespace": "team-a"},
            "rules": [
                {"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]}
            ],
        },
    )
    bind(rbac_api, "devs", "one-config", [{"kind": "Group", "name": "dev", "apiGroup": RBAC_GROUP}], "team-a", "Role")
    rbac_api.client.create("configmaps", {"metadata": {"name": "app", "namespace": "team-a"}})
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/configmaps/app", token="alice-token")[0] == 200
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/configmaps/db", token="alice-token")[0] == 403
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/configmaps/app", token="bob-token")[0] == 403
    bind(rbac_api, "ghost", "no-such-role", [{"kind": "User", "name": "bob", "apiGroup": RBAC_GROUP}])
    _status, body = call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods", token="bob-token")
    assert body["message"] == (
        'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the '
        'namespace "team-a": RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not '
        "found"
    )


def test_service_account_subjects_default_to_the_bindings_namespace(rbac_api):
    bind(rbac_api, "ci", "edit", [{"kind": "ServiceAccount", "name": "ci"}], "team-a")
    robot = User("system:serviceaccount:team-a:ci", ("system:serviceaccounts", "system:authenticated"))
    elsewhere = User("system:serviceaccount:team-b:ci", ("system:serviceaccounts", "system:authenticated"))
    deploy = attrs("POST", "/apis/apps/v1/namespaces/team-a/deployments", user=robot)
    assert authz.Authorizer(rbac_api.node, rbac_api.store).decide(deploy)[0] == "allow"
    assert (
        authz.Authorizer(rbac_api.node, rbac_api.store).decide(
            attrs("POST", "/apis/apps/v1/namespaces/team-a/deployments", user=elsewhere)
        )[0]
        == "none"
    )


def test_system_masters_is_always_allowed_even_without_bindings(rbac_api):
    rbac_api.client.delete("clusterrolebindings", "cluster-admin")
    assert call(rbac_api, "DELETE", "/api/v1/namespaces/team-b", None)[0] == 200  # the admin: system:masters
    assert call(rbac_api, "GET", "/metrics")[0] == 404  # allowed, not served


# -- impersonation -------------------------------------------------------------------------------------------------
def test_impersonation_needs_the_impersonate_verb(rbac_api):
    status, body = call(
        rbac_api, "GET", "/api/v1/namespaces/team-a/pods", token="bob-token", headers={"Impersonate-User": "alice"}
    )
    assert (status, body["message"]) == (
        403,
        'users "alice" is forbidden: User "bob" cannot impersonate resource '
        '"users" in API group "" at the cluster scope',
    )
    rbac_api.client.create(
        "clusterroles",
        {
            "metadata": {"name": "as-alice"},
            "rules": [
                {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"], "resourceNames": ["alice"]}
            ],
        },
    )
    bind(rbac_api, "bob-as-alice", "as-alice", [{"kind": "User", "name": "bob", "apiGroup": RBAC_GROUP}])
    status, body = call(
        rbac_api, "GET", "/api/v1/namespaces/team-a/pods", token="bob-token", headers={"Impersonate-User": "alice"}
    )
    assert body["message"].startswith('pods is forbidden: User "alice" cannot list')  # now judged as alice
    status, body = call(
        rbac_api,
        "GET",
        "/api/v1/pods",
        token="bob-token",
        headers={"Impersonate-User": "alice", "Impersonate-Group": "system:masters"},
    )
    assert body["message"] == (
        'groups "system:masters" is forbidden: User "bob" cannot impersonate resource "groups" '
        'in API group "" at the cluster scope'
    )
    status, body = call(rbac_api, "GET", "/api/v1/pods", headers={"Impersonate-Group": "dev"})
    assert (status, body["reason"]) == (500, "InternalError")


def test_admin_impersonates_users_groups_and_service_accounts(rbac_api):
    bind(rbac_api, "devs-view", "view", [{"kind": "Group", "name": "dev", "apiGroup": RBAC_GROUP}], "team-a")
    as_alice = {"Impersonate-User": "alice"}
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods", headers=as_alice)[0] == 403  # no groups given
    in_dev = {"Impersonate-User": "alice", "Impersonate-Group": "dev"}
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/pods", headers=in_dev)[0] == 200
    bind(rbac_api, "sa-view", "view", [{"kind": "Group", "name": "system:serviceaccounts:team-b"}], "team-b")
    robot = {"Impersonate-User": "system:serviceaccount:team-b:default"}
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-b/pods", headers=robot)[0] == 200


# -- access reviews ----------------------------------------------------------------------------------------------
def review(api, resource, spec, token=None, headers=None, namespace=None):
    where = f"namespaces/{namespace}/" if namespace else ""
    return call(
        api,
        "POST",
        f"/apis/authorization.k8s.io/v1/{where}{resource}",
        {"apiVersion": "authorization.k8s.io/v1", "spec": spec},
        token,
        headers,
    )


def test_access_reviews_answer_as_the_authorizer(rbac_api):
    bind(rbac_api, "alice-edit", "edit", [{"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}], "team-a")
    create_deploy = {"verb": "create", "group": "apps", "resource": "deployments", "namespace": "team-a"}
    status, body = review(
        rbac_api, "selfsubjectaccessreviews", {"resourceAttributes": create_deploy}, token="alice-token"
    )
    assert (status, body["kind"], body["status"]["allowed"]) == (200, "SelfSubjectAccessReview", True)
    assert body["status"]["reason"] == (
        'RBAC: allowed by RoleBinding "alice-edit/team-a" of ClusterRole "edit" to User "alice"'
    )
    status, body = review(
        rbac_api,
        "subjectaccessreviews",
        {"user": "alice", "resourceAttributes": dict(create_deploy, namespace="team-b")},
    )
    assert body["status"] == {"allowed": False}
    status, body = review(
        rbac_api,
        "subjectaccessreviews",
        {
            "user": "alice",
            "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
            "groups": ["system:authenticated"],
        },
    )
    assert body["status"]["allowed"] is True
    status, body = review(
        rbac_api,
        "localsubjectaccessreviews",
        {"user": "alice", "resourceAttributes": dict(create_deploy)},
        namespace="team-a",
    )
    assert body["status"]["allowed"] is True and body["metadata"]["namespace"] == "team-a"
    status, body = review(rbac_api, "subjectaccessreviews", {"resourceAttributes": create_deploy})
    assert status == 422 and "at least one of user or group must be specified" in body["message"]
    status, body = review(
        rbac_api, "subjectaccessreviews", {"user": "alice", "resourceAttributes": create_deploy}, token="alice-token"
    )
    assert body["message"] == (
        'subjectaccessreviews.authorization.k8s.io is forbidden: User "alice" cannot create '
        'resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster '
        "scope"
    )


def test_rules_review_lists_what_the_bindings_grant(rbac_api):
    bind(rbac_api, "alice-view", "view", [{"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}], "team-a")
    status, body = review(rbac_api, "selfsubjectrulesreviews", {"namespace": "team-a"}, token="alice-token")
    assert status == 200
    rules = body["status"]["resourceRules"]
    assert {"verbs": ["get", "list", "watch"], "apiGroups": ["apps"]}.items() <= next(
        r for r in rules if "deployments" in r["resources"]
    ).items()
    assert any(r["resources"] == ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] for r in rules)
    assert {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]} in body[
        "status"
    ]["nonResourceRules"]
    _status, body = review(rbac_api, "selfsubjectrulesreviews", {"namespace": "team-b"}, token="alice-token")
    assert not any("deployments" in r["resources"] for r in body["status"]["resourceRules"])


# -- the Node authorizer -------------------------------------------------------------------------------------------
def test_nodes_read_only_what_their_pods_use(rbac_api):
    pod = {
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "w", "image": "i", "envFrom": [{"secretRef": {"name": "db"}}]}],
        },
    }
    rbac_api.client.create("pods", pod)
    rbac_api.client.create("secrets", {"metadata": {"name": "db", "namespace": "team-a"}})
    rbac_api.client.create("secrets", {"metadata": {"name": "other", "namespace": "team-a"}})
    assert call(rbac_api, "GET", "/api/v1/namespaces/team-a/secrets/db", token="node-token")[0] == 200
    status, body = call(rbac_api, "GET", "/api/v1/namespaces/team-a/secrets/other", token="node-token")
    assert status == 403
    assert body["message"].endswith("no relationship found between node 'n1' and this object")
    _status, body = call(rbac_api, "GET", "/api/v1/namespaces/team-a/secrets", token="node-token")
    assert body["message"].endswith("can only get individual resources of this type")
    assert call(rbac_api, "GET", "/api/v1/nodes", token="node-token")[0] == 200  # NodeRules
    assert call(rbac_api, "GET", "/apis/apps/v1/deployments", token="node-token")[0] == 403


# -- the real kubectl ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_auth_can_i_and_as(rbac_api, tmp_path):
    config = rbac_api.kubeconfig(tmp_path)

    def kubectl(*args):
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60, check=False
        )

    denied = kubectl("auth", "can-i", "list", "pods", "-n", "team-a", "--as", "alice")
    assert (denied.returncode, denied.stdout) == (1, "no\n")
    bind(rbac_api, "alice-view", "view", [{"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}], "team-a")
    allowed = kubectl("auth", "can-i", "list", "pods", "-n", "team-a", "--as", "alice")
    assert (allowed.returncode, allowed.stdout) == (0, "yes\n")
    assert kubectl("auth", "can-i", "delete", "pods", "-n", "team-a", "--as", "alice").stdout == "no\n"
    listed = kubectl("auth", "can-i", "--list", "-n", "team-a", "--as", "alice").stdout
    assert listed.splitlines()[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert any(line.split()[:1] == ["deployments.apps"] and "[get list watch]" in line for line in listed.splitlines())
    forbidden = kubectl("get", "pods", "-n", "team-b", "--as", "alice")
    assert forbidden.returncode == 1
    assert forbidden.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list '
        'resource "pods" in API group "" in the namespace "team-b"'
    )
    assert (
        kubectl(
            "auth", "can-i", "create", "deployments", "-n", "team-b", "--as", "alice", "--as-group", "system:masters"
        ).stdout
        == "yes\n"
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_1_32_posts_its_reviews_as_protobuf_and_gets_answers(tmp_path, users):
    """kubectl 1.32's typed client sends SelfSubjectAccessReview and SelfSubjectRulesReview as protobuf."""
    with api_server(tmp_path, "1.32", authorization_mode="RBAC,Node") as api:
        clusterroleaggregation.sync(api.client)  # view's rules come from aggregation
        api.client.create("namespaces", {"metadata": {"name": "team-a"}})
        config = api.kubeconfig(tmp_path)

        def kubectl(*args):
            return subprocess.run(
                ["kubectl", "--kubeconfig", str(config), "-v=8", *args],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip

        denied = kubectl("auth", "can-i", "list", "pods", "-n", "team-a", "--as", "alice")
        assert "Content-Type: application/vnd.kubernetes.protobuf" in denied.stderr  # what this test is about
        assert (denied.returncode, denied.stdout) == (1, "no\n"), denied.stderr[-2000:]
        bind(api, "alice-view", "view", [{"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}], "team-a")
        allowed = kubectl("auth", "can-i", "list", "pods", "-n", "team-a", "--as", "alice")
        assert (allowed.returncode, allowed.stdout) == (0, "yes\n"), allowed.stderr[-2000:]
        listed = kubectl("auth", "can-i", "--list", "-n", "team-a", "--as", "alice").stdout
        assert any(line.split()[:1] == ["pods"] and "[get list watch]" in line for line in listed.splitlines()), listed
