# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller_file lookup answers as the stat and slurp module runs it replaces (inference_service's artifacts)."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader

from ansible_collections.onprem.microk8s.plugins.lookup.controller_file import describe


def lookup(*paths, **options):
    """The lookup as a task calls it: loaded by Ansible's plugin loader, which reads its options from DOCUMENTATION."""
    lookup_loader.add_directory(os.path.dirname(describe.__code__.co_filename))
    return lookup_loader.get("controller_file").run(list(paths), variables={}, **options)


BYTES = bytes(range(256)) * 3  # binary, not UTF-8: ansible.builtin.file could not read it


def test_a_binary_file_reports_size_sha256_and_base64_bytes(tmp_path):
    model = tmp_path / "digits-v1.joblib"
    model.write_bytes(BYTES)
    (found,) = lookup(str(model), checksum=True, content=True)
    assert found == {
        "path": str(model),
        "exists": True,
        "isreg": True,
        "size": len(BYTES),
        "checksum": hashlib.sha256(BYTES).hexdigest(),
        "content": base64.b64encode(BYTES).decode(),
    }


def test_nothing_is_read_unless_asked(tmp_path):
    model = tmp_path / "m.joblib"
    model.write_bytes(BYTES)
    (found,) = lookup(str(model))
    assert "checksum" not in found and "content" not in found and found["size"] == len(BYTES)


def test_a_missing_path_and_a_directory_are_reported_not_raised(tmp_path):
    missing, directory = [describe(str(tmp_path / "absent"), checksum=True), describe(str(tmp_path), checksum=True)]
    assert missing == {"path": str(tmp_path / "absent"), "exists": False, "isreg": False}
    assert directory["exists"] and not directory["isreg"] and "checksum" not in directory


def test_a_relative_path_is_taken_from_the_current_directory_and_home_is_expanded(tmp_path, monkeypatch):
    (tmp_path / "rel.bin").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    relative, home = [describe("rel.bin", checksum=True), describe("~/rel.bin", checksum=True)]
    assert relative["exists"] and home["exists"] and home["path"] == str(tmp_path / "rel.bin")
    assert relative["checksum"] == home["checksum"] == hashlib.sha256(b"x").hexdigest()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a 0000 file")
def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    secret = tmp_path / "m.joblib"
    secret.write_bytes(b"x")
    secret.chmod(0)
    with pytest.raises(AnsibleLookupError, match=r"m\.joblib"):
        describe(str(secret), checksum=True)
