# SPDX-License-Identifier: GPL-3.0-or-later
"""Load the failover drill's scripts (roles/failover_drill/files) as modules for the unit tests."""

from __future__ import annotations

import importlib.util
import pathlib

FILES = pathlib.Path(__file__).parents[2] / "roles" / "failover_drill" / "files"
TEMPLATES = FILES.parent / "templates"


def load(name):
    spec = importlib.util.spec_from_file_location("failover_drill_" + name, FILES / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
