# SPDX-License-Identifier: GPL-3.0-or-later
"""Load the storage roles' scripts (roles/*/files) as modules for the unit tests."""

from __future__ import annotations

import importlib.util
import pathlib

ROLES = pathlib.Path(__file__).parents[2] / "roles"


def load(role, name):
    spec = importlib.util.spec_from_file_location(role + "_" + name, ROLES / role / "files" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
