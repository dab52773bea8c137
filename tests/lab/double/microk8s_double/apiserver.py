# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes API subset served by `daemon-kubelite` on :16443 over HTTPS, for the real kubectl, the Python
client and the double's own components (kubeclient.py).

Authentication (auth/authn.py): x509 client certificates of the cluster CA, the tokens of `--token-auth-file`
(up to 1.27), ServiceAccount tokens, anonymous where allowed; then authorization (auth/authz.py). The TLS server asks
for an optional client certificate. TokenRequest, SelfSubjectReview and the CSR admission are auth/endpoints.py.
The DefaultTolerationSeconds admission takes its values from `args/kube-apiserver`
(`--default-{not-ready,unreachable}-toleration-seconds`, default 300, read when kubelite starts: kubeargs.py);
1.25+ profiles honour `fieldValidation` (default Warn).
Served: discovery (`/version`, `/api`, `/apis`, each group version), `/openapi/v2` (an empty document: kubectl
then skips client-side schema validation and builds apply patches from its compiled-in types, as with a server
whose schema lacks a kind) and the kinds of api/resources.py through api/handlers.py. Every read and write goes to
the datastore's leader: without quorum requests fail as kine on dqlite does (HTTP 500, `rpc error: ... no
available dqlite leader server found`) once `request_timeout` passes.
"""

from __future__ import annotations

import contextlib
from http.server import ThreadingHTTPServer

from . import certs, datastore, kubeargs, wire
from .addons import DEFAULT_ENABLED, ENABLED_KEY
from .api import handlers, health, resources, store
from .auth import authn, authz, endpoints, reviews, x509
from .commands.addon_workloads import coredns_config
from .node import Node

NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
OPENAPI_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


class ApiServer:
    def __init__(self, node: Node, backend=None, timings: kubeargs.Timings | None = None):
        self.node = node
        timings = timings or kubeargs.load(node)
        backend = backend or store.DatastoreStore(node)
        self.authorizer = authz.Authorizer(node, backend)  # --authorization-mode, as read at start
        self.handlers = handlers.Handlers(
            backend,
            toleration_seconds={
                handlers.NODE_TAINTS[0]: timings.not_ready_toleration,
                handlers.NODE_TAINTS[1]: timings.unreachable_toleration,
            },
            field_validation="Warn" if node.profile.since(25) else None,
            name_label=node.profile.since(21),
            mixed_protocol_lb=kubeargs.apiserver_gate(node, "MixedProtocolLBService"),  # as read at start
            minor=node.profile.minor,
        )

    def route(self, method: str, path: str):
        if method == "GET" and path == "/openapi/v2":
            return self.guard(lambda request: (200, b""))
        if method == "GET" and health.parse(path):
            return self.guard(lambda request: health.answer(request.path, request.query, self.datastore_answers))
        if method == "GET" and (path in ("/version", "/api", "/apis") or self.group_version(path)):
            return self.guard(self.discovery)
        if reviews.parse(path):
            return self.guard(lambda request: reviews.handle(self.authorizer, method, request, request.user))
        special = endpoints.route(self, method, path)
        if special is not None:
            return self.guard(special)
        target = handlers.parse(path)
        if target is None:  # authorized first: a path the user may not get is a 403, not a 404
            return self.guard(lambda request: (404, {"error": "404 page not found"}))
        return self.guard(lambda request: self.handle(method, target, request))

    def datastore_answers(self) -> bool:
        """The etcd health check: one read of the datastore."""
        try:
            self.handlers.store.execute([{"op": "get", "key": "/registry/health"}])
        except (datastore.DatastoreError, OSError):
            return False
        return True

    def handle(self, method: str, target: handlers.Target, request: wire.Request):
        if target.resource.crd and target.resource.crd_name not in self.crds():
            return 404, {"error": "404 page not found"}  # a custom resource whose CRD is not (or no longer) defined
        return self.handlers.handle(method, target, request.query, request.headers, request.body)

    def crds(self) -> frozenset[str]:
        """The names of the defined CustomResourceDefinitions (one datastore list)."""
        prefix = handlers.BY_PATH[("apiextensions.k8s.io/v1", "customresourcedefinitions")].key(None)
        found = self.handlers.store.execute([{"op": "list", "prefix": prefix}])[0] or {}
        items = found.values() if isinstance(found, dict) else found
        return frozenset(item.get("metadata", {}).get("name", "") for item in items if isinstance(item, dict))

    def group_version(self, path: str, crds: frozenset[str] | None = None) -> str | None:
        """`v1` for /api/v1, `apps/v1` for /apis/apps/v1; None for other paths."""
        served = ["v1", *resources.group_versions(self.node.profile.minor, crds)]
        name = path.strip("/").split("/", 1)[-1] if path.startswith(("/api/", "/apis/")) else ""
        return name if name in served else None

    def guard(self, handler):
        """Authenticate, impersonate, authorize (`request.user` is who the request acts as), then map a datastore
        failure to the error kine returns."""

        def run(request: wire.Request):
            request.store = self.handlers.store  # the ServiceAccount token authenticator looks accounts up
            user = request.user = authn.authenticate(self.node, request)
            if user is None:
                return handlers.Failure(401, "Unauthorized", "Unauthorized").status_answer()
            try:
                request.user = self.authorizer.impersonate(user, request.headers)
                decision = self.authorizer.authorize(request.user, request.handler.command, request)
            except authz.Refused as refused:
                return refused.code, refused.body
            except datastore.DatastoreError as error:
                return handlers.Failure(500, "", f"rpc error: code = Unknown desc = {error}").status_answer()
            if not decision.allowed:
                return handlers.Failure(403, "Forbidden", decision.reason, decision.details).status_answer()
            try:
                return handler(request)
            except datastore.DatastoreError as error:
                return handlers.Failure(500, "", f"rpc error: code = Unknown desc = {error}").status_answer()

        return run

    def discovery(self, request: wire.Request):
        if request.path == "/version":
            return 200, {
                "major": "1",
                "minor": str(self.node.profile.minor),
                "gitVersion": self.node.profile.version,
                "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "",
                "goVersion": "",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if request.path == "/api":
            address = f"{self.node.ip}:{self.node.port('apiserver')}"
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
            }
        crds = self.crds()
        if request.path == "/apis":
            return 200, resources.group_list(self.node.profile.minor, crds)
        served = self.group_version(request.path, crds)
        if served is None:  # a custom resource group whose CRDs are not (or no longer) defined
            return 404, {"error": "404 page not found"}
        return 200, resources.discovery(served, self.node.profile.minor, crds)


def bootstrap_namespaces(node: Node, backend=None) -> None:
    """The namespaces kube-apiserver creates at start when they are missing."""
    backend = backend or store.DatastoreStore(node)
    api = handlers.Handlers(backend)
    target = handlers.parse("/api/v1/namespaces")
    for name in NAMESPACES:
        if backend.execute([{"op": "get", "key": target.key(name)}])[0] is None:
            try:
                api.create(target, {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}},
                           handlers.Write())  # fmt: skip
            except handlers.Failure:
                continue  # another control plane made it meanwhile


def bootstrap_launch_configuration(node: Node, backend=None) -> None:
    """1.27+: the default launch configuration (microk8s-resources/microk8s.default.yaml) enables dns at the first
    start, so a fresh node has CoreDNS' objects, its ConfigMap kube-system/coredns among them. Once: the enabled
    addons are recorded then, and a later `disable dns` (or a deleted ConfigMap) is not undone at the next start."""
    if not node.profile.since(DEFAULT_ENABLED["dns"]):
        return
    backend = backend or store.DatastoreStore(node)
    if backend.execute([{"op": "get", "key": ENABLED_KEY}])[0] is not None:
        return  # applied before, or the addons were changed since
    config = coredns_config()
    target = handlers.parse("/api/v1/namespaces/kube-system/configmaps")
    if backend.execute([{"op": "get", "key": target.key(config["metadata"]["name"])}])[0] is None:
        with contextlib.suppress(handlers.Failure):  # another control plane made it meanwhile
            handlers.Handlers(backend).create(target, config, handlers.Write())
    defaults = sorted(f"core/{name}" for name, since in DEFAULT_ENABLED.items() if node.profile.since(since))
    backend.execute([{"op": "put", "key": ENABLED_KEY, "value": defaults}])


def bootstrap_policy(node: Node, backend=None) -> None:
    """The default RBAC roles and bindings an API server in RBAC mode creates at start (auth/policy.py)."""
    authz.bootstrap(node, backend or store.DatastoreStore(node))


def serve(node: Node, backend=None, timings: kubeargs.Timings | None = None) -> ThreadingHTTPServer:
    """Serve in a thread; `backend` replaces the datastore (tests: api/store.py's MemoryStore)."""
    server = ApiServer(node, backend, timings)
    return wire.serve((node.bind_address, node.port("apiserver")), server.route, tls=lambda: tls_context(node))


def tls_context(node: Node):
    """The serving certificate; a client certificate is asked for (optional) and judged by the authenticator. Built
    again only when the certificate, its key or the client CA file changed."""
    ca_file = authn.flags(node).get("client-ca-file") or str(node.paths.cert("ca.crt"))

    def build():
        context = certs.server_context(node)
        x509.request_client_certificates(context, ca_file)
        return context

    files = (node.paths.cert("server.crt"), node.paths.cert("server.key"), ca_file)
    return certs.cached_context("apiserver", files, build)
