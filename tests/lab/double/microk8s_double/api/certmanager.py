# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager's rules the double follows (jetstack/cert-manager): the webhook's Certificate validation
(internal/apis/certmanager/validation/certificate.go: duration >= 1h, renewBefore >= 5m and < duration), Go
duration texts, the renewal time (pkg/util/pki/renewaltime.go: renewBefore, renewBeforePercentage, else 1/3 of the
actual lifetime) and the CRD objects the addon installs. Pure functions: no I/O."""

from __future__ import annotations

import datetime
import re

GROUP = "cert-manager.io"
ACME_GROUP = "acme.cert-manager.io"
DEFAULT_DURATION = 90 * 24 * 3600.0  # cmapi.DefaultCertificateDuration, 2160h
MINIMUM_DURATION = 3600.0  # cmapi.MinimumCertificateDuration
MINIMUM_RENEW_BEFORE = 300.0  # cmapi.MinimumRenewBefore
WEBHOOK = "webhook.cert-manager.io"
CLUSTER_RESOURCE_NAMESPACE = "cert-manager"  # --cluster-resource-namespace: where ClusterIssuers' secrets live
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµ]*)")
CRDS = (("certificates", "Certificate", GROUP, "Namespaced", ["cert", "certs"]),
        ("certificaterequests", "CertificateRequest", GROUP, "Namespaced", ["cr", "crs"]),
        ("issuers", "Issuer", GROUP, "Namespaced", []),
        ("clusterissuers", "ClusterIssuer", GROUP, "Cluster", []),
        ("orders", "Order", ACME_GROUP, "Namespaced", []),
        ("challenges", "Challenge", ACME_GROUP, "Namespaced", []))  # fmt: skip


def parse_duration(text: object) -> float | None:
    """Go's time.ParseDuration in seconds; None when it does not parse (the API refuses such a Certificate)."""
    if not isinstance(text, str) or not text:
        return None
    rest, sign = text.lstrip("+-"), -1.0 if text.startswith("-") else 1.0
    if rest == "0":
        return 0.0
    total, position = 0.0, 0
    while position < len(rest):
        match = PART.match(rest, position)
        number, unit = match.group(1), match.group(2)
        if not number or number == "." or unit not in UNITS:
            return None
        total += float(number) * UNITS[unit]
        position = match.end()
    return sign * total if rest else None


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole seconds: `1h0m0s`, `30m0s`, `2160h0m0s`, `45s`."""
    whole = round(seconds)
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if whole < 0 else ""
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def certificate_errors(obj: dict) -> list[str]:
    """The webhook's field errors for a Certificate (`spec.duration: Invalid value: "30m0s": ...`)."""
    spec = obj.get("spec") or {}
    found = []
    if not spec.get("secretName"):
        found.append("spec.secretName: Required value: must be specified")
    if not (spec.get("issuerRef") or {}).get("name"):
        found.append("spec.issuerRef.name: Required value: must be specified")
    names = [spec.get("commonName"), *(spec.get("dnsNames") or []), *(spec.get("ipAddresses") or []),
             *(spec.get("uris") or []), *(spec.get("emailAddresses") or [])]  # fmt: skip
    if not any(names) and not spec.get("literalSubject"):
        found.append(
            'spec: Invalid value: "": at least one of commonName (from the commonName field or from a '
            "literalSubject), dnsNames, uriSANs, ipAddresses, emailSANs or otherNames must be set"
        )
    duration = DEFAULT_DURATION if spec.get("duration") is None else parse_duration(spec["duration"])
    if duration is not None and duration < MINIMUM_DURATION:
        found.append(f'spec.duration: Invalid value: "{go_duration(duration)}": certificate duration must be greater '
                     f"than {go_duration(MINIMUM_DURATION)}")  # fmt: skip
    renew = parse_duration(spec["renewBefore"]) if spec.get("renewBefore") is not None else None
    if renew is not None and renew < MINIMUM_RENEW_BEFORE:
        found.append(f'spec.renewBefore: Invalid value: "{go_duration(renew)}": certificate renewBefore must be '
                     f"greater than {go_duration(MINIMUM_RENEW_BEFORE)}")  # fmt: skip
    if renew is not None and duration is not None and duration <= renew:
        found.append(f'spec.renewBefore: Invalid value: "{go_duration(renew)}": certificate duration '
                     f"{go_duration(duration)} must be greater than renewBefore {go_duration(renew)}")  # fmt: skip
    key = spec.get("privateKey") or {}
    algorithm, size = key.get("algorithm") or "RSA", key.get("size")
    if algorithm not in ("RSA", "ECDSA", "Ed25519"):
        found.append(f'spec.privateKey.algorithm: Unsupported value: "{algorithm}": supported values: "RSA", '
                     '"ECDSA", "Ed25519"')  # fmt: skip
    elif algorithm == "RSA" and size is not None and not 2048 <= int(size) <= 8192:
        found.append(f"spec.privateKey.size: Invalid value: {size}: must be between 2048 & 8192 for rsa keyAlgorithm")
    elif algorithm == "ECDSA" and size is not None and int(size) not in (256, 384, 521):
        found.append(f"spec.privateKey.size: Unsupported value: {size}: supported values: 256, 384, 521")
    if key.get("rotationPolicy") not in (None, "Never", "Always"):
        found.append(f'spec.privateKey.rotationPolicy: Unsupported value: "{key["rotationPolicy"]}": supported '
                     'values: "Never", "Always"')  # fmt: skip
    return found


def webhook_denial(obj: dict) -> str | None:
    """The validating webhook's answer (HTTP 403) for a Certificate it refuses, else None."""
    found = certificate_errors(obj)
    if not found:
        return None
    return f'admission webhook "{WEBHOOK}" denied the request: ' + ", ".join(found)


def duration_of(spec: dict) -> float:
    parsed = parse_duration(spec.get("duration")) if spec.get("duration") is not None else None
    return DEFAULT_DURATION if parsed is None else parsed


def renewal_time(not_before: datetime.datetime, not_after: datetime.datetime, spec: dict) -> datetime.datetime:
    """pki.RenewalTime: notAfter - renewBefore; renewBeforePercentage (1.15+) of the actual lifetime; 1/3 of it
    by default or when renewBefore is not shorter than the lifetime. Truncated to the second, as the status is."""
    lifetime = (not_after - not_before).total_seconds()
    renew = parse_duration(spec.get("renewBefore")) if spec.get("renewBefore") is not None else None
    if renew is None and spec.get("renewBeforePercentage") is not None:
        renew = lifetime * int(spec["renewBeforePercentage"]) / 100
    if renew is None or renew >= lifetime:
        renew = lifetime / 3
    return (not_after - datetime.timedelta(seconds=renew)).replace(microsecond=0)


def crd_objects() -> list[dict]:
    """The addon's CustomResourceDefinitions (served v1, established; schemas left out)."""
    return [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": f"{plural}.{group}",
                          "labels": {"app": "cert-manager", "app.kubernetes.io/name": "cert-manager"}},
             "spec": {"group": group, "scope": scope,
                      "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List",
                                "categories": ["cert-manager"], **({"shortNames": short} if short else {})},
                      "versions": [{"name": "v1", "served": True, "storage": True,
                                    "subresources": {"status": {}}}]}}
            for plural, kind, group, scope, short in CRDS]  # fmt: skip
