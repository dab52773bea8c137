# SPDX-License-Identifier: GPL-3.0-or-later
"""CertificateSigningRequests (certificates.k8s.io/v1): the API's validation (pkg/apis/certificates/validation), the
CertificateSubjectRestriction admission, and the kube-apiserver-client signer of kube-controller-manager's
csrsigning controller (pkg/controller/certificates/signer, authority/policies.go): approved requests for
`kubernetes.io/kube-apiserver-client` are signed with the cluster CA (`--cluster-signing-cert-file` /
`--cluster-signing-key-file`) for min(spec.expirationSeconds, `--cluster-signing-duration` (8760h)), NotBefore
backdated 5 minutes (NotAfter too when the duration is 8 h or more), capped at the CA's own NotAfter; usages become
keyUsage / extendedKeyUsage. Usages the signer refuses fail the request (condition Failed, SignerValidationFailure).
Simplified: subjectAltNames of the request are not copied; other signers are left pending.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import secrets
import subprocess
import tempfile
from pathlib import Path

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
BACKDATE = datetime.timedelta(minutes=5)
SHORT = datetime.timedelta(hours=8)
MIN_SECONDS = 600
USAGES = sorted(
    ["signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment",
     "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing",
     "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
     "microsoft sgc", "netscape sgc"]
)  # fmt: skip
KEY_USAGES = {"digital signature": "digitalSignature", "key encipherment": "keyEncipherment",
              "content commitment": "nonRepudiation", "signing": "digitalSignature"}  # fmt: skip
PEM_ERROR = "PEM block type must be CERTIFICATE REQUEST"


def go_bytes(data: bytes) -> str:
    """Go's %#v of a []byte, as field.Invalid prints a byte value."""
    return "[]byte{" + ", ".join(f"0x{b:x}" for b in data) + "}"


def request_bytes(spec: dict) -> bytes:
    try:
        return base64.b64decode(spec.get("request") or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def parse_request(data: bytes) -> dict | None:
    """The request's subject (`CN`, `O` lists) when it is one PEM CERTIFICATE REQUEST that openssl reads, else None."""
    text = data.decode("utf-8", "replace").lstrip()
    if not text.startswith("-----BEGIN CERTIFICATE REQUEST-----"):
        return None
    done = subprocess.run(["openssl", "req", "-noout", "-subject", "-nameopt", "multiline,utf8"], input=data,
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode:
        return None
    subject: dict[str, list[str]] = {"CN": [], "O": []}
    names = {"commonName": "CN", "organizationName": "O"}
    for line in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
        name, _eq, value = line.strip().partition("=")
        if name.strip() in names:
            subject[names[name.strip()]].append(value.strip())
    return subject


def errors(obj: dict) -> list[tuple[str, str, str]]:
    """validateCertificateSigningRequest: request, usages, signerName, expirationSeconds, conditions."""
    spec = obj.get("spec") or {}
    found = []
    data = request_bytes(spec)
    if parse_request(data) is None:
        found.append(("spec.request", "FieldValueInvalid", f"Invalid value: {go_bytes(data)}: {PEM_ERROR}"))
    usages = spec.get("usages") or []
    if not usages:
        found.append(("spec.usages", "FieldValueRequired", "Required value"))
    seen = set()
    for index, usage in enumerate(usages):
        if usage and usage not in USAGES:
            supported = ", ".join(f'"{u}"' for u in USAGES)
            found.append((f"spec.usages[{index}]", "FieldValueNotSupported",
                          f'Unsupported value: "{usage}": supported values: {supported}'))  # fmt: skip
        elif usage in seen:
            found.append((f"spec.usages[{index}]", "FieldValueDuplicate", f'Duplicate value: "{usage}"'))
        seen.add(usage)
    signer = spec.get("signerName") or ""
    if not signer:
        found.append(("spec.signerName", "FieldValueRequired", "Required value"))
    elif "/" not in signer or "." not in signer.split("/", 1)[0] or not signer.split("/", 1)[1]:
        found.append(("spec.signerName", "FieldValueInvalid", f'Invalid value: "{signer}": must be a fully '
                      "qualified domain and path of the form 'example.com/signer-name'"))  # fmt: skip
    seconds = spec.get("expirationSeconds")
    if seconds is not None and int(seconds) < MIN_SECONDS:
        found.append(
            (
                "spec.expirationSeconds",
                "FieldValueInvalid",
                f"Invalid value: {int(seconds)}: may not specify a duration less than 600 seconds (10 minutes)",
            )
        )
    types = [c.get("type") for c in (obj.get("status") or {}).get("conditions") or []]
    if "Approved" in types and "Denied" in types:
        found.append(("status.conditions", "FieldValueInvalid",
                      "Invalid value: ...: Approved and Denied conditions are mutually exclusive"))  # fmt: skip
    return found


def forbidden_subject(obj: dict) -> str | None:
    """CertificateSubjectRestriction: the kube-apiserver-client signer never issues system:masters."""
    spec = obj.get("spec") or {}
    if spec.get("signerName") != CLIENT_SIGNER:
        return None
    subject = parse_request(request_bytes(spec)) or {}
    if "system:masters" in subject.get("O", []):
        return f"use of {CLIENT_SIGNER} signer with system:masters group is not allowed"
    return None


def signer_error(usages: list[str]) -> str | None:
    """validAPIServerClientUsages."""
    has_client_auth = False
    for usage in usages:
        if usage in ("digital signature", "key encipherment"):
            continue
        if usage == "client auth":
            has_client_auth = True
            continue
        return f"invalid usage for client certificate: {usage}"
    return None if has_client_auth else "missing required usage for client certificate: client auth"


def condition(obj: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status", "True") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])  # fmt: skip


def duration(cert_ttl: float, expiration_seconds) -> float:
    """signer.go `duration`: the request's expirationSeconds, at least 10 minutes, at most the signer's TTL."""
    if expiration_seconds is None:
        return cert_ttl
    return min(cert_ttl, max(float(expiration_seconds), float(MIN_SECONDS)))


def utc_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def ca_not_after(ca_crt: Path) -> datetime.datetime:
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(ca_crt)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    moment = datetime.datetime.strptime(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return moment.replace(tzinfo=datetime.timezone.utc)


def sign(request_pem: bytes, usages: list[str], seconds: float, ca_crt: Path, ca_key: Path,
         now: datetime.datetime | None = None) -> str:  # fmt: skip
    """The certificate (PEM) the signer issues for a request."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ttl = datetime.timedelta(seconds=seconds)
    not_before = now - BACKDATE
    not_after = now + ttl if ttl < SHORT else not_before + ttl
    not_after = min(not_after, ca_not_after(ca_crt))
    key_usage = ["critical", *sorted({KEY_USAGES[u] for u in usages if u in KEY_USAGES} or {"digitalSignature"})]
    extended = ["clientAuth"] if "client auth" in usages else []
    with tempfile.TemporaryDirectory() as work:
        base = Path(work)
        (base / "index.txt").write_text("")
        (base / "serial").write_text(secrets.token_hex(16) + "\n")
        (base / "req.pem").write_bytes(request_pem)
        (base / "ca.conf").write_text(
            "[ ca ]\ndefault_ca = signer\n[ signer ]\n"
            f"database = {base}/index.txt\nnew_certs_dir = {base}\nserial = {base}/serial\n"
            "default_md = sha256\npolicy = any\npreserve = yes\nunique_subject = no\nemail_in_dn = no\n"
            "copy_extensions = none\n"
            "[ any ]\ncountryName = optional\nstateOrProvinceName = optional\nlocalityName = optional\n"
            "organizationName = optional\norganizationalUnitName = optional\ncommonName = optional\n"
            "emailAddress = optional\n"
            "[ issued ]\nbasicConstraints = critical,CA:FALSE\n"
            f"keyUsage = {','.join(key_usage)}\n"
            + (f"extendedKeyUsage = {','.join(extended)}\n" if extended else "")
            + "authorityKeyIdentifier = keyid\n"
        )
        subprocess.run(
            ["openssl", "ca", "-batch", "-notext", "-config", str(base / "ca.conf"), "-extensions", "issued",
             "-cert", str(ca_crt), "-keyfile", str(ca_key), "-in", str(base / "req.pem"), "-out", str(base / "out"),
             "-startdate", utc_text(not_before), "-enddate", utc_text(not_after)],
            capture_output=True, check=True,
        )  # fmt: skip
        return (base / "out").read_text()
