# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the device CA's CRL is current: a re-run skips signing it only when it lists exactly the revoked devices."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.onprem.microk8s.plugins.filter.tls_ingress import crl_current

ISSUER = "home.arpa device CA"
NOW = datetime.datetime(2026, 12, 4, tzinfo=datetime.timezone.utc)
KEY = ec.generate_private_key(ec.SECP256R1())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(serial):
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"device-{serial}"))
        .issuer_name(_name(ISSUER))
        .public_key(KEY.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=90))
    )
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _crl(serials, issuer=ISSUER):
    builder = x509.CertificateRevocationListBuilder().issuer_name(_name(issuer)).last_update(NOW)
    builder = builder.next_update(NOW + datetime.timedelta(days=3650))
    for serial in serials:
        revoked = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build()
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_a_crl_listing_exactly_the_revoked_certificates_is_current():
    assert crl_current(_crl([11, 12]), ISSUER, [_certificate(12), _certificate(11)])
    assert crl_current(_crl([]), ISSUER, [])


@pytest.mark.parametrize(
    ("crl", "revoked"),
    [
        ("", []),  # no CRL yet
        ("not a CRL", []),
        (_crl([11]), [_certificate(11), _certificate(12)]),  # a device revoked since: not listed yet
        (_crl([11, 12]), [_certificate(11)]),  # lists one that is no longer kept
        (_crl([11], issuer="another CA"), [_certificate(11)]),
    ],
    ids=["none", "garbage", "newly-revoked", "extra", "other-issuer"],
)
def test_anything_else_is_signed_again(crl, revoked):
    assert not crl_current(crl, ISSUER, revoked)
