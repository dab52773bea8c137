# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings of the double itself (timings, addresses for several nodes on one host), never of MicroK8s."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_FILE = "/etc/microk8s-double.conf"

DEFAULTS = {
    "rebalance_interval": 30,
    "node_grace_period": 40,
    "heartbeat_interval": 10,
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
