# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings of the double itself (addresses for several nodes on one host, simulated delays), never of MicroK8s.
The Kubernetes timings (node monitor and grace periods, leader election, node status updates, default
tolerations) are not here: they come from the args files real MicroK8s reads (kubeargs.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_FILE = "/etc/microk8s-double.conf"

DEFAULTS = {
    "rebalance_interval": 30,  # go-dqlite's fixed RolesAdjustmentFrequency; lower only in the contract suite
    "addon_delay": 2,
    "join_wait": 10,
    "node_ip": None,
    "hostname": None,
    "snap_root": None,
    "ports": {},
}


def load() -> dict:
    """The defaults overlaid with the JSON file named by MICROK8S_DOUBLE_CONF (or /etc/microk8s-double.conf)."""
    path = Path(os.environ.get("MICROK8S_DOUBLE_CONF", DEFAULT_FILE))
    settings = dict(DEFAULTS)
    if path.is_file():
        settings.update(json.loads(path.read_text()))
    return settings
