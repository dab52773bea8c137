# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is asking (authn.py) and may they (authz.py): the API server's request guard, as kube-apiserver's
authentication and authorization chains."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    """user.Info: the name, groups, uid and extra an authenticator found."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # a denial: the whole 403 message
    details: dict | None = None  # a denial: the Status details (name, group, kind)
