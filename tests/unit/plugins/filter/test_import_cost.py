# SPDX-License-Identifier: GPL-3.0-or-later
"""To find one filter by name, ansible-core imports every filter file of the collection, in the worker process of each
task that uses one (ansible/plugins/loader.py, Jinja2Loader.get_with_context; 2.19). What those files import at the top
is paid on every such task: the heavy libraries one filter needs are imported inside that filter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("cryptography", "tarfile", "lzma", "bz2")

# In a fresh interpreter holding what a worker process already has (Ansible's templating), import every filter file
# the way the loader finds them and print the modules that came with them.
PROBE = """
import importlib, json, pkgutil, sys
import ansible.errors, ansible.template, yaml
before = set(sys.modules)
import ansible_collections.onprem.microk8s.plugins.filter as filters
names = [name for _, name, ispkg in pkgutil.iter_modules(filters.__path__, filters.__name__ + ".") if not ispkg]
for name in names:
    importlib.import_module(name).FilterModule().filters()
print(json.dumps({"files": names, "new": sorted(set(sys.modules) - before)}))
"""


@pytest.fixture(scope="module")
def imported():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


def test_the_probe_imports_the_collections_filter_files(imported):
    assert any(name.endswith(".tls_ingress") for name in imported["files"])
    assert any(name.endswith(".plans") for name in imported["files"])


@pytest.mark.parametrize("library", HEAVY)
def test_importing_every_filter_file_leaves_heavy_libraries_out(imported, library):
    assert not [name for name in imported["new"] if name == library or name.startswith(library + ".")]


def test_the_filters_that_need_them_still_work(tmp_path):
    from ansible_collections.onprem.microk8s.plugins.filter.plans import image_archive
    from ansible_collections.onprem.microk8s.plugins.filter.tls_ingress import crl_current

    assert crl_current("not a CRL", "issuer", []) is False
    with pytest.raises(ValueError, match="on the controller"):
        image_archive(str(tmp_path / "missing.tar"))
