# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/cluster_access.yml refuses bad people, robots and revocations before it touches anything.

Every "node" is this machine over the local connection: no MicroK8s is needed, because the input check is the
role's first task; the lab's tests/lab/scenarios/test_access.py covers the rest.
"""

from __future__ import annotations

import os
import sys

import pytest
from test_preflight_local import _changed, _failure_messages, _inventory, _run


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


ALICE = {"name": "alice", "role": "namespace-admin", "namespaces": ["team-a"]}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"cluster_access_users": [{**ALICE, "ttl": "400d"}]}, "ttl 400d is out of range (10m to 365d)"),
        (
            {"cluster_access_users": [ALICE], "cluster_access_revoked": ["alice"]},
            "'alice' is in cluster_access_revoked and still listed",
        ),
        (
            {
                "cluster_access_users": [ALICE],
                "cluster_access_robots": [{"name": "alice", "role": "deployer", "namespaces": ["team-a"]}],
            },
            "the name 'alice' is given more than once",
        ),
        ({"cluster_access_users": [{**ALICE, "groups": ["system:masters"]}]}, "system:masters can never be reduced"),
        (
            {"cluster_access_users": [ALICE], "cluster_access_renew_fraction": 1.5},
            "cluster_access_renew_fraction must be between 0 and 1",
        ),
    ],
    ids=["ttl", "revoked-still-listed", "name-clash", "system-masters", "renew-fraction"],
)
def test_bad_input_stops_before_any_change(tmp_path, extra, expected):
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], extra), playbook="playbooks/cluster_access.yml")
    assert run.rc != 0
    messages = _failure_messages(run)
    assert any(expected in message for message in messages), messages
    assert _changed(run) == 0


def test_an_unknown_role_template_is_refused_by_the_argument_specs(tmp_path):
    extra = {"cluster_access_users": [{**ALICE, "role": "owner"}]}
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], extra), playbook="playbooks/cluster_access.yml")
    assert run.rc != 0
    assert any("owner" in message and "namespace-admin" in message for message in _failure_messages(run))
    assert _changed(run) == 0


def _csr(path, common_name, organisations):
    """A PEM CSR for common_name with the organisations given, as a person would hand it in."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    names += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation) for organisation in organisations]
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
    path.write_bytes(request.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_a_handed_in_csr_for_someone_else_stops_before_any_change(tmp_path):
    """A CSR a person hands in must name that person (CN) and exactly their groups (O): one naming someone else is
    refused on the controller before the cluster is read or anything changes."""
    csr = _csr(tmp_path / "alice.csr", "mallory", [])
    extra = {"cluster_access_users": [{**ALICE, "csr": csr}]}
    run = _run(tmp_path, _inventory(tmp_path, ["pc1"], extra), playbook="playbooks/cluster_access.yml")
    assert run.rc != 0
    # the check loops over the CSRs: each refused one is a failed item with its own message
    messages = [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_item_on_failed"]
    assert any(f"The CSR {csr} of alice must ask for CN=alice" in message for message in messages), messages
    assert _changed(run) == 0
