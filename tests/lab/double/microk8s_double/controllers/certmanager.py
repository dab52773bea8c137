# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager's controllers, while its CRDs are defined (the addon installs them): issuers (selfSigned, CA),
the ingress-shim, and certificates (trigger -> key -> CertificateRequest -> signed -> Secret -> readiness), with
the texts of jetstack/cert-manager (pkg/controller/certificates/{trigger,readiness,issuing}, pkg/issuer/{ca,
selfsigned}, pkg/controller/certificate-shim). Certificates are signed with the `openssl` CLI.

Timing: the lease holder runs `sync` when certificates, requests, issuers, ingresses or secrets change (kubelite
wakes the controllers on them) and at each certificate's `status.renewalTime` (`due()`), as cert-manager's
scheduled re-queue does; an Issuing=True condition written from outside (`cmctl renew`: ManuallyTriggered) is an
issuance in progress, completed at once as the issuing controller does. ACME issuers: controllers/acmeissuer.py
(pending orders wake the lease holder every second). Not modelled: Vault/Venafi, the approver policy (requests are
approved by cert-manager.io at once), failure back-off (but ACME's first hour), keystores, nameConstraints."""

from __future__ import annotations

import base64
import datetime
import secrets
import subprocess
import tempfile
import threading
from pathlib import Path

from .. import nodes
from ..api import certmanager
from ..kubeclient import ApiError, KubeClient
from . import acmeissuer

SHIM_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
COMPONENT = "cert-manager"
OPENSSL_TIME = "%Y%m%d%H%M%SZ"
_due: dict[str, float] = {}  # certificate "ns/name" -> epoch seconds of its renewal time
_due_lock = threading.Lock()
ACME_BACKOFF = datetime.timedelta(hours=1)  # a failed issuance is retried after 1h (then longer; not modelled)


class SigningError(Exception):
    pass


def due() -> float | None:
    """The earliest renewal time (epoch seconds) of the certificates seen, for kubelite's wake-up."""
    with _due_lock:
        return min(_due.values(), default=None)


def sync(client: KubeClient, node=None) -> None:
    if node is not None:
        acmeissuer.node_ip = node.ip
    reconcile(client, datetime.datetime.now(datetime.timezone.utc), rotation_default(node))


def rotation_default(node) -> str:
    """privateKey.rotationPolicy's default: Never up to cert-manager 1.17, Always from 1.18 (MicroK8s 1.34)."""
    return "Always" if node is not None and node.profile.since(34) else "Never"


# -- helpers ----------------------------------------------------------------------------------------------------
def stamp(moment: datetime.datetime) -> str:
    return nodes.stamp(moment)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(value: str | None) -> str:
    return base64.b64decode(value or "").decode(errors="replace")


def condition(kind: str, status: str, reason: str, message: str, now: datetime.datetime, generation=None,
              previous: list | None = None) -> dict:  # fmt: skip
    """A condition; lastTransitionTime kept when the status did not change."""
    old = next((c for c in previous or [] if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else stamp(now)
    found = {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}
    return found | ({"observedGeneration": generation} if generation is not None else {})


def set_status(client: KubeClient, resource: str, obj: dict, status: dict) -> dict:
    if obj.get("status") == status:
        return obj
    try:
        return client.update(resource, dict(obj, status=status), subresource="status")
    except ApiError as error:
        if error.status not in (404, 409):
            raise
        return obj


def openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise SigningError(lines[-1] if lines else "openssl failed")
    return done.stdout


def cert_field(pem: str, *fields: str) -> str:
    return openssl("x509", "-noout", *fields, data=pem.encode()).decode()


def cert_dates(pem: str) -> tuple[datetime.datetime, datetime.datetime]:
    text = cert_field(pem, "-startdate", "-enddate")
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return openssl_date(values["notBefore"]), openssl_date(values["notAfter"])


def openssl_date(text: str) -> datetime.datetime:
    """A date as `openssl x509 -startdate/-enddate` prints it (`Nov 30 20:00:00 2026 GMT`), in UTC."""
    return datetime.datetime.strptime(text.strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)


def first_cert(chain: str) -> str:
    end = "-----END CERTIFICATE-----"
    return chain.split(end, 1)[0] + end + "\n" if end in chain else ""


def all_certs(chain: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + end + "\n" for part in chain.split(end) if "BEGIN CERTIFICATE" in part]


# -- issuers ------------------------------------------------------------------------------------------------------
def issuer_state(issuer: dict, secrets_by_key: dict) -> tuple[str, str, str] | None:
    """(status, reason, message) of an issuer's Ready condition as its issuer type's Setup writes it."""
    spec = issuer.get("spec") or {}
    if "selfSigned" in spec:
        return "True", "IsReady", ""
    if "ca" in spec:
        namespace = issuer["metadata"].get("namespace") or certmanager.CLUSTER_RESOURCE_NAMESPACE
        name = (spec["ca"] or {}).get("secretName", "")
        secret = secrets_by_key.get((namespace, name))
        if secret is None:
            return "False", "ErrGetKeyPair", f'Error getting keypair for CA issuer: secrets "{name}" not found'
        try:
            verified_keypair(secret)
        except SigningError as error:
            return "False", "ErrInvalidKeyPair", f"Error getting keypair for CA issuer: {error}"
        return "True", "KeyPairVerified", "Signing CA verified"
    return None  # ACME, Vault, Venafi, external issuers: not modelled


_verified: dict[tuple, tuple[str, str] | SigningError] = {}  # (namespace, name, resourceVersion) -> outcome


def verified_keypair(secret: dict) -> tuple[str, str]:
    """ca_keypair, remembered per secret version (every controller round checks every CA issuer)."""
    meta = secret["metadata"]
    version = (meta.get("namespace"), meta.get("name"), meta.get("resourceVersion"))
    if version not in _verified:
        if len(_verified) > 256:
            _verified.clear()
        try:
            _verified[version] = ca_keypair(secret)
        except SigningError as error:
            _verified[version] = error
    found = _verified[version]
    if isinstance(found, SigningError):
        raise found
    return found


def ca_keypair(secret: dict) -> tuple[str, str]:
    data = secret.get("data") or {}
    cert, key = unb64(data.get("tls.crt")), unb64(data.get("tls.key"))
    if "BEGIN CERTIFICATE" not in cert:
        raise SigningError("error decoding certificate PEM block")
    if "PRIVATE KEY" not in key:
        raise SigningError("error decoding private key PEM block")
    if cert_field(first_cert(cert), "-pubkey") != openssl("pkey", "-pubout", data=key.encode()).decode():
        raise SigningError("error decoding cert PEM block: public key does not match private key")
    return cert, key


# -- keys and signing ---------------------------------------------------------------------------------------------
def new_key(spec: dict) -> str:
    key = spec.get("privateKey") or {}
    algorithm = key.get("algorithm") or "RSA"
    if algorithm == "ECDSA":
        curve = {256: "P-256", 384: "P-384", 521: "P-521"}[int(key.get("size") or 256)]
        args = ["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}"]
    elif algorithm == "Ed25519":
        args = ["-algorithm", "ED25519"]
    else:
        args = ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{int(key.get('size') or 2048)}"]
    pem = openssl("genpkey", *args)
    if key.get("encoding", "PKCS1") == "PKCS1" and algorithm != "Ed25519":
        pem = openssl("pkey", "-traditional", data=pem)  # RSA PRIVATE KEY / EC PRIVATE KEY, as cert-manager
    return pem.decode()


def key_matches(pem: str, spec: dict) -> bool:
    """Whether an existing key has the algorithm and size the spec asks for (rotationPolicy Never reuses it)."""
    try:
        text = openssl("pkey", "-noout", "-text", data=pem.encode()).decode()
    except SigningError:
        return False
    key = spec.get("privateKey") or {}
    algorithm = key.get("algorithm") or "RSA"
    if algorithm == "RSA":
        return f"({int(key.get('size') or 2048)} bit" in text and "Private-Key" in text and "ASN1 OID" not in text
    if algorithm == "ECDSA":
        return f"NIST CURVE: P-{int(key.get('size') or 256)}" in text
    return "ED25519" in text


def subject_of(spec: dict) -> str:
    subject = spec.get("subject") or {}
    parts = [f"/O={o}" for o in subject.get("organizations") or []]
    parts += [f"/OU={o}" for o in subject.get("organizationalUnits") or []]
    parts += [f"/C={o}" for o in subject.get("countries") or []]
    if spec.get("commonName"):
        parts.append(f"/CN={spec['commonName']}")
    return "".join(parts) or "/"


def extensions(spec: dict, self_signed: bool) -> str:
    usages = spec.get("usages") or ["digital signature", "key encipherment"]
    names = {"digital signature": "digitalSignature", "key encipherment": "keyEncipherment",
             "cert sign": "keyCertSign", "crl sign": "cRLSign", "content commitment": "nonRepudiation",
             "key agreement": "keyAgreement", "data encipherment": "dataEncipherment"}  # fmt: skip
    extended = {"server auth": "serverAuth", "client auth": "clientAuth", "code signing": "codeSigning",
                "email protection": "emailProtection"}  # fmt: skip
    key_usage = [names[u] for u in usages if u in names]
    if spec.get("isCA") and "keyCertSign" not in key_usage:
        key_usage.append("keyCertSign")
    lines = [f"basicConstraints=critical,CA:{'TRUE' if spec.get('isCA') else 'FALSE'}",
             "subjectKeyIdentifier=hash"]  # fmt: skip
    if key_usage:
        lines.append("keyUsage=critical," + ",".join(key_usage))
    if any(u in extended for u in usages):
        lines.append("extendedKeyUsage=" + ",".join(extended[u] for u in usages if u in extended))
    if not self_signed:
        lines.append("authorityKeyIdentifier=keyid")
    sans = [f"DNS:{n}" for n in spec.get("dnsNames") or []] + [f"IP:{n}" for n in spec.get("ipAddresses") or []]
    sans += [f"URI:{n}" for n in spec.get("uris") or []] + [f"email:{n}" for n in spec.get("emailAddresses") or []]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    return "\n".join(lines) + "\n"


def csr_of(key_pem: str, spec: dict) -> str:
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "key").write_text(key_pem)
        return openssl("req", "-new", "-key", f"{work}/key", "-subj", subject_of(spec)).decode()


def sign(csr_pem: str, spec: dict, signer: tuple[str, str] | None, key_pem: str,
         not_before: datetime.datetime, not_after: datetime.datetime) -> str:  # fmt: skip
    """A certificate for the request: by the CA (cert, key) or self-signed with `key_pem` (`openssl ca`, for exact
    start and end times)."""
    with tempfile.TemporaryDirectory() as work:
        base = Path(work)
        (base / "index.txt").write_text("")
        (base / "serial").write_text(f"{secrets.randbits(127) | 1 << 126:032x}\n")  # positive, 16 bytes
        (base / "csr.pem").write_text(csr_pem)
        (base / "ext").write_text(extensions(spec, signer is None))
        if signer is None:
            (base / "ca.key").write_text(key_pem)
        else:
            (base / "ca.crt").write_text(signer[0])
            (base / "ca.key").write_text(signer[1])
        (base / "ca.cnf").write_text(
            "[ca]\ndefault_ca=d\n[d]\n"
            f"database={work}/index.txt\nnew_certs_dir={work}\nserial={work}/serial\ndefault_md=sha256\npolicy=p\n"
            "unique_subject=no\ncopy_extensions=none\n[p]\n"
        )
        args = ["ca", "-batch", "-notext", "-config", f"{work}/ca.cnf", "-in", f"{work}/csr.pem",
                "-out", f"{work}/out.pem", "-keyfile", f"{work}/ca.key", "-extfile", f"{work}/ext",
                "-startdate", not_before.strftime(OPENSSL_TIME), "-enddate", not_after.strftime(OPENSSL_TIME),
                "-preserveDN", "-md", "sha256"]  # fmt: skip
        args += ["-selfsign"] if signer is None else ["-cert", f"{work}/ca.crt"]
        if subject_of(spec) == "/":
            args += ["-subj", "/"]
        openssl(*args)
        return (base / "out.pem").read_text()


# -- the controller ------------------------------------------------------------------------------------------------
def reconcile(client: KubeClient, now: datetime.datetime, rotation: str = "Never") -> None:
    """One pass of every cert-manager controller at wall-clock time `now` (the suite passes its own clock)."""
    try:
        issuers = client.list("issuers")
        cluster_issuers = client.list("clusterissuers")
    except ApiError as error:
        if error.status == 404:  # the CRDs are not defined: cert-manager is not installed
            with _due_lock:
                _due.clear()
            return
        raise
    all_secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in client.list("secrets")}
    ready = {}
    for resource, items in (("issuers", issuers), ("clusterissuers", cluster_issuers)):
        for issuer in items:
            acme_status = None
            if "acme" in (issuer.get("spec") or {}):
                namespace = certmanager.CLUSTER_RESOURCE_NAMESPACE
                state, acme_status = acmeissuer.setup(client, issuer, all_secrets, namespace)
            else:
                state = issuer_state(issuer, all_secrets)
            kind = "Issuer" if resource == "issuers" else "ClusterIssuer"
            ready[(kind, issuer["metadata"].get("namespace"), issuer["metadata"]["name"])] = (issuer, state)
            if state is not None:
                previous = (issuer.get("status") or {}).get("conditions")
                cond = condition("Ready", *state, now, issuer["metadata"].get("generation"), previous)
                status = dict(issuer.get("status") or {}, conditions=[cond])
                if acme_status is not None:
                    status["acme"] = acme_status
                issuer = set_status(client, resource, issuer, status)
                ready[(kind, issuer["metadata"].get("namespace"), issuer["metadata"]["name"])] = (issuer, state)
    ingresses = client.list("ingresses")
    ingress_shim(client, ingresses)
    certificates = client.list("certificates")
    requests = client.list("certificaterequests")
    collect_garbage(client, ingresses, certificates, requests)
    seen = {}
    for cert in certificates:
        key = f"{cert['metadata']['namespace']}/{cert['metadata']['name']}"
        renewal = reconcile_certificate(client, cert, now, rotation, ready, all_secrets, requests)
        if renewal is not None:
            seen[key] = renewal
    with _due_lock:
        _due.clear()
        _due.update(seen)


def issuer_ref(spec: dict) -> tuple[str, str]:
    ref = spec.get("issuerRef") or {}
    return ref.get("kind") or "Issuer", ref.get("name", "")


def trigger(cert: dict, secret: dict | None, now: datetime.datetime) -> tuple[str, str] | None:
    """(reason, message) why the certificate must be issued, as the trigger controller's policy chain says."""
    spec, status = cert.get("spec") or {}, cert.get("status") or {}
    if secret is None:
        return "DoesNotExist", "Issuing certificate as Secret does not exist"
    data = secret.get("data") or {}
    if not data.get("tls.key"):
        return "MissingData", "Issuing certificate as Secret does not contain a private key"
    if not data.get("tls.crt"):
        return "MissingData", "Issuing certificate as Secret does not contain a certificate"
    notes = secret["metadata"].get("annotations") or {}
    kind, name = issuer_ref(spec)
    if notes.get("cert-manager.io/issuer-name") != name or notes.get("cert-manager.io/issuer-kind") != kind:
        previous = (
            f"{notes.get('cert-manager.io/issuer-kind', '')}.cert-manager.io/"
            f"{notes.get('cert-manager.io/issuer-name', '')}"
        )
        return "IncorrectIssuer", f"Issuing certificate as Secret was previously issued by {previous}"
    changed = [field for field, note, value in (
        ("spec.dnsNames", "cert-manager.io/alt-names", ",".join(spec.get("dnsNames") or [])),
        ("spec.ipAddresses", "cert-manager.io/ip-sans", ",".join(spec.get("ipAddresses") or [])),
        ("spec.uris", "cert-manager.io/uri-sans", ",".join(spec.get("uris") or [])),
        ("spec.commonName", "cert-manager.io/common-name", spec.get("commonName") or ""),
    ) if notes.get(note, "") != value]  # fmt: skip
    if changed:
        return "SecretMismatch", f"Issuing certificate as Secret does not match spec: [{', '.join(changed)}]"
    if status.get("notAfter") and now >= nodes.parse(status["notAfter"]):
        return "Expired", f"Certificate expired on {status['notAfter']}"
    if status.get("renewalTime") and now >= nodes.parse(status["renewalTime"]):
        return "Renewing", f"Renewing certificate as renewal was scheduled at {status['renewalTime']}"
    return None


def reconcile_certificate(client, cert, now, rotation, ready, all_secrets, requests) -> float | None:
    meta, spec = cert["metadata"], cert.get("spec") or {}
    namespace, status = meta["namespace"], dict(cert.get("status") or {})
    secret = all_secrets.get((namespace, spec.get("secretName", "")))
    state_now = trigger(cert, secret, now)  # what the trigger and readiness policies say of the Secret
    generation = meta.get("generation")
    conditions = status.get("conditions") or []
    # An issuance in progress (Issuing=True, set by this controller or by `cmctl renew`: ManuallyTriggered) is left
    # as it is by the trigger controller and completed by the issuing controller.
    current = next((c for c in conditions if c.get("type") == "Issuing" and c.get("status") == "True"), None)
    why = (current.get("reason", ""), current.get("message", "")) if current else state_now
    kind, name = issuer_ref(spec)
    issuer, state = ready.get((kind, namespace if kind == "Issuer" else None, name), (None, None))
    if why is None:
        cond = condition("Ready", "True", "Ready", "Certificate is up to date and has not expired", now, generation,
                         conditions)  # fmt: skip
        set_status(client, "certificates", cert, dict(status, conditions=[cond]))
        renewal = status.get("renewalTime")
        return nodes.parse(renewal).timestamp() if renewal else None
    failed_at = status.get("lastFailureTime")
    if current is None and issuer is not None and "acme" in issuer["spec"] and failed_at:
        retry = nodes.parse(failed_at) + ACME_BACKOFF
        if now < retry:  # the trigger controller's back-off: Issuing stays False (Failed) meanwhile
            return retry.timestamp()
    revision = int(status.get("revision") or 0) + 1
    issuing = condition("Issuing", "True", *why, now, generation, conditions)
    if current is not None:
        issuing = dict(current)  # kept as written (cmctl's lastTransitionTime and observedGeneration)
    ready_cond = condition("Ready", "True", "Ready", "Certificate is up to date and has not expired", now,
                           generation, conditions)  # fmt: skip
    if state_now is not None and state_now[0] != "Renewing":  # Renewing: the current certificate stays valid
        ready_cond = condition("Ready", "False", *state_now, now, generation, conditions)
    cert = set_status(client, "certificates", cert, dict(status, conditions=[ready_cond, issuing]))
    request_name = f"{meta['name']}-{revision}"
    request = next((r for r in requests if r["metadata"]["namespace"] == namespace
                    and r["metadata"]["name"] == request_name), None)  # fmt: skip
    if issuer is None or state is None or state[0] != "True":
        if issuer is None:
            plural = "issuer" if kind == "Issuer" else "clusterissuer"
            message = f'Referenced "{kind}" not found: {plural}.cert-manager.io "{name}" not found'
        else:
            message = "Referenced issuer does not have a Ready status condition"
        if request is None:
            request = create_request(
                client, request_object(cert, request_name, revision, csr_of(private_key(spec, secret, rotation), spec))
            )
        pending_request(client, request, now, message)
        return None
    if "acme" in issuer["spec"]:
        return acme_certificate(client, cert, request, request_name, revision, issuer, kind, name, secret, now,
                                rotation, all_secrets, requests, (ready_cond, generation, conditions))  # fmt: skip
    key_pem = private_key(spec, secret, rotation)
    not_before = now.replace(microsecond=0)
    lifetime = certmanager.duration_of(spec)
    not_after = not_before + datetime.timedelta(seconds=lifetime)
    signer = None
    try:
        csr = csr_of(key_pem, spec)
        if "ca" in issuer["spec"]:
            issuer_namespace = namespace if kind == "Issuer" else certmanager.CLUSTER_RESOURCE_NAMESPACE
            signer = verified_keypair(all_secrets[(issuer_namespace, issuer["spec"]["ca"]["secretName"])])
            _start, ca_end = cert_dates(first_cert(signer[0]))
            not_after = min(not_after, ca_end)  # never outlives its CA
        leaf = sign(csr, spec, signer, key_pem, not_before, not_after)
    except (SigningError, KeyError) as error:
        failed = condition("Issuing", "False", "Failed",
                           f"The certificate request has failed to complete and will be retried: {error}", now,
                           generation, conditions)  # fmt: skip
        set_status(client, "certificates", cert, dict(cert.get("status") or {}, conditions=[ready_cond, failed],
                                                      lastFailureTime=stamp(now)))  # fmt: skip
        return None
    if signer is None:
        chain, ca = leaf, leaf
    else:
        ca_chain = all_certs(signer[0])
        chain, ca = leaf + "".join(ca_chain), ca_chain[-1]
    issued_request(client, cert, request, request_name, revision, now, csr, chain, ca, issuer, kind)
    write_secret(client, cert, secret, chain, key_pem, ca, kind, name)
    return issued_status(client, cert, requests, revision, (not_before, not_after), spec, now,
                         (generation, conditions))  # fmt: skip


def acme_certificate(client, cert, request, request_name, revision, issuer, kind, name, secret, now, rotation,
                     all_secrets, requests, state) -> float | None:  # fmt: skip
    """A Certificate of an ACME issuer: the order's progress (acmeissuer), then the Secret as for the others."""
    ready_cond, generation, conditions = state
    spec = cert.get("spec") or {}
    try:
        issued = acmeissuer.certificate(client, cert, request, request_name, revision, issuer, kind, secret, now,
                                        rotation, all_secrets, certmanager.CLUSTER_RESOURCE_NAMESPACE)  # fmt: skip
    except acmeissuer.AcmeFailure as error:
        failed = condition("Issuing", "False", "Failed",
                           f"The certificate request has failed to complete and will be retried: {error}", now,
                           generation, conditions)  # fmt: skip
        set_status(client, "certificates", cert, dict(cert.get("status") or {}, conditions=[ready_cond, failed],
                                                      lastFailureTime=stamp(now)))  # fmt: skip
        return None
    if issued is None:
        return acmeissuer.pending_due()
    chain, key_pem = issued
    request = next((r for r in client.list("certificaterequests", cert["metadata"]["namespace"])
                    if r["metadata"]["name"] == request_name), None)  # fmt: skip
    csr = certmanager_csr(request)
    issued_request(client, cert, request, request_name, revision, now, csr, chain, "", issuer, kind)
    write_secret(client, cert, secret, chain, key_pem, "", kind, name)
    not_before, not_after = cert_dates(first_cert(chain))
    return issued_status(client, cert, requests, revision, (not_before, not_after), spec, now,
                         (generation, conditions))  # fmt: skip


def issued_status(client, cert, requests, revision, dates, spec, now, state) -> float:
    """The Certificate Ready with its dates and renewal time, the Issuing event, old requests pruned; returns when
    to renew."""
    (not_before, not_after), (generation, conditions) = dates, state
    renewal = certmanager.renewal_time(not_before, not_after, spec)
    done = condition("Ready", "True", "Ready", "Certificate is up to date and has not expired", now, generation,
                     conditions)  # fmt: skip
    dropped = ("lastFailureTime", "failedIssuanceAttempts")
    status = {k: v for k, v in (cert.get("status") or {}).items() if k not in dropped}
    status.update(conditions=[done], notBefore=stamp(not_before), notAfter=stamp(not_after),
                  renewalTime=stamp(renewal), revision=revision)  # fmt: skip
    set_status(client, "certificates", cert, status)
    client.event(cert, "Issuing", "The certificate has been successfully issued", COMPONENT)
    prune_requests(client, cert, requests, revision)
    return renewal.timestamp()


def certmanager_csr(request: dict | None) -> str:
    return unb64((request or {}).get("spec", {}).get("request"))


def private_key(spec: dict, secret: dict | None, rotation: str) -> str:
    policy = (spec.get("privateKey") or {}).get("rotationPolicy") or rotation
    current = unb64((secret or {}).get("data", {}).get("tls.key")) if secret else ""
    if policy == "Never" and current and key_matches(current, spec):
        return current
    return new_key(spec)


def request_object(cert: dict, name: str, revision: int, csr: str) -> dict:
    meta, spec = cert["metadata"], cert.get("spec") or {}
    kind, issuer = issuer_ref(spec)
    group = (spec.get("issuerRef") or {}).get("group") or "cert-manager.io"
    body = {"request": b64(csr), "issuerRef": {"name": issuer, "kind": kind, "group": group},
            "username": "system:serviceaccount:cert-manager:cert-manager",  # the API server records the requester
            "duration": certmanager.go_duration(certmanager.duration_of(spec)),
            "usages": spec.get("usages") or ["digital signature", "key encipherment"]}  # fmt: skip
    if spec.get("isCA"):
        body["isCA"] = True
    return {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "annotations": {"cert-manager.io/certificate-name": meta["name"],
                                         "cert-manager.io/certificate-revision": str(revision),
                                         "cert-manager.io/private-key-secret-name": f"{meta['name']}-key"},
                         "ownerReferences": [owner(cert)]},
            "spec": body}  # fmt: skip


def owner(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def approved(now: datetime.datetime) -> dict:
    return condition("Approved", "True", "cert-manager.io", "Certificate request has been approved by cert-manager.io",
                     now)  # fmt: skip


def create_request(client, obj: dict) -> dict | None:
    try:
        return client.create("certificaterequests", obj)
    except ApiError as error:
        if error.status != 409:
            raise
        return None


def pending_request(client, request, now, message) -> None:
    if request is None:
        return
    status = {"conditions": [approved(now), condition("Ready", "False", "Pending", message, now, None,
                                                      (request.get("status") or {}).get("conditions"))]}  # fmt: skip
    set_status(client, "certificaterequests", request, status)


def issued_request(client, cert, request, name, revision, now, csr, chain, ca, issuer, kind) -> None:
    wanted = request_object(cert, name, revision, csr)
    if request is not None and "acme" in issuer["spec"]:
        wanted = request  # its CSR is the one the ACME order was made for
    if request is not None and request.get("spec") != wanted["spec"]:  # made while the issuer was not ready
        client.delete("certificaterequests", name, request["metadata"]["namespace"])
        request = None
    request = request or create_request(client, wanted)
    if request is None:
        return
    status = {"conditions": [approved(now), condition("Ready", "True", "Issued",
                                                      "Certificate fetched from issuer successfully", now)],
              "certificate": b64(chain), **({"ca": b64(ca)} if ca else {})}  # fmt: skip
    set_status(client, "certificaterequests", request, status)


def prune_requests(client, cert, requests, revision) -> None:
    """revisionHistoryLimit: keep that many requests, the newest ones (unset: all are kept, as cert-manager)."""
    limit = (cert.get("spec") or {}).get("revisionHistoryLimit")
    if not limit:
        return
    mine = [r for r in requests if (r["metadata"].get("annotations") or {}).get("cert-manager.io/certificate-name")
            == cert["metadata"]["name"] and r["metadata"]["namespace"] == cert["metadata"]["namespace"]]  # fmt: skip
    revisions = sorted(mine, key=lambda r: int(r["metadata"]["annotations"]["cert-manager.io/certificate-revision"]))
    for old in revisions[: max(0, len(revisions) + 1 - int(limit))]:
        client.delete("certificaterequests", old["metadata"]["name"], old["metadata"]["namespace"])


def write_secret(client, cert, secret, chain, key_pem, ca, kind, name) -> None:
    meta, spec = cert["metadata"], cert.get("spec") or {}
    template = spec.get("secretTemplate") or {}
    annotations = dict(template.get("annotations") or {})
    annotations.update({
        "cert-manager.io/alt-names": ",".join(spec.get("dnsNames") or []),
        "cert-manager.io/certificate-name": meta["name"],
        "cert-manager.io/common-name": spec.get("commonName") or "",
        "cert-manager.io/ip-sans": ",".join(spec.get("ipAddresses") or []),
        "cert-manager.io/issuer-group": (spec.get("issuerRef") or {}).get("group") or "",
        "cert-manager.io/issuer-kind": kind,
        "cert-manager.io/issuer-name": name,
        "cert-manager.io/uri-sans": ",".join(spec.get("uris") or []),
    })  # fmt: skip
    labels = dict(template.get("labels") or {}, **{"controller.cert-manager.io/fao": "true"})
    data = {"tls.crt": b64(chain), "tls.key": b64(key_pem), **({"ca.crt": b64(ca)} if ca else {})}
    if secret is None:
        client.create("secrets", {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                                  "metadata": {"name": spec["secretName"], "namespace": meta["namespace"],
                                               "annotations": annotations, "labels": labels},
                                  "data": data})  # fmt: skip
        return
    smeta = dict(secret["metadata"])
    smeta["annotations"] = dict(smeta.get("annotations") or {}, **annotations)
    smeta["labels"] = dict(smeta.get("labels") or {}, **labels)
    client.update("secrets", dict(secret, metadata=smeta, data=dict(secret.get("data") or {}, **data)))


# -- ingress-shim -------------------------------------------------------------------------------------------------
def collect_garbage(client: KubeClient, ingresses: list[dict], certificates: list[dict], requests: list[dict]) -> None:
    """kube-controller-manager's garbage collector for these kinds (background propagation): requests whose
    Certificate and shim Certificates whose Ingress is gone. The lists are trimmed to what remains."""
    owners = {o["metadata"]["uid"] for o in (*ingresses, *certificates)}
    for items, plural in ((certificates, "certificates"), (requests, "certificaterequests")):
        for obj in list(items):
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
            if refs and refs[0]["uid"] not in owners:
                client.delete(plural, obj["metadata"]["name"], obj["metadata"]["namespace"])
                items.remove(obj)
                owners.discard(obj["metadata"]["uid"])


def ingress_shim(client: KubeClient, ingresses: list[dict]) -> None:
    """An Ingress annotated cert-manager.io/cluster-issuer or cert-manager.io/issuer gets one Certificate per
    spec.tls secretName (named after the secret, owned by the Ingress), kept in line with its hosts."""
    existing = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in client.list("certificates")}
    for ingress in ingresses:
        notes = ingress["metadata"].get("annotations") or {}
        if not any(notes.get(a) for a in SHIM_ANNOTATIONS):
            continue
        kind = "ClusterIssuer" if notes.get("cert-manager.io/cluster-issuer") else "Issuer"
        issuer = notes.get("cert-manager.io/cluster-issuer") or notes.get("cert-manager.io/issuer")
        for tls in (ingress.get("spec") or {}).get("tls") or []:
            if not tls.get("secretName"):
                continue
            spec = {"dnsNames": list(tls.get("hosts") or []), "secretName": tls["secretName"],
                    "issuerRef": {"name": issuer, "kind": kind,
                                  **({"group": notes["cert-manager.io/issuer-group"]}
                                     if notes.get("cert-manager.io/issuer-group") else {})},
                    "usages": ["digital signature", "key encipherment"]}  # fmt: skip
            for note, field in (("cert-manager.io/common-name", "commonName"), ("cert-manager.io/duration", "duration"),
                                ("cert-manager.io/renew-before", "renewBefore")):  # fmt: skip
                if notes.get(note):
                    spec[field] = notes[note]
            if notes.get("cert-manager.io/private-key-algorithm"):
                spec["privateKey"] = {"algorithm": notes["cert-manager.io/private-key-algorithm"]}
            namespace = ingress["metadata"]["namespace"]
            current = existing.get((namespace, tls["secretName"]))
            wanted = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                      "metadata": {"name": tls["secretName"], "namespace": namespace,
                                   "ownerReferences": [owner(dict(ingress, apiVersion="networking.k8s.io/v1",
                                                                  kind="Ingress"))]},
                      "spec": spec}  # fmt: skip
            try:
                if current is None:
                    client.create("certificates", wanted)
                elif any(current["spec"].get(k) != v for k, v in spec.items()):
                    client.update("certificates", dict(current, spec=dict(current["spec"], **spec)))
            except ApiError as error:
                if error.status not in (403, 409):  # refused by the webhook (bad annotation) or raced
                    raise
                client.event(ingress, "BadConfig", error.message, COMPONENT, "Warning")
