# SPDX-License-Identifier: GPL-3.0-or-later
"""A manual renewal in the double (issue 11), as `cmctl renew` / `kubectl cert-manager renew` triggers it
(cert-manager/cmctl pkg/renew: the Certificate's status gets Issuing=True, reason ManuallyTriggered, written with
UpdateStatus) and as cert-manager then completes it (pkg/controller/certificates/{trigger,issuing}: the trigger
controller leaves a Certificate with Issuing=True alone, the issuing controller issues revision+1, writes the Secret,
removes the Issuing condition). The Secret keeps the old key pair until the new one is issued; the key is reused
under rotationPolicy Never (the default up to cert-manager 1.17) and new under Always (1.18+)."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess

import pytest
import test_certmanager
from microk8s_double.controllers import certmanager as controller
from test_certmanager import T0, certificate, install, local_ca, ready, secret_text

api = test_certmanager.api  # the fixture, requested by name below
MANUAL = ("ManuallyTriggered", "Certificate re-issuance manually triggered")


def renew(client, name, namespace, now):
    """cmctl's renewCertificate: SetCertificateCondition(Issuing, True, ManuallyTriggered) then UpdateStatus."""
    cert = client.get("certificates", name, namespace)
    status = cert.setdefault("status", {})
    others = [c for c in status.get("conditions") or [] if c["type"] != "Issuing"]
    issuing = {"type": "Issuing", "status": "True", "reason": MANUAL[0], "message": MANUAL[1],
               "lastTransitionTime": controller.stamp(now),
               "observedGeneration": cert["metadata"]["generation"]}  # fmt: skip
    status["conditions"] = [*others, issuing]
    return client.update("certificates", cert, subresource="status")


def condition(cert, kind):
    return next((c for c in cert["status"].get("conditions") or [] if c["type"] == kind), None)


def serial(api, name):
    return controller.cert_field(controller.first_cert(secret_text(api, "default", name, "tls.crt")), "-serial").strip()


def issued_hello(api, **spec):
    install(api)
    local_ca(api)
    api.client.create(
        "certificates", certificate("hello-tls", "default", "local-ca", dnsNames=["hello.home.arpa"], **spec)
    )
    controller.reconcile(api.client, T0)
    assert api.client.get("certificates", "hello-tls", "default")["status"]["revision"] == 1


def test_a_manual_trigger_issues_the_next_revision_at_once_and_removes_the_issuing_condition(api):
    issued_hello(api, duration="1h")
    first = api.client.get("certificates", "hello-tls", "default")["status"]
    key1, serial1 = secret_text(api, "default", "hello-tls", "tls.key"), serial(api, "hello-tls")
    later = T0 + datetime.timedelta(minutes=5)  # long before the renewal time (12:40, 2/3 of 1 h)
    renew(api.client, "hello-tls", "default", later)
    controller.reconcile(api.client, later)
    cert = api.client.get("certificates", "hello-tls", "default")
    status = cert["status"]
    assert status["revision"] == 2
    assert condition(cert, "Issuing") is None  # removed by the issuing controller once issued
    assert (ready(cert)["status"], ready(cert)["reason"]) == ("True", "Ready")
    assert status["notBefore"] == "2026-11-30T12:05:00Z" and status["notBefore"] != first["notBefore"]
    assert (status["notAfter"], status["renewalTime"]) == ("2026-11-30T13:05:00Z", "2026-11-30T12:45:00Z")
    assert serial(api, "hello-tls") != serial1
    assert secret_text(api, "default", "hello-tls", "tls.key") == key1  # rotationPolicy Never (cert-manager < 1.18)
    request = api.client.get("certificaterequests", "hello-tls-2", "default")
    assert request["metadata"]["annotations"]["cert-manager.io/certificate-revision"] == "2"
    assert ready(request)["reason"] == "Issued"
    controller.reconcile(api.client, later)  # nothing more to do: no third revision
    assert api.client.get("certificates", "hello-tls", "default")["status"]["revision"] == 2


def test_a_manual_trigger_under_rotation_always_brings_a_new_key(api):
    issued_hello(api)
    key1 = secret_text(api, "default", "hello-tls", "tls.key")
    renew(api.client, "hello-tls", "default", T0)
    controller.reconcile(api.client, T0, rotation="Always")  # cert-manager 1.18+ (MicroK8s 1.34+)
    assert api.client.get("certificates", "hello-tls", "default")["status"]["revision"] == 2
    assert secret_text(api, "default", "hello-tls", "tls.key") != key1


def test_while_the_issuer_is_not_ready_the_secret_keeps_its_key_pair_and_the_trigger_stays(api):
    issued_hello(api)
    crt1, key1 = (secret_text(api, "default", "hello-tls", k) for k in ("tls.crt", "tls.key"))
    issuer = api.client.get("clusterissuers", "local-ca")
    api.client.update("clusterissuers", dict(issuer, spec={"ca": {"secretName": "absent"}}))
    controller.reconcile(api.client, T0)
    renew(api.client, "hello-tls", "default", T0)
    controller.reconcile(api.client, T0)
    cert = api.client.get("certificates", "hello-tls", "default")
    assert (condition(cert, "Issuing")["status"], condition(cert, "Issuing")["reason"]) == ("True", MANUAL[0])
    assert condition(cert, "Issuing")["message"] == MANUAL[1]
    assert ready(cert)["status"] == "True"  # the certificate in the Secret is still valid
    assert cert["status"]["revision"] == 1
    assert secret_text(api, "default", "hello-tls", "tls.crt") == crt1
    assert secret_text(api, "default", "hello-tls", "tls.key") == key1
    assert ready(api.client.get("certificaterequests", "hello-tls-2", "default"))["reason"] == "Pending"
    issuer = api.client.get("clusterissuers", "local-ca")
    api.client.update("clusterissuers", dict(issuer, spec={"ca": {"secretName": "root-ca"}}))
    controller.reconcile(api.client, T0)
    controller.reconcile(api.client, T0)
    cert = api.client.get("certificates", "hello-tls", "default")
    assert cert["status"]["revision"] == 2 and condition(cert, "Issuing") is None
    assert secret_text(api, "default", "hello-tls", "tls.crt") != crt1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_patch_of_the_status_subresource_triggers_a_renewal(api, tmp_path):
    issued_hello(api)
    config = api.kubeconfig(tmp_path)
    issuing = {"type": "Issuing", "status": "True", "reason": MANUAL[0], "message": MANUAL[1],
               "lastTransitionTime": controller.stamp(T0)}  # fmt: skip
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(config), "patch", "certificate", "hello-tls", "-n", "default",
         "--subresource=status", "--type=json", "-p",
         json.dumps([{"op": "add", "path": "/status/conditions/-", "value": issuing}])],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    controller.reconcile(api.client, T0)
    assert api.client.get("certificates", "hello-tls", "default")["status"]["revision"] == 2
