# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager's ACME issuer (jetstack/cert-manager pkg/issuer/acme, pkg/controller/acmeorders, acmechallenges,
pkg/issuer/acme/http, pkg/issuer/acme/dns/rfc2136), driven by controllers/certmanager.py for Issuers and
ClusterIssuers with `spec.acme`. The ACME protocol is certbot's `acme` client library (JWS by josepy); RFC 2136
updates are dnspython's. Both are imported only when an ACME issuer exists (the snap bundles them).

- Setup: the account key lives in `privateKeySecretRef` (`tls.key`, RSA 2048, made when missing); the account is
  registered with `email`, terms agreed; status.acme.uri/lastRegisteredEmail/lastPrivateKeyHash, Ready condition
  `ACMEAccountRegistered` or `ErrRegisterACMEAccount`. `caBundle` (PEM, base64 in the object) or `skipTLSVerify`
  for the server's TLS.
- A Certificate of an ACME issuer: CertificateRequest (a CSR with the dnsNames) -> Order `<request>-<hash>`
  (acme.cert-manager.io/v1, owned by the request) -> one Challenge per authorization, solver picked by its selector
  (dnsNames, then dnsZones, then none) -> presented -> accepted -> the authorization polled -> valid: cleaned up ->
  the order finalized, the chain downloaded into Order status.certificate -> request Issued -> the Secret
  (tls.crt, tls.key, no ca.crt: ACME gives no CA).
- HTTP-01 (`solvers[].http01.ingress`, `class` or `ingressClassName`, `serviceType`): a Service and an Ingress
  `cm-acme-http-solver-xxxxx` routing /.well-known/acme-challenge/<token> of the domain, as cert-manager makes them.
  Simplified: the solver pod (image cert-manager-acmesolver, which an offline lab cannot pull) is not created; the
  controller answers for it on its own node (an HTTP listener per process) and the Service has no selector but an
  Endpoints object pointing there. The acmesolver's answer (the key authorization, 404 for other hosts) is the same.
- DNS-01 (`solvers[].dns01.rfc2136`: nameserver host[:port], tsigKeyName, tsigAlgorithm HMACMD5 (default) /
  HMACSHA1 / HMACSHA256 / HMACSHA512, tsigSecretSecretRef): the zone found by SOA queries to the nameserver, a
  TSIG-signed update adding `_acme-challenge.<domain>` TXT (TTL 60), deleted again once the challenge is done.
- Not modelled: the solvers' self check (propagation) before accepting, wildcard names, external account binding,
  other DNS providers and webhooks, `http01.gatewayHTTPRoute`, `http01.ingress.name` (editing an existing Ingress),
  order back-off. In-flight orders are kept in memory: after a restart a pending order is made anew."""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..kubeclient import ApiError

SOLVER_PORT = 8089  # the acmesolver's --listen-port
SOLVER_PREFIX = "/.well-known/acme-challenge/"
TSIG_ALGORITHMS = {
    "HMACMD5": "hmac-md5.sig-alg.reg.int.",
    "HMACSHA1": "hmac-sha1.",
    "HMACSHA256": "hmac-sha256.",
    "HMACSHA512": "hmac-sha512.",
}
node_ip = "127.0.0.1"  # where this process's solver listener is reached (certmanager.sync sets the node's address)
_accounts: dict[tuple, tuple] = {}  # (issuer uid, server, key hash) -> (ClientV2, account key JWK)
_orders: dict[tuple[str, str], object] = {}  # (namespace, order) -> acme OrderResource
_presented: dict[str, float] = {}  # challenge name -> time.monotonic() of its presentation, until accepted
PROPAGATION = 1.0  # seconds between presenting and accepting a challenge
_keys: dict[tuple[str, str], str] = {}  # (namespace, request) -> the private key PEM of that request
_lock = threading.Lock()
_solver: dict = {"server": None, "tokens": {}}  # token -> (domain, key authorization)
_work = Path(tempfile.gettempdir())


class AcmeFailure(Exception):
    pass


def libraries():
    """certbot's acme client and josepy (imported on first use: the rest of the double runs without them)."""
    import josepy
    from acme import challenges, client, errors, messages

    return client, messages, challenges, errors, josepy


# -- issuer setup -------------------------------------------------------------------------------------------------
def secret_namespace(issuer: dict, cluster_namespace: str) -> str:
    return issuer["metadata"].get("namespace") or cluster_namespace


def account_key(client, issuer: dict, secrets_by_key: dict, cluster_namespace: str) -> str:
    """The account's private key from privateKeySecretRef, generated (RSA 2048) and stored when missing."""
    from . import certmanager

    spec = issuer["spec"]["acme"]
    ref = spec.get("privateKeySecretRef") or {}
    namespace, name = secret_namespace(issuer, cluster_namespace), ref.get("name", "")
    secret = secrets_by_key.get((namespace, name)) or get(client, "secrets", name, namespace)
    key = certmanager.unb64((secret or {}).get("data", {}).get(ref.get("key") or "tls.key"))
    if "PRIVATE KEY" in key:
        return key
    key = certmanager.new_key({"privateKey": {"algorithm": "RSA", "size": 2048}})
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"tls.key": certmanager.b64(key)},
    }
    try:
        if secret is None:
            client.create("secrets", body)
        else:
            client.update("secrets", dict(secret, data=dict(secret.get("data") or {}, **body["data"])))
    except ApiError as error:
        raise AcmeFailure(f"error saving the ACME account key: {error.message}") from error
    return key


def verify_option(spec: dict, uid: str):
    """requests' `verify`: False for skipTLSVerify, a file of the caBundle's PEM, else the system's roots."""
    if spec.get("skipTLSVerify"):
        return False
    if spec.get("caBundle"):
        path = _work / f"acme-ca-{uid}.pem"
        path.write_bytes(base64.b64decode(spec["caBundle"]))
        return str(path)
    return True


def setup(client, issuer: dict, secrets_by_key: dict, cluster_namespace: str) -> tuple[tuple[str, str, str], dict]:
    """((status, reason, message) of the Ready condition, status.acme) for an ACME issuer; registers the account."""
    spec = issuer["spec"]["acme"] or {}
    acme_status = dict((issuer.get("status") or {}).get("acme") or {})
    if not spec.get("server"):
        return ("False", "ErrRegisterACMEAccount", "Failed to register ACME account: spec.acme.server is empty"), {}
    if not (spec.get("privateKeySecretRef") or {}).get("name"):
        message = "Failed to register ACME account: spec.acme.privateKeySecretRef.name is empty"
        return ("False", "ErrRegisterACMEAccount", message), acme_status
    try:
        acme_client(client, issuer, secrets_by_key, cluster_namespace, acme_status)
    except AcmeFailure as error:
        return ("False", "ErrRegisterACMEAccount", f"Failed to register ACME account: {error}"), acme_status
    return ("True", "ACMEAccountRegistered", "The ACME account was registered with the ACME server"), acme_status


def acme_client(client, issuer, secrets_by_key, cluster_namespace, acme_status: dict | None = None):
    """The registered ClientV2 of the issuer (cached per account key); fills `acme_status` when registering."""
    lib_client, messages, _challenges, errors, josepy = libraries()
    from cryptography.hazmat.primitives import serialization

    spec = issuer["spec"]["acme"]
    key_pem = account_key(client, issuer, secrets_by_key, cluster_namespace)
    key_hash = hashlib.sha256(key_pem.encode()).hexdigest()
    cache = (issuer["metadata"]["uid"], spec["server"], key_hash, spec.get("email", ""))
    with _lock:
        found = _accounts.get(cache)
    if found is not None:
        if acme_status is not None:
            acme_status.update(found[2])
        return found[0], found[1]
    jwk = josepy.JWKRSA(key=serialization.load_pem_private_key(key_pem.encode(), password=None))
    network = lib_client.ClientNetwork(
        jwk,
        alg=josepy.RS256,
        verify_ssl=verify_option(spec, issuer["metadata"]["uid"]),
        user_agent="cert-manager-clusterissuers/v1 (microk8s double)",
    )
    try:
        directory = lib_client.ClientV2.get_directory(spec["server"], network)
        acme = lib_client.ClientV2(directory, network)
        registration = messages.NewRegistration.from_data(email=spec.get("email") or None, terms_of_service_agreed=True)
        try:
            account = acme.new_account(registration)
        except errors.ConflictError as existing:  # the key is registered already: that account
            account = acme.query_registration(messages.RegistrationResource(uri=existing.location))
            network.account = account
    except Exception as error:  # requests' connection errors, ACME problem documents
        raise AcmeFailure(str(error).splitlines()[0] if str(error) else repr(error)) from error
    registered = {
        "uri": account.uri,
        "lastRegisteredEmail": spec.get("email", ""),
        "lastPrivateKeyHash": base64.b64encode(hashlib.sha256(key_pem.encode()).digest()).decode(),
    }
    with _lock:
        _accounts[cache] = (acme, jwk, registered)
    if acme_status is not None:
        acme_status.update(registered)
    return acme, jwk


# -- certificates -------------------------------------------------------------------------------------------------
def csr(key_pem: str, spec: dict) -> str:
    """The request cert-manager sends to an ACME server: the common name (or first DNS name) and every DNS name."""
    from . import certmanager

    names = list(spec.get("dnsNames") or [])
    common = spec.get("commonName") or (names[0] if names else "")
    if common and common not in names:
        names.insert(0, common)
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "key").write_text(key_pem)
        args = ["req", "-new", "-key", f"{work}/key", "-subj", f"/CN={common}" if common else "/"]
        if names:
            args += ["-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)]
        return certmanager.openssl(*args).decode()


def short_hash(*parts: str) -> str:
    """cert-manager's name suffix: a decimal FNV-32a of the spec, here of the given parts (10 digits at most)."""
    value = 0x811C9DC5
    for byte in "/".join(parts).encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return str(value)


def certificate(
    client, cert, request, request_name, revision, issuer, kind, secret, now, rotation, all_secrets, cluster_namespace
):
    """One pass for a Certificate of an ACME issuer. Returns (chain PEM, key PEM) once the order is valid, None while
    it is pending; raises AcmeFailure when the order failed."""
    from . import certmanager

    meta, spec = cert["metadata"], cert.get("spec") or {}
    namespace = meta["namespace"]
    with _lock:
        key_pem = _keys.get((namespace, request_name))
    if key_pem is None:
        if request is not None:  # made by an earlier process whose key is gone: start the revision again
            client.delete("certificaterequests", request_name, namespace)
            return None
        key_pem = certmanager.private_key(spec, secret, rotation)
        with _lock:
            _keys[(namespace, request_name)] = key_pem
    if request is None:
        body = certmanager.request_object(cert, request_name, revision, csr(key_pem, spec))
        request = certmanager.create_request(client, body)
        if request is None:
            return None
    order_name = f"{request_name}-{short_hash(request['metadata']['uid'])}"
    order = get(client, "orders", order_name, namespace)
    if order is None:
        order = client.create("orders", order_object(request, order_name, spec))
    order = drive_order(client, order, issuer, kind, now, all_secrets, cluster_namespace)
    state = (order.get("status") or {}).get("state", "")
    if state == "valid":
        with _lock:
            _keys.pop((namespace, request_name), None)
        return certmanager.unb64(order["status"]["certificate"]), key_pem
    if state in ("invalid", "errored"):
        with _lock:
            _keys.pop((namespace, request_name), None)
        reason = order["status"].get("reason", "")
        raise AcmeFailure(
            f'Failed to wait for order resource "{order_name}" to become ready: order is in "{state}" state: {reason}'
        )
    certmanager.pending_request(
        client, request, now, f'Waiting on certificate issuance from order {namespace}/{order_name}: "{state}"'
    )
    return None


def get(client, resource: str, name: str, namespace: str) -> dict | None:
    try:
        return client.get(resource, name, namespace)
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def order_object(request: dict, name: str, spec: dict) -> dict:
    from . import certmanager

    body = {
        "request": request["spec"]["request"],
        "issuerRef": request["spec"]["issuerRef"],
        "dnsNames": list(spec.get("dnsNames") or []),
    }
    if spec.get("commonName"):
        body["commonName"] = spec["commonName"]
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {
            "name": name,
            "namespace": request["metadata"]["namespace"],
            "labels": dict(request["metadata"].get("labels") or {}),
            "annotations": {
                "cert-manager.io/certificate-name": request["metadata"]["annotations"][
                    "cert-manager.io/certificate-name"
                ]
            },
            "ownerReferences": [certmanager.owner(request)],
        },
        "spec": body,
    }


def drive_order(client, order, issuer, kind, now, all_secrets, cluster_namespace) -> dict:
    """The order and challenge controllers' work on one order, one step per pass where the server must act."""
    from . import certmanager

    meta, status = order["metadata"], dict(order.get("status") or {})
    if status.get("state") in ("valid", "invalid", "errored"):
        return order
    namespace = meta["namespace"]
    key = (namespace, meta["name"])
    try:
        acme, jwk = acme_client(client, issuer, all_secrets, cluster_namespace)
        with _lock:
            orderr = _orders.get(key)
        if orderr is None:
            orderr = acme.new_order(base64.b64decode(order["spec"]["request"]))
            with _lock:
                _orders[key] = orderr
            status = {
                "url": orderr.uri,
                "finalizeURL": orderr.body.finalize,
                "state": "pending",
                "authorizations": [authorization_status(a) for a in orderr.authorizations],
            }
            order = certmanager.set_status(client, "orders", order, status)
            for authz in orderr.authorizations:
                if authz.body.status.name == "pending":
                    start_challenge(client, order, authz, issuer, kind, jwk, acme, all_secrets, cluster_namespace)
            return order
        pending = []
        for index, authz in enumerate(orderr.authorizations):
            challenge = get(client, "challenges", challenge_name(meta["name"], authz), namespace)
            if authz.body.status.name == "pending":
                if challenge is not None:
                    accept_when_propagated(acme, authz, challenge["metadata"]["name"], challenge["spec"]["type"])
                authz, _response = acme.poll(authz)
                orderr.authorizations[index] = authz
            state = authz.body.status.name
            if challenge is not None:
                finish_challenge(client, challenge, authz, all_secrets, issuer, cluster_namespace)
            if state == "invalid":
                error = next((c.error for c in authz.body.challenges if c.error), None)
                detail = f"{error.typ}: {error.detail}" if error else "authorization invalid"
                status.update(
                    state="invalid", reason=f"Failed to finalize Order: {detail}", failureTime=now.isoformat()
                )
                cleanup_order(client, order)
                return certmanager.set_status(client, "orders", order, status)
            if state != "valid":
                pending.append(authz)
        if pending:
            return order
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
        done = acme.finalize_order(orderr, deadline)
    except Exception as error:  # the server's problem documents, timeouts, connection errors
        text = str(error).splitlines()[0] if str(error) else repr(error)
        status.update(state="errored", reason=f"Failed to finalize Order: {text}")
        cleanup_order(client, order)
        return certmanager.set_status(client, "orders", order, status)
    status.update(state="valid", certificate=certmanager.b64(done.fullchain_pem))
    with _lock:
        _orders.pop(key, None)
    cleanup_order(client, order)
    return certmanager.set_status(client, "orders", order, status)


def authorization_status(authz) -> dict:
    body = authz.body
    return {
        "url": authz.uri,
        "identifier": body.identifier.value,
        "initialState": body.status.name,
        "wildcard": bool(body.wildcard),
        "challenges": [
            {"type": c.chall.typ, "url": c.uri, "token": c.chall.encode("token")}
            for c in body.challenges
            if c.chall.typ in ("http-01", "dns-01")
        ],
    }


def challenge_name(order_name: str, authz) -> str:
    return f"{order_name}-{short_hash(authz.uri)}"


def pick_solver(solvers: list[dict], domain: str) -> dict | None:
    """cert-manager's choice: a selector naming the domain wins, then the longest matching dnsZone, then none."""
    named = [s for s in solvers if domain in ((s.get("selector") or {}).get("dnsNames") or [])]
    if named:
        return named[0]
    zones = [
        (len(z), s)
        for s in solvers
        for z in ((s.get("selector") or {}).get("dnsZones") or [])
        if domain == z or domain.endswith("." + z)
    ]
    if zones:
        return max(zones, key=lambda pair: pair[0])[1]
    return next((s for s in solvers if not s.get("selector")), None)


def start_challenge(client, order, authz, issuer, kind, jwk, acme, all_secrets, cluster_namespace) -> None:
    from . import certmanager

    domain = authz.body.identifier.value
    solver = pick_solver(issuer["spec"]["acme"].get("solvers") or [], domain)
    wanted = "dns-01" if solver and "dns01" in solver else "http-01"
    challb = next((c for c in authz.body.challenges if c.chall.typ == wanted), None)
    meta = order["metadata"]
    name = challenge_name(meta["name"], authz)
    if solver is None or challb is None:
        status = dict(
            order.get("status") or {},
            state="errored",
            reason=f"Failed to determine a valid solver configuration for the set of domains on the Order: "
            f'no configured challenge solvers can be used for this challenge "{domain}"',
        )
        certmanager.set_status(client, "orders", order, status)
        return
    _response, validation = challb.response_and_validation(jwk)
    spec = {
        "url": challb.uri,
        "authorizationURL": authz.uri,
        "dnsName": domain,
        "type": wanted.upper(),
        "token": challb.chall.encode("token"),
        "key": key_authorization(challb, jwk, validation, wanted),
        "solver": solver,
        "issuerRef": order["spec"]["issuerRef"],
        "wildcard": bool(authz.body.wildcard),
    }
    challenge = {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "finalizers": ["finalizer.acme.cert-manager.io"],
            "ownerReferences": [certmanager.owner(order)],
        },
        "spec": spec,
    }
    try:
        challenge = client.create("challenges", challenge)
    except ApiError as error:
        if error.status != 409:
            raise
        challenge = client.get("challenges", name, meta["namespace"])
    try:
        if wanted == "http-01":
            present_http(client, challenge)
        else:
            present_dns(challenge, validation, all_secrets, issuer, cluster_namespace)
    except Exception as error:  # an update refused by the DNS server, a missing secret
        text = str(error).splitlines()[0] if str(error) else repr(error)
        certmanager.set_status(
            client,
            "challenges",
            challenge,
            {
                "processing": False,
                "presented": False,
                "state": "errored",
                "reason": f"Error presenting challenge: {text}",
            },
        )
        raise AcmeFailure(f"Error presenting challenge: {text}") from error
    with _lock:
        _presented[name] = time.monotonic()
    reason = (
        "Waiting for HTTP-01 challenge propagation"
        if wanted == "http-01"
        else "Waiting for DNS-01 challenge propagation"
    )
    certmanager.set_status(
        client, "challenges", challenge, {"processing": True, "presented": True, "state": "pending", "reason": reason}
    )


def accept_when_propagated(acme, authz, name: str, kind: str) -> None:
    """The challenge is accepted (the server told to validate) once presented for PROPAGATION seconds: the
    ingress controllers and DNS servers have the solver by then (cert-manager's self check, simplified)."""
    with _lock:
        since = _presented.get(name)
        if since is None or time.monotonic() - since < PROPAGATION:
            return
        del _presented[name]
    challb = next(c for c in authz.body.challenges if c.chall.typ == kind.lower())
    response, _validation = challb.response_and_validation(acme.net.key)
    acme.answer_challenge(challb, response)


def key_authorization(challb, jwk, validation, kind: str) -> str:
    """Challenge spec.key: the key authorization for HTTP-01, the TXT record's value for DNS-01 (as cert-manager)."""
    return validation if kind == "http-01" else challb.chall.validation(jwk)


def finish_challenge(client, challenge, authz, all_secrets, issuer, cluster_namespace) -> None:
    from . import certmanager

    state = authz.body.status.name
    if state == "pending" or (challenge.get("status") or {}).get("state") in ("valid", "invalid"):
        return
    error = next((c.error for c in authz.body.challenges if c.error), None)
    reason = (
        "Successfully authorized domain"
        if state == "valid"
        else (
            f"Error accepting authorization: acme: authorization error for {authz.body.identifier.value}: "
            f"{error.typ if error else ''}: {error.detail if error else ''}"
        )
    )
    cleanup(client, challenge, all_secrets, issuer, cluster_namespace)
    certmanager.set_status(
        client, "challenges", challenge, {"processing": False, "presented": False, "state": state, "reason": reason}
    )


def cleanup_order(client, order) -> None:
    """The order is final: its challenges are cleaned up and deleted (their finalizer removed)."""
    namespace, uid = order["metadata"]["namespace"], order["metadata"]["uid"]
    for challenge in client.list("challenges", namespace):
        if any(r.get("uid") == uid for r in challenge["metadata"].get("ownerReferences") or []):
            if challenge["metadata"].get("finalizers"):
                client.update("challenges", dict(challenge, metadata=dict(challenge["metadata"], finalizers=[])))
            try:
                client.delete("challenges", challenge["metadata"]["name"], namespace)
            except ApiError as error:
                if error.status != 404:
                    raise


def cleanup(client, challenge, all_secrets, issuer, cluster_namespace) -> None:
    spec = challenge["spec"]
    if spec["type"] == "HTTP-01":
        with _lock:
            _solver["tokens"].pop(spec["token"], None)
        for resource in ("ingresses", "services", "endpoints"):
            for obj in client.list(resource, challenge["metadata"]["namespace"]):
                labels = obj["metadata"].get("labels") or {}
                if labels.get("acme.cert-manager.io/http-token") == short_hash(spec["token"]):
                    client.delete(resource, obj["metadata"]["name"], obj["metadata"]["namespace"])
    else:
        try:
            rfc2136(spec, spec["key"], all_secrets, issuer, cluster_namespace, delete=True)
        except Exception as error:
            client.event(challenge, "CleanUpError", f"Error cleaning up challenge: {error}", "cert-manager", "Warning")


# -- HTTP-01 ------------------------------------------------------------------------------------------------------
def solver_port() -> int:
    """The listener answering for the acmesolver pods of this process (started on first use)."""
    with _lock:
        if _solver["server"] is None:

            class Handler(BaseHTTPRequestHandler):
                def log_message(self, *args):
                    pass

                def do_GET(self):
                    token = self.path[len(SOLVER_PREFIX) :] if self.path.startswith(SOLVER_PREFIX) else ""
                    with _lock:
                        domain, answer = _solver["tokens"].get(token, (None, None))
                    host = (self.headers.get("Host") or "").split(":")[0]
                    if answer is None or host != domain:  # acmesolver: wrong host or token -> 404
                        self.send_error(404)
                        return
                    body = answer.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            _solver["server"] = server
        return _solver["server"].server_address[1]


def present_http(client, challenge) -> None:
    spec, meta = challenge["spec"], challenge["metadata"]
    port = solver_port()
    with _lock:
        _solver["tokens"][spec["token"]] = (spec["dnsName"], spec["key"])
    ingress_spec = (spec["solver"].get("http01") or {}).get("ingress") or {}
    name = "cm-acme-http-solver-" + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _position in range(5))
    labels = {
        "acme.cert-manager.io/http-domain": short_hash(spec["dnsName"]),
        "acme.cert-manager.io/http-token": short_hash(spec["token"]),
        "acme.cert-manager.io/http01-solver": "true",
    }
    owner = {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    base = {"name": name, "namespace": meta["namespace"], "labels": labels, "ownerReferences": [owner]}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(base, annotations={"auth.istio.io/8089": "NONE"}),
        "spec": {
            "type": ingress_spec.get("serviceType") or "NodePort",
            "ports": [{"name": "http", "port": SOLVER_PORT, "targetPort": SOLVER_PORT, "protocol": "TCP"}],
        },
    }
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": dict(base),
        "subsets": [{"addresses": [{"ip": node_ip}], "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}],
    }
    notes = {"nginx.ingress.kubernetes.io/whitelist-source-range": "0.0.0.0/0,::/0"}
    ingress_body = {
        "rules": [
            {
                "host": spec["dnsName"],
                "http": {
                    "paths": [
                        {
                            "path": SOLVER_PREFIX + spec["token"],
                            "pathType": "ImplementationSpecific",
                            "backend": {"service": {"name": name, "port": {"number": SOLVER_PORT}}},
                        }
                    ]
                },
            }
        ]
    }
    if ingress_spec.get("ingressClassName"):
        ingress_body["ingressClassName"] = ingress_spec["ingressClassName"]
    elif ingress_spec.get("class"):
        notes["kubernetes.io/ingress.class"] = ingress_spec["class"]
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": dict(base, annotations=notes),
        "spec": ingress_body,
    }
    for resource, obj in (("services", service), ("endpoints", endpoints), ("ingresses", ingress)):
        client.create(resource, obj)


# -- DNS-01: RFC 2136 ---------------------------------------------------------------------------------------------
def nameserver(text: str) -> tuple[str, int]:
    """host[:port] or [v6]:port -> (host, port), port 53 by default (cert-manager's rfc2136 solver)."""
    text = text.strip()
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        return host, int(rest[1:] or 53)
    host, sep, port = text.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() and ":" not in host else (text, 53)


def find_zone(fqdn: str, server: tuple[str, int]) -> str:
    """The zone of the name: the first of its parents the server answers an SOA for (FindZoneByFqdn)."""
    import dns.message
    import dns.name
    import dns.query
    import dns.rdatatype

    name = dns.name.from_text(fqdn)
    while len(name) > 1:
        reply = dns.query.udp(dns.message.make_query(name, "SOA"), server[0], port=server[1], timeout=5)
        if any(rr.rdtype == dns.rdatatype.SOA and rr.name == name for rr in reply.answer):
            return name.to_text()
        name = name.parent()
    raise AcmeFailure(f"could not find the start of authority for {fqdn}")


def rfc2136(spec: dict, value: str, all_secrets: dict, issuer: dict, cluster_namespace: str, delete=False) -> None:
    import dns.query
    import dns.rcode
    import dns.tsigkeyring
    import dns.update

    from . import certmanager

    config = (spec["solver"].get("dns01") or {}).get("rfc2136") or {}
    server = nameserver(config.get("nameserver", ""))
    algorithm = (config.get("tsigAlgorithm") or "HMACMD5").upper()
    if algorithm not in TSIG_ALGORITHMS:
        raise AcmeFailure(f"algorithm '{config.get('tsigAlgorithm')}' is not supported")
    fqdn = f"_acme-challenge.{spec['dnsName']}."
    zone = find_zone(fqdn, server)
    keyring, keyname = None, None
    if config.get("tsigKeyName"):
        ref = config.get("tsigSecretSecretRef") or {}
        namespace = secret_namespace(issuer, cluster_namespace)
        secret = all_secrets.get((namespace, ref.get("name", "")))
        if secret is None:
            raise AcmeFailure(f'secret "{ref.get("name", "")}" not found')
        tsig = certmanager.unb64((secret.get("data") or {}).get(ref.get("key", ""))).strip()
        keyname = config["tsigKeyName"]
        keyring = dns.tsigkeyring.from_text({keyname: (TSIG_ALGORITHMS[algorithm], tsig)})
    update = dns.update.UpdateMessage(zone, keyring=keyring, keyname=keyname, keyalgorithm=TSIG_ALGORITHMS[algorithm])
    if delete:
        update.delete(fqdn, "TXT", f'"{value}"')
    else:
        update.add(fqdn, 60, "TXT", f'"{value}"')
    reply = dns.query.tcp(update, server[0], port=server[1], timeout=10)
    if reply.rcode() != dns.rcode.NOERROR:
        raise AcmeFailure(f"DNS update failed: server replied: {dns.rcode.to_text(reply.rcode())}")


def present_dns(challenge, value, all_secrets, issuer, cluster_namespace) -> None:
    rfc2136(challenge["spec"], challenge["spec"]["key"], all_secrets, issuer, cluster_namespace)


def pending_due() -> float:
    """When the lease holder should look at pending orders again (cert-manager's informers re-queue them)."""
    return time.time() + 1.0
