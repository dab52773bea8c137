# SPDX-License-Identifier: GPL-3.0-or-later
"""The one client of the API server (:16443) for everything else in the double: controllers, kubelet, proxy.

It talks HTTPS with the node's CA and admin credential (the admin token up to 1.27, the admin client certificate
from 1.28) as a real component would. Control planes use their own API
server; workers the control planes written at join time (`args/traefik/provider.yaml`, as apiserver-proxy does),
first that answers. Objects are plain dicts as the API returns them; resources are named by plural (`pods`,
`deployments`, `leases`, see api/resources.py). Errors: `ApiError` (`status` 404/409/422..., `reason`, `message`),
`OSError` when no API server answers.

    client = KubeClient.for_node(node)
    pods = client.list("pods", label_selector="app=hello", field_selector=f"spec.nodeName={node.hostname}")
    client.patch("pods", "hello-x", {"status": {...}}, namespace="default", subresource="status")
"""

from __future__ import annotations

import re
import secrets
import ssl
import urllib.parse

from . import certs, datastore, nodes, wire
from .api import resources
from .node import Node

PROVIDER = "traefik/provider.yaml"


class ApiError(Exception):
    """The API server's Status answer: `status` (HTTP code), `reason` (NotFound, AlreadyExists, Conflict...)."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


def write_control_planes(node: Node, endpoints: list[str]) -> None:
    """apiserver-proxy's list of API servers (`ip:port`), written when a worker joins."""
    lines = ["tcp:", "  services:", "    kube-apiserver:", "      loadBalancer:", "        servers:"]
    lines += [f'          - address: "{endpoint}"' for endpoint in endpoints]
    path = node.paths.args(PROVIDER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def control_planes(node: Node) -> list[str]:
    path = node.paths.args(PROVIDER)
    return re.findall(r'address: "([^"]+)"', path.read_text()) if path.exists() else []


class KubeClient:
    def __init__(
        self,
        endpoints: list[tuple[str, int]],
        ca_file: str,
        token: str | None,
        timeout: float = 10.0,
        cert: tuple[str, str] | None = None,
        keep: bool = True,
    ):
        """`token` (bearer) or `cert` ((certificate, key) files of an x509 client certificate) authenticates.
        `keep`: keep connections open between calls (wire.call)."""
        self.endpoints, self.token, self.timeout, self.keep = endpoints, token, timeout, keep
        self.context = certs.cached_context("client", (ca_file, *(cert or ())), lambda: _context(ca_file, cert))

    @classmethod
    def for_node(cls, node: Node, timeout: float | None = None) -> KubeClient:
        """This node's client: its own API server on a control plane, the listed control planes on a worker.
        `timeout`: per request (default: the datastore's request timeout plus 5 s). A control plane keeps its
        connections to its own API server open; a worker connects anew for each call, so a dead control plane of
        its list costs a failed connection attempt, not the wait for an answer on an open connection."""
        worker = datastore.is_worker(node)
        if worker:
            endpoints = [(host, int(port)) for host, port in (e.rsplit(":", 1) for e in control_planes(node))]
        else:
            endpoints = [(node.ip, node.port("apiserver"))]
        token, cert = certs.admin_token(node), certs.admin_cert(node)  # 1.28+: the admin client certificate
        limit = node.setting("request_timeout", 10) + 5 if timeout is None else timeout
        return cls(endpoints, str(node.paths.cert("ca.crt")), token, limit, cert=cert, keep=not worker)

    # -- verbs ----------------------------------------------------------------------------------------------------
    def get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", resources.find(resource).path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        """Items of every namespace when `namespace` is None; selectors as kubectl's -l / --field-selector."""
        return self.list_with_version(resource, namespace, label_selector, field_selector)[0]

    def list_with_version(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], str]:
        """(items, the list's resourceVersion) - the start point of a watch."""
        query = {"labelSelector": label_selector, "fieldSelector": field_selector}
        answer = self.request("GET", resources.find(resource).path(namespace), query=query)
        return answer["items"], answer["metadata"]["resourceVersion"]

    def create(self, resource: str, obj: dict, namespace: str | None = None) -> dict:
        namespace = namespace or obj.get("metadata", {}).get("namespace")
        return self.request("POST", resources.find(resource).path(namespace), obj)

    def update(self, resource: str, obj: dict, subresource: str | None = None) -> dict:
        """PUT the whole object; its metadata.resourceVersion is the precondition (409 Conflict when stale)."""
        meta = obj["metadata"]
        path = resources.find(resource).path(meta.get("namespace"), meta["name"], subresource)
        return self.request("PUT", path, obj)

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> dict:
        """A JSON merge patch (RFC 7386), or `patch_type="strategic"` for a strategic merge patch."""
        content = f"application/{'strategic-merge' if patch_type == 'strategic' else 'merge'}-patch+json"
        path = resources.find(resource).path(namespace, name, subresource)
        return self.request("PATCH", path, patch, content_type=content)

    def delete(self, resource: str, name: str, namespace: str | None = None, options: dict | None = None) -> bool:
        """True when deleted (or, for a pod bound to a node, its graceful termination started), False when it did not
        exist; `options` is a DeleteOptions body, e.g. {"gracePeriodSeconds": 0} to delete a pod for good."""
        try:
            self.request("DELETE", resources.find(resource).path(namespace, name), options)
            return True
        except ApiError as error:
            if error.status == 404:
                return False
            raise

    def event(self, obj: dict, reason: str, message: str, component: str, event_type: str = "Normal") -> bool:
        """Record a core v1 Event about `obj` (shown by `kubectl describe`); never raises: an event that cannot be
        written is dropped, as client-go's recorder does. True when written."""
        meta = obj.get("metadata", {})
        stamp = nodes.stamp(nodes.now())
        event = {
            "metadata": {"name": f"{meta.get('name', 'object')}.{secrets.token_hex(8)}"},
            "involvedObject": {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""),
                               "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                               "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": event_type, "source": {"component": component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }  # fmt: skip
        try:
            self.create("events", event, meta.get("namespace") or "default")
        except (ApiError, OSError, ValueError):
            return False
        return True

    # -- plumbing -------------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        query: dict | None = None,
        content_type: str = "application/json",
    ) -> dict:
        """One call to the first API server that answers; ApiError for a Status answer, OSError if none answers."""
        params = {k: v for k, v in (query or {}).items() if v}
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        headers = {"Content-Type": content_type}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        last: OSError = OSError("no API server endpoint known")
        for host, port in self.endpoints:
            try:
                return wire.call(
                    host, port, method, url, body, self.timeout, self.context, headers=headers, keep=self.keep
                )
            except wire.RemoteError as error:
                raise decode_error(error) from error
            except OSError as error:
                last = error
        raise last


def _context(ca_file: str, cert: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False  # workers reach control planes by IP through the proxy's list
    if cert:
        context.load_cert_chain(*cert)
    return context


def decode_error(error: wire.RemoteError) -> ApiError:
    """wire.RemoteError carries the Status message only; the reason follows from the HTTP code as the API sets it."""
    reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
               409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests",
               500: "InternalError"}  # fmt: skip
    reason = reasons.get(error.status, "Unknown")
    if error.status == 409 and "already exists" in error.message:
        reason = "AlreadyExists"
    return ApiError(error.status, reason, error.message)
