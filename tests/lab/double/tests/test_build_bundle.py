# SPDX-License-Identifier: GPL-3.0-or-later
"""The snap carries the libraries of the ACME issuer (certbot's acme, dnspython and what they require): the node's
Debian python3 imports them from $SNAP/lib with nothing else installed (-P, only PYTHONPATH)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DOUBLE

_spec = importlib.util.spec_from_file_location("double_build", DOUBLE / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
SYSTEM_PYTHON = Path("/usr/bin/python3")


def test_the_closure_holds_the_acme_client_dnspython_and_their_requirements():
    names = {d.metadata["Name"].lower() for d in build.bundle_closure()}
    assert {"acme", "josepy", "dnspython", "cryptography", "pyopenssl", "requests", "urllib3"} <= names
    assert "pytest" not in names  # extras (acme[test]) are left out


def minor(python: Path) -> str:
    done = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.mark.skipif(
    not SYSTEM_PYTHON.exists() or minor(SYSTEM_PYTHON) != str(sys.version_info[:2]),
    reason="the node's Python (Debian's python3) of the building Python's minor version is not on this host",
)
def test_the_bundled_libraries_import_under_the_system_python_alone(tmp_path):
    (tmp_path / "lib").mkdir()
    build.bundle(tmp_path)
    code = "import acme.client, josepy, dns.update, dns.tsigkeyring, OpenSSL, requests; print(acme.client.__file__)"
    done = subprocess.run([str(SYSTEM_PYTHON), "-P", "-S", "-c", code], env={"PYTHONPATH": str(tmp_path / "lib")},
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(tmp_path / "lib"))


def test_the_snap_ships_valid_bytecode_for_every_module(tmp_path):
    """$SNAP is read-only: without bytecode shipped beside the sources, every `microk8s` command and daemon start
    would compile them again. Each module's .pyc is there and valid for its source (timestamp pyc: size and mtime)."""
    build.stage_microk8s(build.profiles.for_track("1.28"), tmp_path)
    sources = sorted((tmp_path / "lib").rglob("*.py"))
    assert any(path.parent.name == "microk8s_double" for path in sources)
    stale = []
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        header = cached.read_bytes()[:16] if cached.exists() else b""
        stat = source.stat()
        expected = (
            importlib.util.MAGIC_NUMBER
            + bytes(4)
            + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        )
        if header != expected:
            stale.append(str(source.relative_to(tmp_path)))
    assert stale == []
