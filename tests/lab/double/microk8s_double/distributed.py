# SPDX-License-Identifier: GPL-3.0-or-later
"""Changes that reach every node of a cluster: MicroK8s' `scripts/wrappers/distributed_op.py` (what addon scripts'
`refresh_opt_in_config` and `restart_service` run when `var/lock/ha-cluster` exists) and the cluster agent's
`POST /cluster/api/v1.0/configure` that serves it.

The callback token authenticates these calls: the first node makes it (`credentials/callback-token.txt`, 64
letters, 0600) when a node joins it and hands it over in the join answer; the joiner stores it as its own, so
every node of the cluster holds the same one. Without that file (a node that never formed a cluster) the
operations do nothing, as distributed_op.py exits 0 ("single node cluster").

    distributed.update_argument(node, "kube-apiserver", "--authorization-mode", "RBAC,Node")
    distributed.restart(node, "apiserver")
"""

from __future__ import annotations

import re
import secrets
import ssl
import string
import subprocess
import sys
import time

from . import wire
from .node import Node

CALLBACK_FILE = "callback-token.txt"
RESTART_TIMEOUT = 60.0  # s: a node's agent answers once its snapctl restart returned (requests: no timeout at all)
LIST_TRIES, LIST_PAUSE = 10, 3.0  # distributed_op.py: `kubectl get node -o json`, 10 tries 3 s apart
SERVICES = {"apiserver", "proxy", "kubelet", "scheduler", "controller-manager"}  # all inside kubelite


class Failed(Exception):
    """distributed_op.py exited non-zero (`SystemExit(e)` when a node does not answer)."""


def callback_token(node: Node, create: bool = False) -> str | None:
    """This node's callback token; with `create`, made when missing (the agent's GetOrCreateSelfCallbackToken)."""
    path = node.paths.credentials(CALLBACK_FILE)
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    token = "".join(secrets.choice(string.ascii_letters) for _unused in range(64))
    store(node, token)
    return token


def store(node: Node, token: str) -> None:
    path = node.paths.credentials(CALLBACK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(f"{token}\n")


# -- the client (distributed_op.py) ----------------------------------------------------------------------------------
def endpoints(node: Node) -> list[str]:
    """The other nodes' agents: the InternalIP of every Node object but this one's (`kubectl get node -o json`,
    tried 10 times 3 s apart)."""
    from .kubeclient import ApiError, KubeClient  # kubeclient imports the datastore client; this stays light

    for attempt in range(1, LIST_TRIES + 1):
        try:
            items = KubeClient.for_node(node).list("nodes")
            break
        except (OSError, ApiError) as error:  # e.g. this node's API server still restarting
            print(f"Failed to list nodes (try {attempt}): {error}", file=sys.stderr)
            if attempt == LIST_TRIES:
                raise
            time.sleep(LIST_PAUSE)
    found = []
    for item in items:
        addresses = (item.get("status") or {}).get("addresses") or []
        ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
        if ip and ip != node.ip and item["metadata"]["name"] != node.hostname:
            found.append(f"{ip}:{node.port('cluster_agent')}")
    return found


def configure(node: Node, operation: dict, action: str) -> None:
    """do_configure_op: POST the operation to every other node's agent with the callback token."""
    token = callback_token(node)
    if token is None:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # requests' verify=False
    for endpoint in endpoints(node):
        host, port = endpoint.rsplit(":", 1)
        try:
            body = dict(operation, callback=token)
            path = "/cluster/api/v1.0/configure"
            wire.call(host, int(port), "POST", path, body, context=context, timeout=RESTART_TIMEOUT)
        except wire.RemoteError as error:
            print(f"Failed to perform a {action} on node {endpoint} {error.status}")
        except OSError as error:
            print("Failed to reach node.")
            print(error, file=sys.stderr)
            raise Failed(str(error)) from error


def update_argument(node: Node, service: str, key: str, value: str) -> None:
    if callback_token(node) is None:
        return
    print(f"Adding argument {key} to nodes.")
    sys.stdout.flush()
    configure(
        node,
        {"service": [{"name": service, "arguments_update": [{key: value}]}]},
        f"change of argument {key} to {value}",
    )


def restart(node: Node, service: str) -> None:
    if callback_token(node) is None:
        return
    print("Restarting nodes.")
    sys.stdout.flush()
    configure(node, {"service": [{"name": service, "restart": "yes"}]}, f"restart {service}")


# -- the agent's side -------------------------------------------------------------------------------------------------
def set_argument(node: Node, service: str, key: str, value: str | None) -> None:
    """snaputil.UpdateServiceArguments: `--key=value` replaces the key's lines or is appended; None removes them."""
    path = node.paths.args(service)
    name = "--" + key.lstrip("-")
    lines = path.read_text().splitlines() if path.exists() else []
    pattern = re.compile(rf"^{re.escape(name)}([= ]|$)")
    kept = [line for line in lines if not pattern.match(line.strip())]
    replaced = len(kept) != len(lines)
    if value is not None:
        line = f"{name}={value}"
        if replaced:
            index = next(i for i, old in enumerate(lines) if pattern.match(old.strip()))
            kept.insert(min(index, len(kept)), line)
        else:
            kept.append(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(kept) + "\n")


def restart_service(service: str) -> int:
    unit = "kubelite" if service in SERVICES else service
    try:
        return subprocess.run(["snapctl", "restart", f"microk8s.daemon-{unit}"], check=False).returncode
    except OSError:
        return 127


def handle_configure(node: Node, body: dict) -> tuple[int, dict]:
    """POST /cluster/api/v1.0/configure (the Go agent's Configure)."""
    token = callback_token(node)
    if not token or body.get("callback") != token:
        return 500, {"error": "invalid callback token"}
    for service in body.get("service") or []:
        name = service.get("name", "")
        for update in service.get("arguments_update") or []:
            for key, value in update.items():
                set_argument(node, name, key, str(value))
        for key in service.get("arguments_remove") or []:
            set_argument(node, name, key, None)
        if str(service.get("restart", "")).lower() in ("yes", "true") and restart_service(name):
            return 500, {"error": f'failed to restart service "{name}"'}
    return 200, {"result": "ok"}
