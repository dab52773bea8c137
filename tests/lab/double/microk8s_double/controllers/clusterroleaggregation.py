# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-controller-manager's clusterrole-aggregation controller: a ClusterRole with an `aggregationRule` gets the
rules of the ClusterRoles its `clusterRoleSelectors` match (auth/rbac.py `aggregate`), e.g. `admin`, `edit` and
`view` from the `rbac.authorization.k8s.io/aggregate-to-*` labelled roles, the bootstrap ones and any added later.
Runs on the lease holder whenever ClusterRoles change (kubelite wakes the controllers on them)."""

from __future__ import annotations

from ..auth import rbac
from ..kubeclient import ApiError, KubeClient


def sync(client: KubeClient) -> None:
    roles = client.list("clusterroles")
    current = {role["metadata"]["name"]: role for role in roles}
    for name, rules in rbac.aggregate(roles).items():
        try:
            client.update("clusterroles", dict(current[name], rules=rules))
        except ApiError as error:
            if error.status not in (404, 409):  # deleted or changed meanwhile: the next round sees it
                raise
