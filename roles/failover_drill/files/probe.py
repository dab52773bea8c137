# SPDX-License-Identifier: GPL-3.0-or-later
"""The failover drill's probes (roles/failover_drill): request a URL as a simple device would, or watch a node and
the pods from the Kubernetes API, for a bounded time, and write every sample to a JSON file.

    python3 probe.py request --url http://10.77.0.240:8081/ --seconds 90 --out app.json
    python3 probe.py request --url https://10.77.0.11:16443/version --cafile ca.crt --bearer-file token --out api.json
    python3 probe.py request --url https://hello.home.arpa/ --connect-to 10.77.0.250 --cafile ca.pem --out https.json
    python3 probe.py watch --server https://10.77.0.12:16443 --node node1 --cafile ca.crt \
        --client-cert client.crt --client-key client.key --seconds 90 --out watch.json

`request`: one attempt per sample, a NEW connection each time (no keep-alive, no retry, no second address) with a
short timeout, as an IoT device or a kubeconfig with one server does; each sample is [moment, ok, status or kind of
failure, answer, seconds taken]. `watch`: every second, the node's Ready condition and every pod's node, readiness
and owner. HTTPS is verified against the cluster's CA, with the name
(or IP address) the URL names. `--connect-to ADDRESS` pins the URL's name to an address as `curl --resolve` does: the
TCP connection goes to ADDRESS, while SNI, the certificate's name check and the Host header keep the URL's name (the
client need not resolve it). Standard library only, so it runs on a Raspberry Pi as it is; credential files are
read, never printed.
"""

from __future__ import annotations

import argparse
import errno
import functools
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request


def tls_context(cafile=None, client_cert=None, client_key=None):
    """Verify the server against `cafile` (the system's CAs without it), and present a client certificate if given."""
    context = ssl.create_default_context(cafile=cafile)
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context


def headers_for(bearer_file=None):
    if not bearer_file:
        return {}
    with open(bearer_file) as handle:
        return {"Authorization": "Bearer " + handle.read().strip()}


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a fixed address that still speaks to the URL's name (SNI, certificate, Host)."""

    def __init__(self, host, address, **kwargs):
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address, context):
        super().__init__(context=context)
        self._pinned_context, self._address = context, address

    def https_open(self, req):
        return self.do_open(
            functools.partial(_PinnedHTTPSConnection, address=self._address), req, context=self._pinned_context
        )


def opener_for(url, context, connect_to=None):
    """The function that opens a request: urllib's own, or one pinned to `connect_to` for an https:// URL."""
    if not connect_to:
        return functools.partial(urllib.request.urlopen, context=context)
    if not url.startswith("https://"):
        raise ValueError("--connect-to needs an https:// URL")
    return urllib.request.build_opener(_PinnedHTTPSHandler(connect_to, context)).open


def fetch(url, timeout, headers, context, connect_to=None):
    """(ok, detail, body): ok is an HTTP 2xx answer; detail the status code or the kind of failure."""
    request = urllib.request.Request(url, headers=dict(headers, Connection="close"))
    try:
        with opener_for(url, context, connect_to)(request, timeout=timeout) as response:
            return 200 <= response.status < 300, str(response.status), response.read()
    except urllib.error.HTTPError as error:
        return False, str(error.code), b""
    except urllib.error.URLError as error:
        return False, _kind(error.reason), b""
    except (OSError, ValueError) as error:
        return False, _kind(error), b""


def _kind(error):
    """A short name for a failure: the exception's class, with the errno's name for a bare OSError."""
    code = getattr(error, "errno", None)
    if error.__class__ is OSError and code in errno.errorcode:  # subclasses have their own names
        return errno.errorcode[code]
    return type(error).__name__


def run_for(seconds, interval, sample):
    """Call `sample()` every `interval` seconds until `seconds` have passed; [(moment, *sample())]."""
    samples = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        moment = time.time()
        samples.append((round(moment, 3), *sample()))
        time.sleep(max(0.0, interval - (time.time() - moment)))
    return samples


def request_probe(args):
    context = tls_context(args.cafile, args.client_cert, args.client_key) if args.url.startswith("https") else None
    headers = headers_for(args.bearer_file)

    def sample():
        began = time.monotonic()
        ok, detail, body = fetch(args.url, args.timeout, headers, context, args.connect_to)
        said = body[:200].decode("utf-8", "replace").strip() if ok else ""
        return ok, detail, said, round(time.monotonic() - began, 3)

    samples = run_for(args.seconds, args.interval, sample)
    return {
        "kind": "request",
        "url": args.url,
        "connect_to": args.connect_to,
        "timeout": args.timeout,
        "interval": args.interval,
        "samples": samples,
    }


UNREACHABLE = "node.kubernetes.io/unreachable"
# Access modes that bind a volume to one node: a pod using one cannot start elsewhere while the dead node holds it.
SINGLE_NODE_ACCESS = {"ReadWriteOnce", "ReadWriteOncePod"}


def node_ready(node):
    """The node's Ready condition status: "True", "False" or "Unknown"."""
    for condition in node.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return condition.get("status", "Unknown")
    return "Unknown"


def unreachable_seconds(spec):
    """How long the pod stays bound to an unreachable node (a powered-off PC's taint, node.kubernetes.io/unreachable
    NoExecute), as the taint manager reads it: the shortest tolerationSeconds of the matching tolerations (0 when
    none matches: evicted at once), "forever" when every matching one has no seconds."""
    matching = []
    for toleration in spec.get("tolerations") or []:
        if toleration.get("effect") not in (None, "", "NoExecute"):
            continue
        key, exists = toleration.get("key") or "", toleration.get("operator") == "Exists"
        if (key == "" and exists) or (key == UNREACHABLE and (exists or not toleration.get("value"))):
            matching.append(toleration.get("tolerationSeconds"))
    if not matching:
        return 0
    seconds = [int(value) for value in matching if value is not None]
    return max(min(seconds), 0) if seconds else "forever"


def single_node_claims(claims):
    """The claims ("namespace/name") whose volume only one node may attach (ReadWriteOnce, ReadWriteOncePod)."""
    return {
        "%s/%s" % (claim["metadata"].get("namespace", ""), claim["metadata"].get("name", ""))
        for claim in claims
        if set(claim.get("spec", {}).get("accessModes") or []) & SINGLE_NODE_ACCESS
    }


def pod_summary(pod, pinning_claims=frozenset()):
    """[namespace, name, node, ready, owner, terminating, unreachable toleration, pinning claims] of one pod, owner as
    "Kind/name" or "", the toleration as unreachable_seconds says, the claims it mounts of `pinning_claims` (the
    single-node ones: its replacement waits until the dead node's attachment is released)."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    mounted = {
        "%s/%s" % (meta.get("namespace", ""), volume["persistentVolumeClaim"].get("claimName", ""))
        for volume in pod.get("spec", {}).get("volumes") or []
        if volume.get("persistentVolumeClaim")
    }
    owners = [o for o in meta.get("ownerReferences", []) if o.get("controller")]
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    return [
        meta.get("namespace", ""),
        meta.get("name", ""),
        pod.get("spec", {}).get("nodeName", ""),
        ready and status.get("phase") == "Running",
        "%s/%s" % (owners[0]["kind"], owners[0]["name"]) if owners else "",
        "deletionTimestamp" in meta,
        unreachable_seconds(pod.get("spec", {})),
        sorted(mounted & pinning_claims),
    ]


def watch_probe(args):
    context = tls_context(args.cafile, args.client_cert, args.client_key)
    headers = headers_for(args.bearer_file)
    server = args.server.rstrip("/")

    def read(path):
        ok, _detail, body = fetch(server + path, args.timeout, headers, context)
        return json.loads(body) if ok else None

    pinning = None  # the single-node claims, read once (until a read answers): the report needs them before the cut

    def sample():
        nonlocal pinning
        node = read("/api/v1/nodes/" + args.node)
        pods = read("/api/v1/pods")
        if pinning is None:
            claims = read("/api/v1/persistentvolumeclaims")
            pinning = single_node_claims(claims.get("items", [])) if claims is not None else None
        return (
            node_ready(node) if node is not None else None,
            [pod_summary(p, pinning or frozenset()) for p in pods.get("items", [])] if pods is not None else None,
        )

    samples = run_for(args.seconds, args.interval, sample)
    return {"kind": "watch", "server": server, "node": args.node, "samples": samples}


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    request = modes.add_parser("request", help="request one URL, one attempt and one new connection per sample")
    request.add_argument("--url", required=True)
    request.add_argument(
        "--connect-to", help="connect to this address instead of resolving the URL's name (https only; SNI keeps it)"
    )
    watch = modes.add_parser("watch", help="watch a node's Ready condition and the pods through the API")
    watch.add_argument("--server", required=True, help="the API server, https://ADDRESS:PORT")
    watch.add_argument("--node", required=True, help="the Kubernetes node name to watch")
    for mode, interval in ((request, 0.25), (watch, 1.0)):
        mode.add_argument("--seconds", type=float, default=60, help="how long to probe")
        mode.add_argument("--interval", type=float, default=interval, help="seconds between samples")
        mode.add_argument("--timeout", type=float, default=1.5, help="seconds one request may take")
        mode.add_argument("--cafile", help="CA bundle (PEM) to verify HTTPS with")
        mode.add_argument("--bearer-file", help="file holding a bearer token")
        mode.add_argument("--client-cert", help="client certificate (PEM)")
        mode.add_argument("--client-key", help="client key (PEM)")
        mode.add_argument("--out", required=True, help="JSON file to write")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.mode == "request" and args.connect_to and not args.url.startswith("https://"):
        raise SystemExit("probe.py: --connect-to needs an https:// URL, got %s" % args.url)
    report = request_probe(args) if args.mode == "request" else watch_probe(args)
    with open(args.out, "w") as handle:
        json.dump(report, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
