# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's defaults and meta/argument_specs.yml agree: same variables, same defaults, role-prefixed names
(or `onprem_`, the collection-wide vocabulary: the inventory group names every role and playbook shares)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

SHARED_PREFIX = "onprem_"
ALL_ROLES = pathlib.Path(__file__).parents[3] / "roles"
# The `onprem` role only carries the shared defaults every role depends on; it has no argument specs, so that each
# play does not validate it again (a task per host per play on the no-op path).
ROLES = sorted(p for p in ALL_ROLES.iterdir() if (p / "meta" / "argument_specs.yml").is_file())


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


def test_the_shared_role_holds_only_collection_wide_names():
    defaults = _load(ALL_ROLES / "onprem" / "defaults" / "main.yml")
    assert defaults and all(name.startswith("onprem_") for name in defaults)
    assert all(name.startswith("onprem_") for name in _load(ALL_ROLES / "onprem" / "vars" / "main.yml"))
    # no entry point of its own (nothing runs where it is a dependency); what the others share are reads
    assert not (ALL_ROLES / "onprem" / "tasks" / "main.yml").exists()
    for tasks in (ALL_ROLES / "onprem" / "tasks").glob("*.yml"):
        for task in _load(tasks):
            reads = {"onprem.microk8s.microk8s_status", "ansible.builtin.setup"}
            assert reads & set(task), "%s: %s is not a read" % (tasks.name, task["name"])
