# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helper of the api_vip role: its csr.conf.template line (cluster_checks has the address checks)."""

from __future__ import annotations

import re

_IP_LINE = re.compile(r"^IP\.(\d+)\s*=\s*(\S+)\s*$", re.MULTILINE)


def csr_ip_line(template, vip):
    """The `IP.<n> = <vip>` line for MicroK8s' csr.conf.template: the id it already has, else the next free one."""
    used = {}
    for number, value in _IP_LINE.findall(str(template)):
        used.setdefault(value, int(number))
    if vip in used:
        return "IP.%d = %s" % (used[vip], vip)
    return "IP.%d = %s" % (max([2, *used.values()]) + 1, vip)


class FilterModule:
    def filters(self):
        return {"csr_ip_line": csr_ip_line}
