# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared C(attributes) documentation for the modules of onprem.microk8s."""

from __future__ import annotations


class ModuleDocFragment:
    # The standard attributes; each module states its own `support:` level for them.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    # For modules that only read state; use together with the standard fragment.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

    ACTIONGROUP_MICROK8S = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/onprem.microk8s.microk8s) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - onprem.microk8s.microk8s
"""
