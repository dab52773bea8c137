# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication: the bearer token of `credentials/known_tokens.csv` (the admin kubeconfig's token)."""

from __future__ import annotations

from .. import certs, wire
from ..node import Node
from . import User


def authenticate(node: Node, request: wire.Request) -> User | None:
    """The user behind the request, or None (401)."""
    if request.headers.get("Authorization", "") == f"Bearer {certs.admin_token(node)}":
        return User("admin", ("system:masters", "system:authenticated"))
    return None
