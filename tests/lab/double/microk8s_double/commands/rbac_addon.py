# SPDX-License-Identifier: GPL-3.0-or-later
"""The rbac addon's scripts (1.20-1.23 `actions/{enable,disable}.rbac.sh`, 1.24+ core-addons `addons/rbac/*`):
enable writes `--authorization-mode=RBAC,Node` into `args/kube-apiserver` (`refresh_opt_in_local_config`: the line
replaced, or put first) and restarts the API server (`snapctl restart microk8s.daemon-kubelite`; 1.27+ only when
the file lacked that text or `var/lock/clustered.lock` exists), which then creates the
bootstrap roles (auth/policy.py); disable writes `AlwaysAllow`, restarts, and deletes every role and binding
labelled `kubernetes.io/bootstrapping=rbac-defaults` with kubectl.

With `var/lock/ha-cluster`, both steps also reach every other node through its cluster agent
(`distributed_op.py update_argument` and `restart`, distributed.py), so one `microk8s enable rbac` puts the
whole cluster in RBAC mode. Simplified: the double's API server lives in daemon-kubelite on every version (1.20
restarts `microk8s.daemon-apiserver`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from microk8s_double import datastore, distributed, kubeclient
from microk8s_double.commands.common import Context

RBAC_MODE, DEFAULT_MODE = "RBAC,Node", "AlwaysAllow"
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping=rbac-defaults"
KINDS = (
    ("rolebindings", "rolebinding"),
    ("roles", "role"),
    ("clusterrolebindings", "clusterrolebinding"),
    ("clusterroles", "clusterrole"),
)
API_WAIT = 30.0  # wait_for_service: 30 tries a second apart


class Failed(Exception):
    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


def refresh_option(ctx: Context, component: str, option: str, value: str) -> None:
    """refresh_opt_in_config: this node's file, then (ha-cluster) every other node's."""
    set_option(ctx, component, option, value)
    if ctx.paths.lock("ha-cluster").exists():
        spread(lambda: distributed.update_argument(ctx, component, f"--{option}", value))


def spread(operation) -> None:
    """A distributed_op.py run: its failure (a node that does not answer, no API to list the nodes) ends the script."""
    try:
        operation()
    except distributed.Failed as failure:
        raise Failed(1) from failure
    except (OSError, kubeclient.ApiError) as error:
        print(f"Could not query for nodes: {error}")
        raise Failed(1) from error


def set_option(ctx: Context, component: str, option: str, value: str) -> None:
    """refresh_opt_in_local_config: `--option=value` replaces the option's line, or goes first."""
    path = ctx.paths.args(component)
    text = path.read_text() if path.exists() else ""
    line = f"--{option}={value}"
    pattern = re.compile(rf"^--{re.escape(option)}=.*$", re.MULTILINE)
    text = pattern.sub(line, text) if pattern.search(text) else f"{line}\n{text}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def restart_apiserver(ctx: Context) -> None:
    """restart_service apiserver: `snapctl restart microk8s.daemon-kubelite` (a failure ends the script)."""
    sys.stdout.flush()
    try:
        code = subprocess.run(["snapctl", "restart", "microk8s.daemon-kubelite"], check=False).returncode
    except OSError:
        print("snapctl: command not found", file=sys.stderr)
        code = 127
    if code:
        raise Failed(code)
    if ctx.paths.lock("ha-cluster").exists():
        spread(lambda: distributed.restart(ctx, "apiserver"))


def enable(ctx: Context) -> None:
    print("Enabling RBAC")
    print("Reconfiguring apiserver")
    args = ctx.paths.args("kube-apiserver")
    needs_restart = f"--authorization-mode={RBAC_MODE}" not in (args.read_text() if args.exists() else "")
    refresh_option(ctx, "kube-apiserver", "authorization-mode", RBAC_MODE)
    if not ctx.profile.since(27):
        restart_apiserver(ctx)
    elif ctx.paths.lock("clustered.lock").exists() or needs_restart:
        print("Restarting apiserver")
        restart_apiserver(ctx)
    print("RBAC is enabled")


def client(ctx: Context) -> kubeclient.KubeClient:
    return kubeclient.KubeClient.for_node(ctx)


def wait_for_api(ctx: Context) -> None:
    """wait_for_service apiserver, then its pause: until the restarted API server answers (30 s at most)."""
    deadline = time.monotonic() + API_WAIT
    while True:
        try:
            client(ctx).list("namespaces", label_selector="kubernetes.io/metadata.name=default")
            return
        except (OSError, kubeclient.ApiError):
            if time.monotonic() >= deadline:
                print("apiserver did not start on time. Proceeding.")
                return
            time.sleep(1)


def bootstrap_objects(ctx: Context) -> list[tuple[str, str, str | None, str]]:
    """`kubectl get TYPE --all-namespaces --selector kubernetes.io/bootstrapping=rbac-defaults` of the four
    types, in the script's order: (resource, kubectl kind, namespace, name)."""
    api = client(ctx)
    found = []
    for resource, kind in KINDS:
        for obj in api.list(resource, label_selector=BOOTSTRAP_LABEL):
            found.append((resource, kind, obj["metadata"].get("namespace"), obj["metadata"]["name"]))
    return found


def delete(ctx: Context, objects: list[tuple[str, str, str | None, str]]) -> None:
    api = client(ctx)
    for resource, _kind, namespace, name in objects:
        api.delete(resource, name, namespace)


def disable(ctx: Context) -> None:
    print("Disabling RBAC")
    print("Reconfiguring apiserver")
    refresh_option(ctx, "kube-apiserver", "authorization-mode", DEFAULT_MODE)
    restart_apiserver(ctx)
    wait_for_api(ctx)
    print("Removing default RBAC resources")
    try:
        objects = bootstrap_objects(ctx)
        if not objects:
            print("error: no objects passed to delete", file=sys.stderr)
            raise Failed(1)
        delete(ctx, objects)
    except OSError as error:
        raise datastore.DatastoreError(str(error)) from error
    except kubeclient.ApiError as error:
        print(f"Error from server ({error.reason}): {error.message}", file=sys.stderr)
        raise Failed(1) from error
    for _resource, kind, _namespace, name in objects:
        print(f'{kind}.rbac.authorization.k8s.io "{name}" deleted')
    print("RBAC is disabled")
