# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-controller-manager's csrsigning controller for `kubernetes.io/kube-apiserver-client`: every approved,
not yet issued or failed CertificateSigningRequest of that signer gets its certificate in `status.certificate`
(signed with `--cluster-signing-cert-file`/`--cluster-signing-key-file` of `args/kube-controller-manager`, or the
signer's own `--cluster-signing-kube-apiserver-client-{cert,key}-file`, for at most `--cluster-signing-duration`,
default 8760h), or the condition Failed (reason SignerValidationFailure) when its usages do not suit the signer.
Denied requests are left alone. The signing itself is auth/csr.py."""

from __future__ import annotations

import base64
import datetime
import sys
from pathlib import Path

from .. import kubeargs, nodes
from ..auth import csr
from ..kubeclient import ApiError, KubeClient
from ..node import Node

DEFAULT_DURATION = 8760 * 3600.0


def signing_files(node: Node) -> tuple[Path, Path, float]:
    flags = kubeargs.component(node, "kube-controller-manager")
    crt = flags.get("cluster-signing-kube-apiserver-client-cert-file") or flags.get("cluster-signing-cert-file")
    key = flags.get("cluster-signing-kube-apiserver-client-key-file") or flags.get("cluster-signing-key-file")
    ttl = flags.get("cluster-signing-duration")
    return (
        Path(crt) if crt else node.paths.cert("ca.crt"),
        Path(key) if key else node.paths.cert("ca.key"),
        kubeargs.duration(ttl) if ttl else DEFAULT_DURATION,
    )


def pending(request: dict) -> bool:
    status = request.get("status") or {}
    return (
        request.get("spec", {}).get("signerName") == csr.CLIENT_SIGNER
        and csr.condition(request, "Approved")
        and not csr.condition(request, "Denied")
        and not csr.condition(request, "Failed")
        and not status.get("certificate")
    )


def sync(client: KubeClient, node: Node) -> None:
    requests = [r for r in client.list("certificatesigningrequests") if pending(r)]
    if not requests:
        return
    ca_crt, ca_key, ttl = signing_files(node)
    for request in requests:
        spec = request["spec"]
        status = dict(request.get("status") or {})
        refused = csr.signer_error(spec.get("usages") or [])
        if refused:
            stamp = nodes.stamp(nodes.now())
            status["conditions"] = [*(status.get("conditions") or []), {
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": refused,
                "lastUpdateTime": stamp, "lastTransitionTime": stamp}]  # fmt: skip
        else:
            seconds = csr.duration(ttl, spec.get("expirationSeconds"))
            pem = csr.sign(csr.request_bytes(spec), spec.get("usages") or [], seconds, ca_crt, ca_key,
                           datetime.datetime.now(datetime.timezone.utc))  # fmt: skip
            status["certificate"] = base64.b64encode(pem.encode()).decode()
        try:
            client.update("certificatesigningrequests", dict(request, status=status), subresource="status")
        except ApiError as error:  # changed or deleted meanwhile: the next round sees it again
            print(f"csrsigning: {request['metadata']['name']}: {error}", file=sys.stderr, flush=True)
