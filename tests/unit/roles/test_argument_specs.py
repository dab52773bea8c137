# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's defaults and meta/argument_specs.yml agree: same variables, same defaults, role-prefixed names
(or `onprem_`, the collection-wide vocabulary: the inventory group names every role and playbook shares)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

SHARED_PREFIX = "onprem_"
ROLES = sorted(p for p in (pathlib.Path(__file__).parents[3] / "roles").iterdir() if (p / "meta").is_dir())


def _load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_match_argument_specs(role):
    defaults = _load(role / "defaults" / "main.yml") if (role / "defaults" / "main.yml").exists() else {}
    options = _load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options), "defaults and argument_specs name different variables"
    for name, value in defaults.items():
        assert name.startswith((role.name + "_", SHARED_PREFIX)), "%s is not prefixed with the role name" % name
        if isinstance(value, str) and "{{" in value:
            continue  # a templated default (derived from another role's variable) is documented in prose
        assert options[name].get("default") == value, "%s: default differs from argument_specs" % name


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_option_is_described(role):
    options = _load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert spec.get("description"), "%s has no description" % name
        assert spec.get("type"), "%s has no type" % name
