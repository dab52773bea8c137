#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: microk8s_status
short_description: Report the state of MicroK8s on this node
version_added: "0.1.0"
description:
  - Reads C(snap list microk8s) and C(microk8s status --format yaml) and reports whether MicroK8s runs and is
    ready, the node's role, the datastore (dqlite) members, high availability and the addons.
  - A node that is not ready within O(timeout) is not a failure; the module reports RV(ready=false). So is a stopped
    node (RV(state=stopped)) and a worker node, which answers with a text instead of a report (RV(role=worker)).
  - Fails when MicroK8s is not installed, and when the user may not use it (run the task with C(become)).
options:
  wait_ready:
    description:
      - Wait up to O(timeout) seconds for the node to become ready (C(microk8s status --wait-ready)).
      - With V(false) the module reports the state as it is now.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for readiness when O(wait_ready=true); at least 1.
    type: int
    default: 300
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.info_module
  - onprem.microk8s.attributes.actiongroup_microk8s
notes:
  - Works with MicroK8s 1.20 to 1.36. Up to 1.27 C(microk8s status) exits 0 when the node is not ready, from 1.28 it
    exits 1; the module reads the report, not the exit code, so both give RV(ready=false).
  - Addons carry their repository (C(core), C(community)) from 1.24; before, RV(addons[].repository) is null and
    RV(enabled_addons) holds bare names.
  - MicroK8s decides that an addon is enabled by looking for its pods or files, so a pod named like an addon's
    (for example C(coredns-...)) can make it appear enabled.
seealso:
  - module: onprem.microk8s.microk8s_addon
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Wait until MicroK8s is ready (up to 10 minutes)
  onprem.microk8s.microk8s_status:
    timeout: 600
  register: microk8s
  become: true

- name: Require high availability
  ansible.builtin.assert:
    that:
      - microk8s.ready
      - microk8s.high_availability
      - microk8s.datastore.voters | length >= 3
    fail_msg: "Not HA yet: voters {{ microk8s.datastore.voters }}"

- name: Read the state without waiting
  onprem.microk8s.microk8s_status:
    wait_ready: false
  register: now
  become: true
"""

RETURN = r"""
state:
  description: The node's answer - V(running), V(not_running) (not ready), V(stopped), V(worker), V(low_memory).
  returned: always
  type: str
  sample: running
running:
  description: Whether MicroK8s runs and the node is ready. Null on a worker node, which does not report it.
  returned: always
  type: bool
  sample: true
ready:
  description: Whether the node is ready (C(service/kubernetes) exists and a node is C(Ready)). Null on a worker.
  returned: always
  type: bool
  sample: true
version:
  description: The MicroK8s version as C(snap list) prints it.
  returned: always
  type: str
  sample: v1.28.15
role:
  description: V(worker) on a node joined with C(--worker) (or a legacy non-HA node), else V(control-plane).
  returned: always
  type: str
  sample: control-plane
high_availability:
  description: Whether the datastore has more than two voters, as MicroK8s defines HA.
  returned: always
  type: bool
  sample: true
member:
  description:
    - Whether this node is part of a multi-node cluster - a worker, or a control-plane node whose datastore lists
      another member. A lone node (only itself in its datastore) is not a member.
    - The one answer the collection's roles use for "is this node in the cluster".
  returned: always
  type: bool
  sample: true
expected_voters:
  description:
    - How many datastore voters a healthy cluster keeps for the control-plane nodes this node sees (its datastore's
      voters, standbys and spares) - 1 for one or two control-plane nodes, 3 from three on (go-dqlite's defaults).
    - Null on a worker, a stopped node, or when the datastore did not answer.
    - Compare it with RV(datastore.voters) to see whether a voter is missing.
  returned: always
  type: int
  sample: 3
datastore:
  description: The dqlite members, as C(host:19001) addresses, by role. Empty lists when unknown (not a
    control-plane node, ha-cluster disabled, or dqlite did not answer).
  returned: always
  type: dict
  contains:
    voters:
      description: Voting members.
      type: list
      elements: str
    standby:
      description: Standby members (replicate, do not vote).
      type: list
      elements: str
    spare:
      description: Spare members.
      type: list
      elements: str
  sample: {"voters": ["10.77.0.11:19001", "10.77.0.12:19001", "10.77.0.13:19001"], "standby": [], "spare": []}
addons:
  description: Every addon MicroK8s knows, with its status. Empty when the node is not ready.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Addon name.
      type: str
    repository:
      description: Addon repository (1.24+), null before.
      type: str
    status:
      description: V(enabled) or V(disabled).
      type: str
    description:
      description: Description MicroK8s prints.
      type: str
    version:
      description: Version MicroK8s prints; may be empty.
      type: str
  sample: [{"name": "dns", "repository": "core", "status": "enabled", "description": "CoreDNS", "version": "1.10.1"}]
enabled_addons:
  description: Names of the enabled addons, as C(repo/name) from 1.24.
  returned: always
  type: list
  elements: str
  sample: ["core/dns", "core/ha-cluster"]
message:
  description: What MicroK8s said when it did not report (not ready, stopped, worker); empty otherwise.
  returned: always
  type: str
  sample: ""
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import Microk8sError, run_module, status_report


def read_status(module):
    def work(runner):
        if module.params["timeout"] < 1:
            raise Microk8sError("timeout must be at least 1 second (microk8s reads 0 as wait forever)")
        result = status_report(runner, wait_ready=module.params["wait_ready"], timeout=module.params["timeout"])
        return dict(result, changed=False)

    return work


def main():
    module = AnsibleModule(
        argument_spec=dict(
            wait_ready=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    run_module(module, read_status(module))


if __name__ == "__main__":
    main()
