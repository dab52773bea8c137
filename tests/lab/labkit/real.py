# SPDX-License-Identifier: GPL-3.0-or-later
"""The real backend (Ubuntu containers, microk8s from the snap store): documented, not run on this machine."""

from __future__ import annotations

NOT_HERE = (
    "--backend real needs internet access (Ubuntu images, the snap store) and is not implemented by lab.py; "
    "follow 'Real backend' in tests/lab/README.md"
)
