#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: admin_kubeconfig
short_description: Bring the cluster's admin kubeconfig from a control-plane node to the controller
version_added: "0.3.0"
description:
  - Runs C(microk8s config) on the target (delegate it to a control-plane node), checks that it printed a kubeconfig
    and writes it on the controller, in one task; the kubeconfig's text never appears in the result.
  - Without O(dest), a new private temporary file (mode 0600) for this run; remove it when done (the kubeconfig
    role's C(tasks_from=cleanup)). With O(dest), a kept file (mode 0600, its directory 0700), rewritten only when it
    differs.
  - Sets the fact C(kubeconfig_path), for C(kubernetes.core) modules run with C(delegate_to=localhost).
  - With O(state=absent), removes the temporary file O(path) names, on the controller only (no node is contacted);
    a path that is not one of its temporary files is refused.
  - An action plugin; the kubeconfig is a cluster-admin credential (C(system:masters)).
options:
  server_host:
    description:
      - Host to put in the kubeconfig's server URL instead of the one C(microk8s config) prints (the API's virtual
        IP); the port is kept. Empty keeps the URL as printed.
    type: str
    default: ""
  dest:
    description: Path on the controller to keep the kubeconfig at. Empty writes a temporary file.
    type: str
    default: ""
  state:
    description: C(present) brings the kubeconfig; C(absent) removes the temporary one at O(path).
    type: str
    choices: [present, absent]
    default: present
  path:
    description: With O(state=absent), the temporary kubeconfig to remove (the fact C(kubeconfig_path)).
    type: str
    default: ""
extends_documentation_fragment:
  - onprem.microk8s.attributes
attributes:
  check_mode:
    support: full
    details:
      - The kubeconfig is read in check mode too; a temporary file is written (scratch space), a kept one is not.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A kept file is rewritten only when its text or mode differs; a temporary file is never reported changed.
notes:
  - Runs only as an action plugin (the controller writes the file); the module file holds its documentation.
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Get the admin kubeconfig for this run
  onprem.microk8s.admin_kubeconfig:
    server_host: "{{ onprem_api_vip }}"
  delegate_to: "{{ groups['masters'][0] }}"
  run_once: true
  become: true

- name: Remove it when done
  onprem.microk8s.admin_kubeconfig:
    state: absent
    path: "{{ kubeconfig_path }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: Where the kubeconfig was written on the controller.
  type: str
  returned: success
  sample: /tmp/tmpk3x9v2a1.kubeconfig
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "server_host": {"type": "str", "default": ""},
            "dest": {"type": "str", "default": ""},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "path": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    module.fail_json(msg="onprem.microk8s.admin_kubeconfig runs as an action plugin, on the controller")


if __name__ == "__main__":
    main()
