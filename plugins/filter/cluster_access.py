# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of the cluster_access role: input checks, the people and robots as subjects, the RBAC bindings they
need, what to delete, and which credentials to issue. No I/O: the role reads the cluster and the controller's files
and passes what it read in; these functions only decide."""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import time

import yaml

#: Role templates: the ClusterRole each binds, and whether it is bound per namespace (RoleBinding) or cluster-wide.
TEMPLATES = {
    "namespace-admin": {"clusterrole": "onprem:namespace-admin", "scope": "namespace"},
    "namespace-viewer": {"clusterrole": "onprem:namespace-viewer", "scope": "namespace"},
    "deployer": {"clusterrole": "onprem:deployer", "scope": "namespace"},
    "cluster-viewer": {"clusterrole": "onprem:cluster-viewer", "scope": "cluster"},
}
#: People only: cluster-admin comes through the admin group in the certificate (no per-person binding).
ADMIN_ROLE = "cluster-admin"
MANAGED_BY = "onprem.microk8s"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_SUBJECT = "onprem.microk8s/access-subject"
LABEL_KIND = "onprem.microk8s/access-kind"

DAY = 86400
PERSON_TTL_DEFAULT = 30 * DAY
PERSON_TTL_MAX = 365 * DAY
ROBOT_TTL_DEFAULT = DAY
ROBOT_TTL_MAX = 30 * DAY
#: The TokenRequest API refuses less than 10 minutes; the same floor for certificates.
TTL_MIN = 600
#: kube-controller-manager backdates a certificate's notBefore by up to 5 minutes; tolerated when comparing lifetimes.
SLACK = 600

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": DAY}
_USER_KEYS = {"name", "groups", "namespaces", "role", "ttl", "csr"}
_ROBOT_KEYS = {"name", "namespaces", "role", "ttl"}
_RESERVED_NAMES = {"admin", "kubelet", "kube-proxy", "controller", "scheduler", "default"}
_SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}


def access_seconds(value):
    """A lifetime as seconds: an int, or `N` with a unit s/m/h/d (`30d`, `12h`); None when it does not parse."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value))
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def _human(seconds):
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _list_problems(who, entry, key):
    value = entry.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        return ["%s: %s must be a list of names" % (who, key)]
    return []


def _entry_problems(entry, kind, settings):
    """Problems of one person (kind 'user') or robot (kind 'robot')."""
    if not isinstance(entry, dict):
        return ["every item of cluster_access_%ss must be a dict with a name, got %r" % (kind, entry)]
    name = entry.get("name")
    who = "%s %r" % ("person" if kind == "user" else "robot", name)
    problems = []
    allowed = _USER_KEYS if kind == "user" else _ROBOT_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        problems.append("%s: unknown keys %s (allowed: %s)" % (who, ", ".join(unknown), ", ".join(sorted(allowed))))
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(
            "%s: the name must be lowercase letters, digits and '-' (at most 63, starting and ending with a letter "
            "or digit)" % who
        )
    elif name in _RESERVED_NAMES:
        problems.append("%s: the name is reserved (MicroK8s' own identities and ServiceAccounts use it)" % who)
    roles = sorted(TEMPLATES) + ([ADMIN_ROLE] if kind == "user" else [])
    role = entry.get("role")
    if role not in roles:
        problems.append("%s: unknown role template %r (one of: %s)" % (who, role, ", ".join(roles)))
    problems += _list_problems(who, entry, "namespaces")
    namespaces = entry.get("namespaces") or []
    if isinstance(namespaces, list):
        for namespace in namespaces:
            if isinstance(namespace, str) and not _NAME.match(namespace):
                problems.append("%s: namespace %r is not a valid namespace name" % (who, namespace))
        scope = TEMPLATES.get(role, {}).get("scope")
        if scope == "namespace" and not namespaces:
            problems.append("%s: role %s needs at least one namespace" % (who, role))
        if (scope == "cluster" or role == ADMIN_ROLE) and namespaces:
            problems.append("%s: role %s is cluster-wide, leave namespaces empty" % (who, role))
        if role in ("namespace-admin", "deployer"):
            for namespace in sorted(set(namespaces) & _SYSTEM_NAMESPACES):
                problems.append(
                    "%s: role %s in %s would reach the cluster's own credentials; use cluster-admin"
                    % (who, role, namespace)
                )
    if kind == "user":
        problems += _list_problems(who, entry, "groups")
        groups = entry.get("groups") or []
        if isinstance(groups, list):
            for group in groups:
                if isinstance(group, str) and group.startswith("system:"):
                    problems.append(
                        "%s: group %r is a Kubernetes system group (system:masters can never be reduced by RBAC); "
                        "admins get role cluster-admin" % (who, group)
                    )
                if group == settings.get("admin_group") and role != ADMIN_ROLE:
                    problems.append(
                        "%s: group %r is the admin group; give the person role cluster-admin" % (who, group)
                    )
        csr = entry.get("csr")
        if csr is not None and (not isinstance(csr, str) or not csr):
            problems.append("%s: csr must be the path of the person's PEM certificate signing request" % who)
    limits = (PERSON_TTL_DEFAULT, PERSON_TTL_MAX) if kind == "user" else (ROBOT_TTL_DEFAULT, ROBOT_TTL_MAX)
    ttl = access_seconds(entry.get("ttl", limits[0]))
    if ttl is None:
        problems.append("%s: ttl %r is not a duration (seconds, or N with s, m, h or d: 30d)" % (who, entry.get("ttl")))
    elif not TTL_MIN <= ttl <= limits[1]:
        problems.append(
            "%s: ttl %s is out of range (%s to %s)" % (who, _human(ttl), _human(TTL_MIN), _human(limits[1]))
        )
    return problems


def cluster_access_problems(users, robots=None, revoked=None, settings=None):
    """One sentence per problem of the role's input; empty when the role may go ahead.

    settings: admin_group (str), isolated_namespaces (list), network_policy_enforced (bool: ha-cluster, i.e.
    Calico; None when unknown), unix_users (list).
    """
    settings = settings or {}
    problems = []
    for key, value in (("users", users), ("robots", robots), ("revoked", revoked)):
        if value is not None and not isinstance(value, list):
            problems.append("cluster_access_%s must be a list" % key)
    if problems:
        return problems
    users, robots, revoked = users or [], robots or [], revoked or []
    for entry in users:
        problems += _entry_problems(entry, "user", settings)
    for entry in robots:
        problems += _entry_problems(entry, "robot", settings)
    names = [e.get("name") for e in users + robots if isinstance(e, dict)]
    for name in sorted({n for n in names if names.count(n) > 1 and isinstance(n, str)}):
        problems.append(
            "the name %r is given more than once among cluster_access_users and cluster_access_robots: each identity "
            "needs its own name" % name
        )
    if not all(isinstance(name, str) for name in revoked):
        problems.append("cluster_access_revoked must be a list of names")
    else:
        for name in sorted(set(revoked) & set(n for n in names if isinstance(n, str))):
            problems.append(
                "%r is in cluster_access_revoked and still listed as a person or robot: a revoked name is never "
                "given out again (its certificate still authenticates until it expires); remove one of the two" % name
            )
    isolated = settings.get("isolated_namespaces") or []
    if not isinstance(isolated, list):
        problems.append("cluster_access_isolated_namespaces must be a list of namespace names")
    else:
        for namespace in isolated:
            if not isinstance(namespace, str) or not _NAME.match(namespace):
                problems.append("cluster_access_isolated_namespaces: %r is not a valid namespace name" % (namespace,))
            elif namespace in _SYSTEM_NAMESPACES or namespace == settings.get("ingress_namespace"):
                problems.append(
                    "cluster_access_isolated_namespaces: %s runs the cluster's own services; isolate application "
                    "namespaces only" % namespace
                )
        if isolated and settings.get("network_policy_enforced") is False:
            problems.append(
                "cluster_access_isolated_namespaces is set but the ha-cluster addon is disabled: MicroK8s then runs "
                "flannel, which does not enforce NetworkPolicies; enable ha-cluster (Calico) or leave the list empty"
            )
    unix_users = settings.get("unix_users") or []
    if not isinstance(unix_users, list) or not all(isinstance(u, str) and u for u in unix_users):
        problems.append("cluster_access_unix_users must be a list of account names")
    elif "root" in unix_users:
        problems.append("cluster_access_unix_users: root needs no group membership; leave it out")
    return problems


def cluster_access_subjects(users, robots=None, settings=None):
    """The people and robots with every default filled in: name, kind (user|robot), role, clusterrole (None for
    cluster-admin), scope, namespaces, groups (the certificate's organisations; admin group for cluster-admin), ttl
    (seconds), csr (path or None). Assumes cluster_access_problems found nothing."""
    settings = settings or {}
    subjects = []
    for entry in users or []:
        role = entry["role"]
        groups = sorted(set(entry.get("groups") or []))
        if role == ADMIN_ROLE:
            groups = sorted(set(groups) | {settings.get("admin_group", "onprem:cluster-admins")})
        template = TEMPLATES.get(role, {})
        subjects.append(
            {
                "name": entry["name"],
                "kind": "user",
                "role": role,
                "clusterrole": template.get("clusterrole"),
                "scope": template.get("scope", "cluster"),
                "namespaces": sorted(set(entry.get("namespaces") or [])),
                "groups": groups,
                "ttl": access_seconds(entry.get("ttl", PERSON_TTL_DEFAULT)),
                "csr": entry.get("csr") or None,
            }
        )
    for entry in robots or []:
        template = TEMPLATES[entry["role"]]
        subjects.append(
            {
                "name": entry["name"],
                "kind": "robot",
                "role": entry["role"],
                "clusterrole": template["clusterrole"],
                "scope": template["scope"],
                "namespaces": sorted(set(entry.get("namespaces") or [])),
                "groups": [],
                "ttl": access_seconds(entry.get("ttl", ROBOT_TTL_DEFAULT)),
                "csr": None,
            }
        )
    return subjects


def _labels(subject):
    return {LABEL_MANAGED: MANAGED_BY, LABEL_SUBJECT: subject["name"], LABEL_KIND: subject["kind"]}


def binding_name(subject):
    return "onprem:%s:%s" % (subject["kind"], subject["name"])


def cluster_access_bindings(subjects, robot_namespace):
    """The RoleBindings and ClusterRoleBindings the subjects need (full objects for kubernetes.core.k8s)."""
    bindings = []
    for subject in subjects:
        if not subject.get("clusterrole"):
            continue  # cluster-admin: the admin group's binding covers it
        if subject["kind"] == "user":
            who = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": subject["name"]}
        else:
            who = {"kind": "ServiceAccount", "name": subject["name"], "namespace": robot_namespace}
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": subject["clusterrole"]}
        if subject["scope"] == "cluster":
            targets = [("ClusterRoleBinding", None)]
        else:
            targets = [("RoleBinding", namespace) for namespace in subject["namespaces"]]
        for kind, namespace in targets:
            metadata = {"name": binding_name(subject), "labels": _labels(subject)}
            if namespace:
                metadata["namespace"] = namespace
            bindings.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": kind,
                    "metadata": metadata,
                    "roleRef": role_ref,
                    "subjects": [who],
                }
            )
    return bindings


def cluster_access_service_accounts(subjects, robot_namespace):
    """The robots' ServiceAccounts (full objects for kubernetes.core.k8s)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": subject["name"], "namespace": robot_namespace, "labels": _labels(subject)},
        }
        for subject in subjects
        if subject["kind"] == "robot"
    ]


def _key(obj):
    metadata = obj.get("metadata") or {}
    return (obj.get("kind"), metadata.get("namespace"), metadata.get("name"))


def cluster_access_stale(existing, desired):
    """What to delete: objects this role labelled earlier that the inventory no longer wants, or whose roleRef changed
    (immutable: delete, then create). existing: {kind: [objects as the API lists them]} (list items carry no kind).
    Returns [{apiVersion, kind, metadata: {name[, namespace]}}] (for kubernetes.core.k8s state=absent), sorted."""
    wanted = {_key(obj): obj for obj in desired or []}
    stale = []
    for kind, objects in (existing or {}).items():
        for obj in objects or []:
            metadata = obj.get("metadata") or {}
            if (metadata.get("labels") or {}).get(LABEL_MANAGED) != MANAGED_BY:
                continue
            namespace, name = metadata.get("namespace"), metadata.get("name")
            want = wanted.get((kind, namespace, name))
            if want is None or ("roleRef" in want and want["roleRef"] != obj.get("roleRef")):
                stale.append((kind, namespace or "", name))
    return [
        {
            "apiVersion": "v1" if kind == "ServiceAccount" else "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        }
        for kind, namespace, name in sorted(stale)
    ]


def cluster_access_network_policies(namespaces, ingress_namespace):
    """The NetworkPolicies of each isolated namespace: default-deny ingress, allow from the same namespace, allow from
    the ingress controller's namespace (selected by the kubernetes.io/metadata.name label)."""
    specs = {
        "onprem-default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "onprem-allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
        "onprem-allow-from-ingress": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}}}]}
            ],
        },
    }
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": {LABEL_MANAGED: MANAGED_BY}},
            "spec": spec,
        }
        for namespace in namespaces or []
        for name, spec in specs.items()
    ]


def cluster_access_csr_objects(requests, prefix, labels=None):
    """CertificateSigningRequests for the kube-apiserver-client signer: requests = [{name, csr (PEM), ttl}]."""
    return [
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": prefix + request["name"], "labels": dict(labels or {LABEL_MANAGED: MANAGED_BY})},
            "spec": {
                "request": base64.b64encode(str(request["csr"]).encode()).decode(),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "expirationSeconds": int(request["ttl"]),
                "usages": ["client auth"],
            },
        }
        for request in requests or []
    ]


def _b64(text):
    try:
        return base64.b64decode(str(text), validate=False).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def cluster_access_kubeconfig(text):
    """What a kubeconfig holds: server, ca (PEM), client_cert (PEM), client_key (PEM or ''), client_key_path, token.
    Empty strings for what is absent; {} when the text is not a kubeconfig."""
    try:
        config = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return {}
    if not isinstance(config, dict) or not config.get("clusters") or not config.get("users"):
        return {}
    cluster = (config["clusters"][0] or {}).get("cluster") or {}
    user = (config["users"][0] or {}).get("user") or {}
    return {
        "server": cluster.get("server", ""),
        "ca": _b64(cluster.get("certificate-authority-data", "")),
        "client_cert": _b64(user.get("client-certificate-data", "")),
        "client_key": _b64(user.get("client-key-data", "")),
        "client_key_path": user.get("client-key", ""),
        "token": user.get("token", ""),
    }


def cluster_access_jwt_claims(token):
    """The claims of a ServiceAccount token (a JWT), unverified (the token is our own file); {} when not a JWT."""
    parts = str(token or "").split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def cluster_access_held(slurped, suffix=".kubeconfig"):
    """{name: kubeconfig facts} of `<dir>/<name>.kubeconfig` files: slurp results (item = path, content = b64) or
    (path, text) pairs (the controller's files read with the fileglob and file lookups)."""
    held = {}
    for result in slurped or []:
        if isinstance(result, (list, tuple)) and len(result) == 2:
            path, text = str(result[0]), result[1]
        elif "content" in result:
            path, text = str(result.get("item") or result.get("source") or ""), _b64(result["content"])
        else:
            continue
        name = path.rsplit("/", 1)[-1]
        if name.endswith(suffix):
            held[name[: -len(suffix)]] = cluster_access_kubeconfig(text)
    return held


def cluster_access_cert_facts(info):
    """The parts of an x509_certificate_info result the plan needs: not_before, not_after, cn, groups."""
    subject = info.get("subject_ordered") or []
    return {
        "not_before": info.get("not_before"),
        "not_after": info.get("not_after"),
        "cn": next((value for key, value in subject if key in ("commonName", "CN")), None),
        "groups": sorted(value for key, value in subject if key in ("organizationName", "O")),
    }


def cluster_access_held_certs(held):
    """{name: certificate facts (as cluster_access_cert_facts)} of the held kubeconfigs with a client certificate,
    parsed here on the controller (one filter instead of one x509_certificate_info call per file). A certificate that
    does not parse gives {} (no dates: the plan issues a new one)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    facts = {}
    for name, entry in sorted((held or {}).items()):
        pem = (entry or {}).get("client_cert") or ""
        if not pem:
            continue
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            facts[name] = {}
            continue
        # cryptography 42+ has the *_utc properties; before, the naive ones are UTC
        before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before
        after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
        facts[name] = {
            "not_before": before.strftime("%Y%m%d%H%M%SZ"),
            "not_after": after.strftime("%Y%m%d%H%M%SZ"),
            "cn": next((a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)), None),
            "groups": sorted(a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)),
        }
    return facts


def asn1_epoch(value):
    """`20261230120000Z` (ASN.1 GeneralizedTime, as x509_certificate_info returns it) as a Unix time; None if not."""
    try:
        return calendar.timegm(time.strptime(str(value), "%Y%m%d%H%M%SZ"))
    except ValueError:
        return None


def _norm_pem(text):
    return "".join(str(text or "").split())


def _renewal(issued, expires, now, ttl, fraction, ttl_honoured=True):
    """The reason a credential valid from `issued` to `expires` needs renewing, or None. ttl_honoured: whether the
    cluster issues the lifetime asked for (certificates: MicroK8s 1.22+; before, the signer's own duration)."""
    if issued is None or expires is None:
        return "its lifetime cannot be read"
    left = expires - now
    if left <= 0:
        return "it expired"
    if left < fraction * max(expires - issued, 1):
        return "less than %d%% of its lifetime is left" % round(fraction * 100)
    if ttl_honoured and left > ttl + SLACK:
        return "it lives longer than the ttl asked for now"
    return None


def cluster_access_credential_plan(subjects, held, certs, settings):
    """Per subject what to do with its credential: {name, kind, action: keep|issue|rewrite, reason}.

    held: {name: cluster_access_kubeconfig(...)} for the kubeconfigs the controller holds; certs: {name:
    cluster_access_cert_facts(...)} for their certificates. settings: now (Unix time), ca (PEM), server,
    renew_fraction, sa_uids ({robot name: uid of its ServiceAccount}), ttl_honoured (False before MicroK8s 1.22,
    whose signer ignores a CSR's expirationSeconds: a certificate longer than asked is then kept).
    An `issue` makes a new key/certificate or token; a `rewrite` only writes the kubeconfig again (new server).
    """
    now = settings["now"]
    fraction = float(settings.get("renew_fraction", 0.34))
    plan = []
    for subject in subjects:
        name = subject["name"]
        config = (held or {}).get(name) or {}
        reason = None
        if not config:
            reason = "no kubeconfig yet"
        elif _norm_pem(config.get("ca")) != _norm_pem(settings.get("ca")):
            reason = "the cluster's CA changed"
        elif subject["kind"] == "user":
            cert = (certs or {}).get(name) or {}
            if not config.get("client_cert") or not cert:
                reason = "the kubeconfig holds no certificate"
            elif subject.get("csr") is None and not config.get("client_key"):
                reason = "the kubeconfig holds no key"
            elif cert.get("cn") != name or sorted(cert.get("groups") or []) != sorted(subject["groups"]):
                reason = "the certificate names other groups than the inventory"
            else:
                issued, expires = asn1_epoch(cert.get("not_before")), asn1_epoch(cert.get("not_after"))
                reason = _renewal(issued, expires, now, subject["ttl"], fraction, settings.get("ttl_honoured", True))
        else:
            claims = cluster_access_jwt_claims(config.get("token"))
            sa = ((claims.get("kubernetes.io") or {}).get("serviceaccount") or {}) if claims else {}
            uid = (settings.get("sa_uids") or {}).get(name)
            if not config.get("token"):
                reason = "the kubeconfig holds no token"
            elif not claims:
                reason = "the token is not a ServiceAccount token"
            elif uid is None or (sa.get("uid") and sa.get("uid") != uid):
                reason = "its ServiceAccount is new"
            else:
                issued = claims.get("iat", claims.get("nbf"))
                reason = _renewal(issued, claims.get("exp"), now, subject["ttl"], fraction)
        if reason:
            action = "issue"
        elif config.get("server") != settings.get("server"):
            action, reason = "rewrite", "the API address changed"
        else:
            action = "keep"
        plan.append({"name": name, "kind": subject["kind"], "action": action, "reason": reason or "valid"})
    return plan


def apiserver_flag(args_text, flag):
    """The value of `--flag` in a MicroK8s args file (the last one wins, quotes dropped); None when absent."""
    value = None
    for line in str(args_text or "").splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        match = re.match(r"^%s(?:=|\s+)(.*)$" % re.escape(flag), line)
        if match:
            value = match.group(1).strip().strip("'\"")
    return value


def apiserver_flag_mismatches(contents, flag, wanted):
    """The nodes (sorted) whose args file text ({node: text}) does not set `flag` to `wanted`."""
    return sorted(node for node, text in (contents or {}).items() if apiserver_flag(text, flag) != wanted)


def files_read(nodes, reads, path):
    """{node: text} of `path` from each node's node_info answer (`reads`, in the order of `nodes`); a node whose answer
    lacks the file's text (not read, unreadable, too large) is left out."""
    texts = {}
    for node, answer in zip(nodes or [], reads or []):
        entry = (((answer or {}).get("files") or {}).get(path)) or {}
        if entry.get("content") is not None:
            texts[node] = entry["content"]
    return texts


def unix_group_plan(members, wanted):
    """{add, remove}: the accounts to put into and take out of a group so it holds exactly `wanted`."""
    members, wanted = set(members or []), set(wanted or [])
    return {"add": sorted(wanted - members), "remove": sorted(members - wanted)}


class FilterModule:
    def filters(self):
        return {
            "access_seconds": access_seconds,
            "cluster_access_problems": cluster_access_problems,
            "cluster_access_subjects": cluster_access_subjects,
            "cluster_access_bindings": cluster_access_bindings,
            "cluster_access_service_accounts": cluster_access_service_accounts,
            "cluster_access_stale": cluster_access_stale,
            "cluster_access_network_policies": cluster_access_network_policies,
            "cluster_access_csr_objects": cluster_access_csr_objects,
            "cluster_access_kubeconfig": cluster_access_kubeconfig,
            "cluster_access_jwt_claims": cluster_access_jwt_claims,
            "cluster_access_held": cluster_access_held,
            "cluster_access_cert_facts": cluster_access_cert_facts,
            "cluster_access_held_certs": cluster_access_held_certs,
            "cluster_access_credential_plan": cluster_access_credential_plan,
            "apiserver_flag": apiserver_flag,
            "apiserver_flag_mismatches": apiserver_flag_mismatches,
            "cluster_access_files_read": files_read,
            "unix_group_plan": unix_group_plan,
        }
