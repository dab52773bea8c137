# SPDX-License-Identifier: GPL-3.0-or-later
"""What a workload controller decides, as data: the controllers are pure functions from objects to actions and
`apply` is the one place that sends them to the API server (so the suite checks decisions without a server)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .. import kubeclient
from ..api import resources


@dataclass(frozen=True)
class Action:
    verb: str  # create | patch | status (merge patch of /status) | delete | bind
    resource: str  # plural: pods, replicasets, deployments
    namespace: str | None
    name: str
    body: dict = field(default_factory=dict)


def status_update(resource: str, obj: dict, wanted: dict) -> list[Action]:
    """A merge patch of /status turning the object's status into `wanted` (keys it drops set to null); none if same."""
    current = obj.get("status") or {}
    if current == wanted:
        return []
    body = dict(wanted, **{key: None for key in current if key not in wanted})
    meta = obj["metadata"]
    return [Action("status", resource, meta.get("namespace"), meta["name"], {"status": body})]


def apply(client: kubeclient.KubeClient, actions: list[Action]) -> None:
    """Send each action; one that fails (conflict, gone, invalid) is logged and retried by the next round."""
    for action in actions:
        try:
            send(client, action)
        except kubeclient.ApiError as error:
            if error.status != 404:
                print(f"{action.verb} {action.resource}/{action.name}: {error}", file=sys.stderr, flush=True)


def send(client: kubeclient.KubeClient, action: Action) -> None:
    if action.verb == "create":
        client.create(action.resource, action.body, namespace=action.namespace)
    elif action.verb == "patch":
        client.patch(action.resource, action.name, action.body, namespace=action.namespace)
    elif action.verb == "status":
        client.patch(action.resource, action.name, action.body, namespace=action.namespace, subresource="status")
    elif action.verb == "delete" and action.body:  # with DeleteOptions (e.g. gracePeriodSeconds 0)
        client.request("DELETE", resources.find(action.resource).path(action.namespace, action.name), action.body)
    elif action.verb == "delete":
        client.delete(action.resource, action.name, namespace=action.namespace)
    elif action.verb == "bind":
        path = resources.find("pods").path(action.namespace, action.name, "binding")
        client.request("POST", path, action.body)
    else:
        raise ValueError(f"unknown action verb {action.verb}")
