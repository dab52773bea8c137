# SPDX-License-Identifier: GPL-3.0-or-later
"""Names and TLS on the lab (roles/tls_ingress, tls_ingress_enabled in inventories/lab/group_vars/all.yml).

From client1, as a device would, through the ingress' MetalLB address with the CA the role exported (the client
names the host in SNI and Host as `curl --resolve` does; DNS names are the cluster_names role's): a new
Certificate is Ready within 60 s, 100 of 100 HTTPS requests to hello verify, hello-devices refuses a client without
a certificate and passes sensor1's, and revoking sensor2 refuses it within 30 s. Renewal (>= 2 renewals while a
client connects) needs certificates shorter than cert-manager's 1 h minimum: it is proven in the double's contract
suite with an injected clock, not here.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import REPO, changed, failure_messages, node, site

DOMAIN = "home.arpa"
TLS_DIR = REPO / "tls" / "lab"
CLIENT = "client1"

# Runs on client1 (python3 only, no curl needed): one new TLS connection per request to ADDRESS:443 with SNI and Host
# = HOST, verified with CAFILE, with an optional client certificate; prints each request's HTTP status or error.
CLIENT_SCRIPT = r"""
import json, socket, ssl, sys
host, address, count, cafile, cert, key = sys.argv[1:7]
results = []
for _ in range(int(count)):
    context = ssl.create_default_context(cafile=cafile)
    if cert:
        context.load_cert_chain(cert, key)
    try:
        with socket.create_connection((address, 443), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
                data = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        results.append(data.split(b" ", 2)[1].decode() if data else "empty")
    except ssl.SSLError as error:
        results.append("tls: %s" % (error.reason or error))
    except OSError as error:
        results.append("error: %s" % error)
print(json.dumps(results))
"""


def kubectl(*argv, stdin=None):
    done = subprocess.run(
        ["lxc", "exec", "node1", "--", "microk8s", "kubectl", *argv],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def push(local, remote):
    subprocess.run(["lxc", "file", "push", str(local), CLIENT + remote], check=True, capture_output=True)


def requests(host, count=1, device=None):
    remote = ["/root/tls/device.crt", "/root/tls/device.key"] if device else ["", ""]
    if device:
        push(TLS_DIR / "devices" / (device + ".crt"), remote[0])
        push(TLS_DIR / "devices" / (device + ".key"), remote[1])
    done = node(CLIENT, "python3", "-c", CLIENT_SCRIPT, host, ADDRESS[0], str(count), "/root/tls/ca.pem", *remote)
    return json.loads(done.stdout)


ADDRESS: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def tls_lab(lab):
    if not (TLS_DIR / "ca.pem").exists():
        pytest.skip("tls_ingress has not run on this lab (tls/lab/ca.pem is missing)")
    services = json.loads(kubectl("get", "services", "-A", "-l", "onprem.microk8s/component=ingress", "-o", "json"))
    [service] = services["items"]
    ADDRESS[:] = [service["status"]["loadBalancer"]["ingress"][0]["ip"]]
    node(CLIENT, "mkdir", "-p", "-m", "0700", "/root/tls")
    push(TLS_DIR / "ca.pem", "/root/tls/ca.pem")
    return lab


def test_the_trust_bundle_and_device_files_are_private():
    assert oct((TLS_DIR).stat().st_mode & 0o777) == "0o700"
    for name in ["ca.pem", "ca.der", "ca_pem.h", "network_security_config.xml", "devices/sensor1.key"]:
        assert oct((TLS_DIR / name).stat().st_mode & 0o777) == "0o600", name
    assert "const char *ca_pem =" in (TLS_DIR / "ca_pem.h").read_text()


def test_the_ingresses_publish_the_load_balancer_address_not_127_0_0_1():
    hello = json.loads(kubectl("get", "ingress", "hello", "-n", "default", "-o", "json"))
    assert hello["status"]["loadBalancer"]["ingress"] == [{"ip": ADDRESS[0]}]


def test_a_new_certificate_is_ready_within_60_s():
    manifest = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "tls-scenario", "namespace": "default"},
        "spec": {
            "secretName": "tls-scenario",
            "dnsNames": ["scenario." + DOMAIN],
            "issuerRef": {"kind": "ClusterIssuer", "name": "onprem-tls"},
        },
    }
    for kind in ("certificate", "secret"):
        kubectl("delete", kind, "tls-scenario", "--ignore-not-found")
    started = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    try:
        while True:
            status = json.loads(kubectl("get", "certificate", "tls-scenario", "-o", "json")).get("status", {})
            elapsed = time.monotonic() - started
            if any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])):
                break
            assert elapsed <= 60, "the Certificate is not Ready after 60 s: %s" % status
            time.sleep(1)
        print("certificate Ready after %.1f s" % elapsed)
    finally:
        for kind in ("certificate", "secret"):
            kubectl("delete", kind, "tls-scenario", "--ignore-not-found")


def test_100_of_100_https_requests_to_hello_verify_with_the_exported_ca():
    results = requests("hello." + DOMAIN, count=100)
    assert results == ["200"] * 100, sorted(set(results))


def test_a_device_app_refuses_a_client_without_a_certificate_and_passes_a_valid_one():
    [without] = requests("hello-devices." + DOMAIN)
    assert without == "400" or without.startswith("tls:"), without
    assert requests("hello-devices." + DOMAIN, device="sensor1") == ["200"]


def test_a_rerun_of_the_role_changes_nothing_then_a_revoked_device_is_refused_within_30_s(tmp_path):
    assert requests("hello-devices." + DOMAIN, device="sensor2") == ["200"]
    run, out = site(tmp_path, playbook="playbooks/tls_ingress.yml")
    assert run.status == "successful", failure_messages(run)
    assert changed(run) == 0, out[-3000:]
    revoked = {"tls_ingress_devices": [{"name": "sensor1"}, {"name": "sensor2", "state": "revoked"}]}
    run, out = site(tmp_path, playbook="playbooks/tls_ingress.yml", extravars=revoked)
    assert run.status == "successful", failure_messages(run)
    started = time.monotonic()
    while True:
        # the key left the controller with the revocation: the device still holds it (client1 has the copy)
        done = node(CLIENT, "python3", "-c", CLIENT_SCRIPT, "hello-devices." + DOMAIN, ADDRESS[0], "1",
                    "/root/tls/ca.pem", "/root/tls/device.crt", "/root/tls/device.key")  # fmt: skip
        [result] = json.loads(done.stdout)
        elapsed = time.monotonic() - started
        if result != "200":
            break
        assert elapsed <= 30, "sensor2 still passes %.0f s after its revocation" % elapsed
        time.sleep(1)
    print("sensor2 refused %.1f s after the run ended (%s)" % (elapsed, result))
    assert result == "400" or result.startswith("tls:"), result
    assert list((TLS_DIR / "revoked").glob("sensor2-*.crt")), "the revoked certificate is not kept for the CRL"
    assert not (TLS_DIR / "devices" / "sensor2.key").exists()
    assert requests("hello-devices." + DOMAIN, device="sensor1") == ["200"]
