# SPDX-License-Identifier: GPL-3.0-or-later
"""Make `ansible_collections.onprem.microk8s` importable when the unit tests run under plain pytest.

ansible-test units runs from a checkout under .../ansible_collections/onprem/microk8s and needs nothing; plain
pytest from a clone gets a temporary ansible_collections tree whose onprem/microk8s links to the checkout.
"""

from __future__ import annotations

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _expose_collection():
    try:
        import ansible_collections.onprem.microk8s  # noqa: F401
    except ImportError:
        base = tempfile.mkdtemp(prefix="onprem-microk8s-units-")
        os.makedirs(os.path.join(base, "ansible_collections", "onprem"))
        os.symlink(ROOT, os.path.join(base, "ansible_collections", "onprem", "microk8s"))
        sys.path.insert(0, base)


_expose_collection()
