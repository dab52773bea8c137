# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster_access role's decisions: input checks, bindings, what to delete, which credentials to issue."""

from __future__ import annotations

import base64
import json
import pathlib

import jinja2
import pytest
import yaml

from ansible_collections.onprem.microk8s.plugins.filter import cluster_access as ca

SETTINGS = {"admin_group": "onprem:cluster-admins", "ingress_namespace": "ingress", "network_policy_enforced": True}
ALICE = {"name": "alice", "role": "namespace-admin", "namespaces": ["team-a"], "ttl": "30d"}
BOB = {"name": "bob", "role": "namespace-viewer", "namespaces": ["team-a", "team-b"]}
CAROL = {"name": "carol", "role": "cluster-admin", "ttl": "7d"}
DAVE = {"name": "dave", "role": "cluster-viewer", "groups": ["ops"]}
CI = {"name": "ci", "role": "deployer", "namespaces": ["team-a"], "ttl": "12h"}


def problems(users=(), robots=(), revoked=(), **settings):
    return ca.cluster_access_problems(list(users), list(robots), list(revoked), {**SETTINGS, **settings})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3600, 3600), ("3600", 3600), ("90s", 90), ("10m", 600), ("12h", 43200), ("30d", 2592000), (" 2d ", 172800)],
)
def test_durations(value, seconds):
    assert ca.access_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "1w", "-5s", "1.5h", "d", None, True])
def test_durations_that_do_not_parse(value):
    assert ca.access_seconds(value) is None


def test_a_good_inventory_has_no_problem():
    assert problems([ALICE, BOB, CAROL, DAVE], [CI], ["eve"], isolated_namespaces=["team-a"], unix_users=["ops"]) == []


@pytest.mark.parametrize(
    ("users", "robots", "revoked", "settings", "expected"),
    [
        ([{**ALICE, "role": "owner"}], [], [], {}, "unknown role template 'owner'"),
        ([], [{**CI, "role": "cluster-admin"}], [], {}, "unknown role template 'cluster-admin'"),
        ([{**ALICE, "ttl": "366d"}], [], [], {}, "ttl 366d is out of range (10m to 365d)"),
        ([{**ALICE, "ttl": "5m"}], [], [], {}, "ttl 5m is out of range"),
        ([], [{**CI, "ttl": "31d"}], [], {}, "ttl 31d is out of range (10m to 30d)"),
        ([{**ALICE, "ttl": "a month"}], [], [], {}, "ttl 'a month' is not a duration"),
        ([ALICE, {**BOB, "name": "alice"}], [], [], {}, "the name 'alice' is given more than once"),
        ([ALICE], [{**CI, "name": "alice"}], [], {}, "the name 'alice' is given more than once"),
        ([ALICE], [], ["alice"], {}, "'alice' is in cluster_access_revoked and still listed"),
        ([], [CI], ["ci"], {}, "'ci' is in cluster_access_revoked and still listed"),
        ([], [], [], {"isolated_namespaces": ["team-a"], "network_policy_enforced": False}, "flannel"),
        ([], [], [], {"isolated_namespaces": ["kube-system"]}, "isolate application namespaces only"),
        ([], [], [], {"isolated_namespaces": ["ingress"]}, "isolate application namespaces only"),
        ([], [], [], {"isolated_namespaces": ["Team_A"]}, "'Team_A' is not a valid namespace name"),
        ([{**DAVE, "groups": ["system:masters"]}], [], [], {}, "system:masters can never be reduced"),
        ([{**DAVE, "groups": ["onprem:cluster-admins"]}], [], [], {}, "give the person role cluster-admin"),
        ([{**ALICE, "namespaces": []}], [], [], {}, "needs at least one namespace"),
        ([{**DAVE, "namespaces": ["team-a"]}], [], [], {}, "is cluster-wide, leave namespaces empty"),
        ([{**CAROL, "namespaces": ["team-a"]}], [], [], {}, "is cluster-wide, leave namespaces empty"),
        ([{**ALICE, "namespaces": ["kube-system"]}], [], [], {}, "would reach the cluster's own credentials"),
        ([{**ALICE, "namespace": "team-a"}], [], [], {}, "unknown keys namespace"),
        ([{**ALICE, "name": "Alice"}], [], [], {}, "the name must be lowercase"),
        ([{**ALICE, "name": "admin"}], [], [], {}, "the name is reserved"),
        ([{**ALICE, "namespaces": "team-a"}], [], [], {}, "namespaces must be a list of names"),
        ([{**ALICE, "csr": ""}], [], [], {}, "csr must be the path"),
        ([], [], [], {"unix_users": ["root"]}, "root needs no group membership"),
    ],
)
def test_bad_input_is_refused_with_a_clear_sentence(users, robots, revoked, settings, expected):
    found = problems(users, robots, revoked, **settings)
    assert any(expected in sentence for sentence in found), found


def test_non_lists_are_refused_before_anything_else():
    assert ca.cluster_access_problems({"name": "alice"}, [], [], SETTINGS) == ["cluster_access_users must be a list"]


def test_policies_are_refused_only_where_flannel_runs():
    assert problems(isolated_namespaces=["team-a"], network_policy_enforced=True) == []
    assert problems(isolated_namespaces=[], network_policy_enforced=False) == []


def test_subjects_fill_in_defaults_and_give_admins_the_admin_group():
    subjects = {s["name"]: s for s in ca.cluster_access_subjects([ALICE, BOB, CAROL, DAVE], [CI], SETTINGS)}
    assert subjects["alice"]["ttl"] == 30 * 86400 and subjects["alice"]["clusterrole"] == "onprem:namespace-admin"
    assert subjects["bob"]["ttl"] == 30 * 86400  # the people's default
    assert subjects["carol"]["groups"] == ["onprem:cluster-admins"] and subjects["carol"]["clusterrole"] is None
    assert subjects["dave"]["groups"] == ["ops"] and subjects["dave"]["scope"] == "cluster"
    assert subjects["ci"]["kind"] == "robot" and subjects["ci"]["ttl"] == 43200 and subjects["ci"]["groups"] == []
    assert (
        ca.cluster_access_subjects([], [{"name": "r", "role": "namespace-viewer", "namespaces": ["x"]}])[0]["ttl"]
        == 86400
    )


def _subjects():
    return ca.cluster_access_subjects([ALICE, BOB, CAROL, DAVE], [CI], SETTINGS)


def test_bindings_per_namespace_cluster_wide_and_none_for_admins():
    bindings = ca.cluster_access_bindings(_subjects(), "onprem-access")
    keys = sorted((b["kind"], b["metadata"].get("namespace"), b["metadata"]["name"]) for b in bindings)
    assert keys == [
        ("ClusterRoleBinding", None, "onprem:user:dave"),
        ("RoleBinding", "team-a", "onprem:robot:ci"),
        ("RoleBinding", "team-a", "onprem:user:alice"),
        ("RoleBinding", "team-a", "onprem:user:bob"),
        ("RoleBinding", "team-b", "onprem:user:bob"),
    ]
    robot = next(b for b in bindings if b["metadata"]["name"] == "onprem:robot:ci")
    assert robot["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": "onprem-access"}]
    assert robot["roleRef"]["name"] == "onprem:deployer"
    alice = next(b for b in bindings if b["metadata"]["name"] == "onprem:user:alice")
    assert alice["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]
    assert alice["metadata"]["labels"]["onprem.microk8s/access-subject"] == "alice"
    # nobody is ever bound to system:masters or to cluster-admin by name
    assert all(b["roleRef"]["name"] != "cluster-admin" for b in bindings)


def test_service_accounts_only_for_robots():
    accounts = ca.cluster_access_service_accounts(_subjects(), "onprem-access")
    assert [(a["metadata"]["namespace"], a["metadata"]["name"]) for a in accounts] == [("onprem-access", "ci")]


def _listed(obj):
    """An object as the API lists it: no kind, plus server fields."""
    listed = {k: v for k, v in obj.items() if k != "kind"}
    listed["metadata"] = {**obj["metadata"], "uid": "u-1", "resourceVersion": "7"}
    return listed


def _keys(objects):
    return [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]


def test_stale_objects_are_what_the_inventory_no_longer_gives():
    desired = ca.cluster_access_bindings(_subjects(), "onprem-access")
    alice = next(b for b in desired if b["metadata"]["name"] == "onprem:user:alice")
    bob_b = next(b for b in desired if b["metadata"].get("namespace") == "team-b")
    old_role = {**alice, "roleRef": {**alice["roleRef"], "name": "onprem:namespace-viewer"}}
    foreign = {"metadata": {"name": "someone-elses", "namespace": "team-a", "labels": {}}}
    existing = {
        "RoleBinding": [_listed(b) for b in desired if b["kind"] == "RoleBinding" and b is not alice]
        + [_listed(old_role), foreign],
        "ClusterRoleBinding": [],
        "ServiceAccount": [],
    }
    assert _keys(ca.cluster_access_stale(existing, desired)) == [("RoleBinding", "team-a", "onprem:user:alice")]
    # bob loses team-b; eve's binding is left over from before her revocation
    eve = {"metadata": {"name": "onprem:user:eve", "namespace": "team-a", "labels": alice["metadata"]["labels"]}}
    remaining = [b for b in desired if b is not bob_b]
    existing = {"RoleBinding": [_listed(b) for b in desired if b["kind"] == "RoleBinding"] + [eve]}
    assert _keys(ca.cluster_access_stale(existing, remaining)) == [
        ("RoleBinding", "team-a", "onprem:user:eve"),
        ("RoleBinding", "team-b", "onprem:user:bob"),
    ]


def test_a_dropped_robot_loses_its_service_account():
    accounts = ca.cluster_access_service_accounts(_subjects(), "onprem-access")
    old = {"metadata": {**accounts[0]["metadata"], "name": "old-ci"}}
    existing = {"ServiceAccount": [_listed(accounts[0]), old]}
    stale = ca.cluster_access_stale(existing, accounts)
    assert stale == [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "old-ci", "namespace": "onprem-access"}}
    ]


CA_PEM = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"
SERVER = "https://10.77.0.10:16443"
NOW = 1_800_000_000
DAY = 86400


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _kubeconfig(server=SERVER, ca_pem=CA_PEM, cert="CERT", key="KEY", token=None):
    user = {"token": token} if token else {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n"
        "    certificate-authority-data: %s\nusers:\n- name: u\n  user: %s\n" % (server, _b64(ca_pem), json.dumps(user))
    )


def _asn1(epoch):
    import time

    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(epoch))


def _cert(issued, lifetime, cn="alice", groups=()):
    return {"not_before": _asn1(issued - 300), "not_after": _asn1(issued + lifetime), "cn": cn, "groups": list(groups)}


def _jwt(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return "%s.%s.signature" % (part({"alg": "RS256"}), part(claims))


def _token(issued, lifetime, uid="sa-uid-1"):
    claims = {"iat": issued, "exp": issued + lifetime, "kubernetes.io": {"serviceaccount": {"name": "ci", "uid": uid}}}
    return _jwt(claims)


def plan(subjects, held, certs, **settings):
    base = {"now": NOW, "ca": CA_PEM, "server": SERVER, "renew_fraction": 0.34, "sa_uids": {"ci": "sa-uid-1"}}
    return {
        p["name"]: (p["action"], p["reason"])
        for p in ca.cluster_access_credential_plan(subjects, held, certs, {**base, **settings})
    }


def _alice_and_ci():
    return ca.cluster_access_subjects([ALICE], [CI], SETTINGS)


def _held(alice_cert="CERT", token=None):
    return {
        "alice": ca.cluster_access_kubeconfig(_kubeconfig(cert=alice_cert)),
        "ci": ca.cluster_access_kubeconfig(_kubeconfig(token=token or _token(NOW - 3600, 12 * 3600))),
    }


def test_nothing_is_issued_again_while_credentials_are_fresh():
    certs = {"alice": _cert(NOW - 5 * DAY, 30 * DAY)}
    assert plan(_alice_and_ci(), _held(), certs) == {"alice": ("keep", "valid"), "ci": ("keep", "valid")}


def test_missing_credentials_are_issued():
    result = plan(_alice_and_ci(), {}, {})
    assert result == {"alice": ("issue", "no kubeconfig yet"), "ci": ("issue", "no kubeconfig yet")}


def test_what_is_close_to_expiry_is_renewed_and_nothing_else():
    certs = {"alice": _cert(NOW - 21 * DAY, 30 * DAY)}  # 9 of 30 days left: under a third
    result = plan(_alice_and_ci(), _held(), certs)
    assert result["alice"] == ("issue", "less than 34% of its lifetime is left")
    assert result["ci"] == ("keep", "valid")
    held = _held(token=_token(NOW - 9 * 3600, 12 * 3600))  # 3 of 12 hours left
    assert plan(_alice_and_ci(), held, {"alice": _cert(NOW, 30 * DAY)})["ci"][0] == "issue"
    expired = {"alice": _cert(NOW - 31 * DAY, 30 * DAY)}
    assert plan(_alice_and_ci(), _held(), expired)["alice"] == ("issue", "it expired")


def test_a_shorter_ttl_takes_effect_at_once():
    certs = {"alice": _cert(NOW - DAY, 365 * DAY)}
    assert plan(_alice_and_ci(), _held(), certs)["alice"] == ("issue", "it lives longer than the ttl asked for now")


def test_new_groups_a_new_ca_or_a_recreated_service_account_mean_a_new_credential():
    certs = {"alice": _cert(NOW, 30 * DAY, groups=["ops"])}
    assert plan(_alice_and_ci(), _held(), certs)["alice"][1] == "the certificate names other groups than the inventory"
    certs = {"alice": _cert(NOW, 30 * DAY, cn="mallory")}
    assert plan(_alice_and_ci(), _held(), certs)["alice"][0] == "issue"
    rotated = plan(_alice_and_ci(), _held(), {"alice": _cert(NOW, 30 * DAY)}, ca=CA_PEM.replace("Q0E=", "TkVX"))
    assert rotated == {"alice": ("issue", "the cluster's CA changed"), "ci": ("issue", "the cluster's CA changed")}
    recreated = plan(_alice_and_ci(), _held(), {"alice": _cert(NOW, 30 * DAY)}, sa_uids={"ci": "sa-uid-2"})
    assert recreated["ci"] == ("issue", "its ServiceAccount is new")
    assert plan(_alice_and_ci(), _held(), {"alice": _cert(NOW, 30 * DAY)}, sa_uids={})["ci"][0] == "issue"


def test_a_new_api_address_rewrites_the_kubeconfig_without_a_new_credential():
    result = plan(_alice_and_ci(), _held(), {"alice": _cert(NOW, 30 * DAY)}, server="https://10.77.0.11:16443")
    assert result == {
        "alice": ("rewrite", "the API address changed"),
        "ci": ("rewrite", "the API address changed"),
    }


def test_a_token_that_is_not_a_service_account_jwt_is_replaced():
    held = _held(token="0123456789abcdef")
    assert plan(_alice_and_ci(), held, {"alice": _cert(NOW, 30 * DAY)})["ci"] == (
        "issue",
        "the token is not a ServiceAccount token",
    )


def test_a_person_who_handed_in_a_csr_needs_no_key_in_the_kubeconfig():
    subjects = ca.cluster_access_subjects([{**ALICE, "csr": "alice.csr"}], [], SETTINGS)
    held = {"alice": ca.cluster_access_kubeconfig(_kubeconfig(key=""))}
    assert plan(subjects, held, {"alice": _cert(NOW, 30 * DAY)})["alice"] == ("keep", "valid")
    subjects = ca.cluster_access_subjects([ALICE], [], SETTINGS)
    assert plan(subjects, held, {"alice": _cert(NOW, 30 * DAY)})["alice"] == ("issue", "the kubeconfig holds no key")


def test_kubeconfig_facts():
    facts = ca.cluster_access_kubeconfig(_kubeconfig())
    assert facts == {
        "server": SERVER,
        "ca": CA_PEM,
        "client_cert": "CERT",
        "client_key": "KEY",
        "client_key_path": "",
        "token": "",
    }
    assert ca.cluster_access_kubeconfig("not: [a kubeconfig") == {}
    assert ca.cluster_access_kubeconfig("apiVersion: v1\n") == {}


def test_held_kubeconfigs_are_named_after_their_files():
    slurped = [
        {"item": "/x/access/lab/alice.kubeconfig", "content": _b64(_kubeconfig())},
        {"item": "/x/access/lab/notes.txt", "content": _b64("hello")},
        {"item": "/x/access/lab/gone.kubeconfig", "skipped": True},
    ]
    assert list(ca.cluster_access_held(slurped)) == ["alice"]


def test_held_kubeconfigs_from_the_file_lookup_are_named_after_their_files():
    pairs = [("/x/access/lab/alice.kubeconfig", _kubeconfig()), ("/x/access/lab/notes.txt", "hello")]
    held = ca.cluster_access_held(pairs)
    assert list(held) == ["alice"] and held["alice"]["client_cert"] == "CERT"


def _self_signed(cn, organisations, not_before, not_after):
    """A PEM certificate with this subject and validity (cryptography, as the controller has it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organisations]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_certificate_facts_of_held_kubeconfigs_are_parsed_on_the_controller():
    """The same facts x509_certificate_info gave (ASN.1 times, CN, sorted O), for the kubeconfigs with a client
    certificate only; a certificate that does not parse has no dates."""
    import datetime

    start = datetime.datetime(2026, 11, 30, 12, 0, 0)
    pem = _self_signed("dave", ["ops", "dev"], start, start + datetime.timedelta(days=30))
    held = {
        "dave": {"client_cert": pem},
        "ci": {"client_cert": "", "token": "t"},
        "broken": {"client_cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
    }
    assert ca.cluster_access_held_certs(held) == {
        "dave": {
            "not_before": "20261130120000Z",
            "not_after": "20261230120000Z",
            "cn": "dave",
            "groups": ["dev", "ops"],
        },
        "broken": {},
    }


def test_certificate_facts_from_x509_certificate_info():
    info = {
        "not_before": "20261130120000Z",
        "not_after": "20261230120000Z",
        "subject_ordered": [["commonName", "dave"], ["organizationName", "ops"], ["organizationName", "dev"]],
    }
    assert ca.cluster_access_cert_facts(info) == {
        "not_before": "20261130120000Z",
        "not_after": "20261230120000Z",
        "cn": "dave",
        "groups": ["dev", "ops"],
    }
    assert ca.asn1_epoch("19700101000100Z") == 60
    assert ca.asn1_epoch("soon") is None


def test_jwt_claims():
    assert ca.cluster_access_jwt_claims(_jwt({"exp": 5}))["exp"] == 5
    assert ca.cluster_access_jwt_claims("a.b") == {}
    assert ca.cluster_access_jwt_claims("a.!!!.c") == {}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("--secure-port=16443\n--authorization-mode=AlwaysAllow\n", "AlwaysAllow"),
        ("--authorization-mode=AlwaysAllow\n--authorization-mode=RBAC,Node\n", "RBAC,Node"),
        ("--authorization-mode='RBAC,Node'\n", "RBAC,Node"),
        ("--authorization-mode RBAC,Node\n", "RBAC,Node"),
        ("#--authorization-mode=RBAC,Node\n--authorization-mode=AlwaysAllow\n", "AlwaysAllow"),
        ("--authorization-mode-extra=x\n", None),
        ("", None),
    ],
)
def test_the_api_servers_authorization_mode(text, value):
    assert ca.apiserver_flag(text, "--authorization-mode") == value


def test_unix_group_holds_exactly_the_named_accounts():
    assert ca.unix_group_plan(["labadmin", "ops"], ["ops", "dev"]) == {"add": ["dev"], "remove": ["labadmin"]}
    assert ca.unix_group_plan([], []) == {"add": [], "remove": []}


TEMPLATE = pathlib.Path(__file__).parents[4] / "roles" / "cluster_access" / "templates" / "kubeconfig.j2"


def render(item, **overrides):
    values = {
        "ansible_managed": "managed",
        "item": item,
        "cluster_access_cluster_name": "microk8s-cluster",
        "_cluster_access_server": SERVER,
        "_cluster_access_ca": CA_PEM,
        "_cluster_access_subjects": ca.cluster_access_subjects([ALICE, {**DAVE, "csr": "dave.csr"}], [CI], SETTINGS),
        "_cluster_access_held": {},
        "_cluster_access_new_keys": {"alice": "NEWKEY"},
        "_cluster_access_new_certs": {"alice": "NEWCERT", "dave": "DAVECERT"},
        "_cluster_access_new_tokens": {"ci": "NEWTOKEN"},
    }
    values.update(overrides)
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)  # Ansible's template settings
    env.filters["b64encode"] = lambda text: base64.b64encode(text.encode()).decode()
    return env.from_string(TEMPLATE.read_text()).render(**values)


def test_kubeconfigs_read_back_as_written():
    alice = yaml.safe_load(render({"name": "alice", "kind": "user", "action": "issue"}))
    assert alice["current-context"] == "alice@microk8s-cluster"
    assert alice["contexts"][0]["context"] == {"cluster": "microk8s-cluster", "user": "alice", "namespace": "team-a"}
    facts = ca.cluster_access_kubeconfig(render({"name": "alice", "kind": "user", "action": "issue"}))
    assert facts["server"] == SERVER and facts["ca"] == CA_PEM
    assert (facts["client_cert"], facts["client_key"], facts["token"]) == ("NEWCERT", "NEWKEY", "")
    robot = ca.cluster_access_kubeconfig(render({"name": "ci", "kind": "robot", "action": "issue"}))
    assert (robot["token"], robot["client_cert"]) == ("NEWTOKEN", "")
    # a person who handed in a CSR keeps the key: the kubeconfig names the file beside it
    dave = ca.cluster_access_kubeconfig(render({"name": "dave", "kind": "user", "action": "issue"}))
    assert (dave["client_cert"], dave["client_key"], dave["client_key_path"]) == ("DAVECERT", "", "dave.key")


def test_a_rewrite_keeps_the_credential_it_had():
    held = {"alice": ca.cluster_access_kubeconfig(_kubeconfig(server="https://old:16443", cert="OLD", key="OLDKEY"))}
    text = render({"name": "alice", "kind": "user", "action": "rewrite"}, _cluster_access_held=held)
    facts = ca.cluster_access_kubeconfig(text)
    assert (facts["server"], facts["client_cert"], facts["client_key"]) == (SERVER, "OLD", "OLDKEY")


def test_before_1_22_a_certificate_longer_than_asked_is_kept():
    """The signer of MicroK8s 1.20/1.21 ignores expirationSeconds (a year): re-issuing would never end."""
    certs = {"alice": _cert(NOW - DAY, 365 * DAY)}
    assert plan(_alice_and_ci(), _held(), certs, ttl_honoured=False)["alice"] == ("keep", "valid")
    certs = {"alice": _cert(NOW - 300 * DAY, 365 * DAY)}
    assert plan(_alice_and_ci(), _held(), certs, ttl_honoured=False)["alice"][0] == "issue"


def test_network_policies_of_an_isolated_namespace():
    policies = ca.cluster_access_network_policies(["team-a", "team-b"], "ingress")
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies][:3] == [
        ("team-a", "onprem-default-deny-ingress"),
        ("team-a", "onprem-allow-same-namespace"),
        ("team-a", "onprem-allow-from-ingress"),
    ]
    assert len(policies) == 6
    deny, same, ingress = policies[:3]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # no rule: nothing comes in
    assert same["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]  # a podSelector alone: this namespace only
    selector = ingress["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
    assert selector == {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}
    assert ca.cluster_access_network_policies([], "ingress") == []


def test_csr_objects_for_the_client_signer():
    (obj,) = ca.cluster_access_csr_objects([{"name": "alice", "csr": "PEM", "ttl": "3600"}], "onprem-1-")
    assert obj["metadata"]["name"] == "onprem-1-alice"
    assert obj["spec"] == {
        "request": base64.b64encode(b"PEM").decode(),
        "signerName": "kubernetes.io/kube-apiserver-client",
        "expirationSeconds": 3600,
        "usages": ["client auth"],
    }


def test_the_nodes_whose_api_server_does_not_authorize_with_rbac_node_are_named():
    contents = {
        "node2": "--authorization-mode=AlwaysAllow\n",
        "node1": "--secure-port=16443\n--authorization-mode=RBAC,Node\n",
        "node3": "--authorization-mode=RBAC,Node\n--authorization-mode=AlwaysAllow\n",  # the last one wins
        "node4": "--secure-port=16443\n",  # absent: MicroK8s' default AlwaysAllow
    }
    assert ca.apiserver_flag_mismatches(contents, "--authorization-mode", "RBAC,Node") == ["node2", "node3", "node4"]
    assert ca.apiserver_flag_mismatches({}, "--authorization-mode", "RBAC,Node") == []


def test_files_read_keeps_each_node_whose_answer_holds_the_files_text():
    path = "/var/snap/microk8s/current/args/kube-apiserver"
    reads = [
        {"files": {path: {"exists": True, "content": "--authorization-mode=RBAC,Node\n"}}},
        {"files": {path: {"exists": True, "content": None}}},  # larger than node_info returns
        {},  # not read (a host outside this run, or its read skipped)
        {"files": {}},
    ]
    texts = ca.files_read(["node1", "node2", "node3", "node4"], reads, path)
    assert texts == {"node1": "--authorization-mode=RBAC,Node\n"}
