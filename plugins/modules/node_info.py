#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: node_info
short_description: Read in one go what preparing a MicroK8s node needs to know
version_added: "0.2.0"
description:
  - Reads the installed snaps (C(snap list)), the snap refresh hold, whether ufw is installed, the node's memory and
    clock, the owner and mode of the staging directory and each of its parents, and how the node resolves the
    other nodes' names. Changes nothing.
  - The microk8s_node role plans from this one answer, so a re-run with nothing to do runs no other probe.
options:
  staging_dir:
    description: The staging directory whose owner and mode (and its parents') are reported; it may not exist.
    type: path
    required: true
  resolve:
    description: Host names to resolve to their first IPv4 address, as C(getent ahostsv4) would.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.info_module
notes:
  - Runs C(snap) with the C locale, stdin closed and a timeout (the collection's runner).
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Read the node
  onprem.microk8s.node_info:
    staging_dir: /var/lib/onprem-microk8s
    resolve: [node2, node3]
  register: node
  become: true
"""

RETURN = r"""
snapd:
  description: Whether the C(snap) command exists.
  returned: always
  type: bool
  sample: true
snaps:
  description: The installed snaps by name, as C(snap list) prints them.
  returned: always
  type: dict
  sample: {"microk8s": {"name": "microk8s", "version": "v1.32.3", "revision": "7967", "tracking": "1.32/stable",
           "publisher": "canonical**", "notes": "classic"}}
refresh_hold:
  description: The value of C(snap get system refresh.hold); empty when unset.
  returned: always
  type: str
  sample: "2027-02-27T10:00:00Z"
ufw:
  description: Whether ufw is installed.
  returned: always
  type: bool
  sample: false
memory_mb:
  description: Total memory in MB (C(MemTotal) of C(/proc/meminfo)).
  returned: always
  type: int
  sample: 7853
clock:
  description: The node's clock, seconds since the epoch.
  returned: always
  type: float
  sample: 1795000000.5
staging:
  description: The staging directory, then each parent up to C(/), as C(lstat) sees them.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    uid:
      description: Owner's uid (null when missing).
      type: int
    mode:
      description: C(st_mode) (type and permission bits; null when missing).
      type: int
  sample: [{"path": "/var/lib/onprem-microk8s", "exists": false, "uid": null, "mode": null},
           {"path": "/var/lib", "exists": true, "uid": 0, "mode": 16877}]
resolved:
  description: Each name of O(resolve) and its first IPv4 address; empty when it does not resolve.
  returned: always
  type: dict
  sample: {"node2": "10.77.0.12"}
"""

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import Microk8sRunner


def staging_entries(path):
    """lstat of path and each of its parents up to /."""
    entries = []
    path = os.path.normpath(path)
    while True:
        try:
            st = os.lstat(path)
            entries.append({"path": path, "exists": True, "uid": st.st_uid, "mode": st.st_mode})
        except FileNotFoundError:
            entries.append({"path": path, "exists": False, "uid": None, "mode": None})
        parent = os.path.dirname(path)
        if parent == path:
            return entries
        path = parent


def memory_mb(meminfo="/proc/meminfo"):
    with open(meminfo) as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def first_ipv4(name):
    try:
        answers = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return ""
    return answers[0][4][0] if answers else ""


def read(module):
    runner = Microk8sRunner(module, timeout=60)
    snapd = bool(module.get_bin_path("snap", opt_dirs=["/usr/bin", "/snap/bin"]))
    snaps, hold = {}, ""
    if snapd:
        rc, out, _err = runner.run(["list"], program="snap", check=False)
        snaps = parsers.parse_snap_list(out) if rc == 0 else {}
        rc, out, _err = runner.run(["get", "system", "refresh.hold"], program="snap", check=False)
        hold = out.strip() if rc == 0 else ""
    return {
        "changed": False,
        "snapd": snapd,
        "snaps": snaps,
        "refresh_hold": hold,
        "ufw": bool(module.get_bin_path("ufw", opt_dirs=["/usr/sbin", "/sbin"])),
        "memory_mb": memory_mb(),
        "clock": time.time(),
        "staging": staging_entries(module.params["staging_dir"]),
        "resolved": {name: first_ipv4(name) for name in module.params["resolve"]},
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            staging_dir=dict(type="path", required=True),
            resolve=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**read(module))


if __name__ == "__main__":
    main()
