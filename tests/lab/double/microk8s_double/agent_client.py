# SPDX-License-Identifier: GPL-3.0-or-later
"""The joining side of `microk8s join`: one request to the cluster agent, then the joined configuration applied
locally. The CLI prints the contract's texts and exit codes from the JoinOutcome."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
from dataclasses import dataclass

from . import certs, distributed, kubeclient, replica, wire
from .node import Node

JOIN_PATH = "/cluster/api/v2.0/join"
MIN_FINGERPRINT = 12


@dataclass(frozen=True)
class JoinOutcome:
    http_status: int | None  # None when no HTTP answer came back
    message: str  # the agent's error text, or what went wrong on the way
    error_kind: str | None  # refused | timeout | ssl | fingerprint | http | None on success

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def insecure_context() -> ssl.SSLContext:
    """The real client does not check the agent's certificate against a CA; the fingerprint is its check."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def peer_fingerprint(node: Node, master_ip: str, port: int, timeout: float) -> str:
    raw = socket.create_connection((master_ip, port), timeout=timeout, source_address=(node.ip, 0))
    with raw, insecure_context().wrap_socket(raw) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def join(
    node: Node,
    master_ip: str,
    port: int,
    token: str,
    fingerprint: str | None,
    worker: bool,
    skip_verify: bool,
    timeout: float = 30,
) -> JoinOutcome:
    """Ask the agent at master_ip:port to let this node in; on success apply the answer and let the daemons
    restart into the cluster."""
    try:
        if fingerprint and not skip_verify:
            if len(fingerprint) < MIN_FINGERPRINT:
                return JoinOutcome(None, "fingerprint too short", "fingerprint")
            if not peer_fingerprint(node, master_ip, port, timeout).startswith(fingerprint):
                return JoinOutcome(None, f"Could not verify the identity of {master_ip}", "fingerprint")
        body = {
            "token": token,
            "hostname": node.hostname,
            "port": node.port("cluster_agent"),
            "worker": worker,
            "can_handle_x509_auth": True,
        }
        answer = wire.call(
            master_ip,
            port,
            "POST",
            JOIN_PATH,
            body,
            timeout=timeout,
            context=insecure_context(),
            source_ip=node.ip,
            headers={"Content-Type": "application/json"},
        )
    except wire.RemoteError as error:
        return JoinOutcome(error.status, agent_error(error.body), "http")
    except ssl.SSLError as error:
        return JoinOutcome(None, str(error), "ssl")
    except (socket.timeout, TimeoutError) as error:
        return JoinOutcome(None, str(error) or "timed out", "timeout")
    except OSError as error:
        return JoinOutcome(None, str(error), "refused")
    time.sleep(node.setting("join_wait", 10))  # the real join stops the services and sleeps 10 s here
    apply(node, answer, worker)
    return JoinOutcome(200, "", None)


def agent_error(body: bytes) -> str:
    """join.py `extract_error`: the `error` of a JSON body; nothing for an empty, non-JSON or other JSON body."""
    try:
        answer = json.loads(body.decode()) if body else {}
    except ValueError:
        return ""
    return str(answer["error"]) if isinstance(answer, dict) and "error" in answer else ""


def apply(node: Node, answer: dict, worker: bool) -> None:
    """Take the cluster's CA and token; a control plane replaces its datastore with the cluster's (its daemon
    reloads it), a worker records the API servers it posts to."""
    certs.adopt_cluster(node, answer["ca"], answer["ca_key"], answer["admin_token"])
    if answer.get("callback_token"):
        distributed.store(node, answer["callback_token"])
    if worker:
        kubeclient.write_control_planes(node, answer["control_plane_nodes"])
        node.paths.lock("clustered.lock").touch()
    else:
        with replica.locked(node.paths.backend):
            replica.save(node.paths.backend, answer["state"], answer["id"])
    node.paths.lock("no-cert-reissue").touch()
