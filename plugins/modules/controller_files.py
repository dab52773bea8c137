#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: controller_files
short_description: Private directories and files on the controller, several in one task
version_added: "0.3.0"
description:
  - Makes directories (mode 0700) and writes files (mode 0600 unless said) on the Ansible controller, each only when
    it is missing or its content or mode differs; a file is replaced atomically (written beside it, then renamed).
  - For what the roles keep on the controller (device certificates and keys, CA bundles) in one task instead of a
    loop of M(ansible.builtin.copy); mark the task C(no_log) when a content is a secret.
  - An action plugin; it runs on the controller whatever the task's host is.
options:
  directories:
    description: Directories to make, with their parents; each is left (or set) at mode 0700.
    type: list
    elements: path
    default: []
  files:
    description: Files to write; their directories must exist or be listed in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Where the file goes.
        type: path
        required: true
      content:
        description: Its text (UTF-8). One of O(files[].content) and O(files[].content_base64) is required.
        type: str
      content_base64:
        description: Its bytes, base64-encoded (binary files such as a DER certificate).
        type: str
      mode:
        description: Octal mode; group and others may at most read (V(0644)).
        type: str
        default: "0600"
extends_documentation_fragment:
  - onprem.microk8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - Runs only as an action plugin (the controller writes the files); the module file holds its documentation.
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Keep the trust bundle on the controller
  onprem.microk8s.controller_files:
    directories: [trust]
    files:
      - {path: trust/ca.pem, content: "{{ ca_pem }}", mode: "0644"}
  delegate_to: localhost
"""

RETURN = r"""
changed_paths:
  description: The directories and files that were (or in check mode would be) made or rewritten.
  type: list
  elements: str
  returned: success
  sample: [trust/ca.pem]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils._controller_files import SPEC


def main():
    module = AnsibleModule(
        argument_spec=SPEC,
        supports_check_mode=True,
    )
    module.fail_json(msg="onprem.microk8s.controller_files runs as an action plugin, on the controller")


if __name__ == "__main__":
    main()
