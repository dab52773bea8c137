# SPDX-License-Identifier: GPL-3.0-or-later
"""go-dqlite's role adjustment as MicroK8s uses it (app/options.go defaults: 3 voters, 3 standbys).

An odd number of voters, at most 3: one voter until three nodes are online. Standbys only once the voters are
complete, then spares. An offline voter (or standby) is replaced by an online node of a lower rank and demoted to
spare; without a replacement it keeps its role, so status still lists it.
"""

from __future__ import annotations

from .replica import SPARE, STANDBY, VOTER

VOTERS, STANDBYS = 3, 3


def adjust(members: list[dict], online: set[int]) -> list[dict]:
    """The members with their new roles, given the IDs that answered the leader."""
    roles = {m["ID"]: m["Role"] for m in members}
    wanted_voters = min(VOTERS, len(online) if len(online) % 2 else len(online) - 1)
    _fill(roles, online, VOTER, wanted_voters, candidates=(STANDBY, SPARE))
    if sum(1 for i in online if roles[i] == VOTER) >= VOTERS:
        _fill(roles, online, STANDBY, STANDBYS, candidates=(SPARE,))
    return [dict(m, Role=roles[m["ID"]]) for m in members]


def _fill(roles: dict[int, int], online: set[int], role: int, wanted: int, candidates: tuple[int, ...]) -> None:
    """Promote online candidates (best rank, then lowest ID) until `wanted` online nodes hold `role`; each promotion
    first takes the place of an offline holder of the role, which is demoted to spare."""
    offline_holders = sorted(i for i, r in roles.items() if r == role and i not in online)
    pool = sorted((i for i in online if roles[i] in candidates), key=lambda i: (roles[i], i))
    while pool and sum(1 for i in online if roles[i] == role) < wanted:
        promoted = pool.pop(0)
        roles[promoted] = role
        if offline_holders:
            roles[offline_holders.pop(0)] = SPARE
