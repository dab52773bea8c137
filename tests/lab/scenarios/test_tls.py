# SPDX-License-Identifier: GPL-3.0-or-later
"""Names and TLS on the lab (roles/tls_ingress, tls_ingress_enabled in inventories/lab/group_vars/all.yml).

From client1, as a device would, through the ingress' MetalLB address with the CA the role exported (the client
names the host in SNI and Host as `curl --resolve` does; DNS names are the cluster_names role's): a new
Certificate is Ready within 60 s, 100 of 100 HTTPS requests to hello verify, hello-devices refuses a client without
a certificate and passes sensor1's, and revoking sensor2 refuses it within 30 s. Renewal: hello's Certificate is
renewed twice by a manual trigger (what `cmctl renew` writes: Issuing=True, ManuallyTriggered, on the status
subresource) while client1 keeps opening new verified connections, none failing. Renewal on the clock (at 2/3 of the
lifetime) needs certificates shorter than cert-manager's 1 h minimum: it is proven in the double's contract suite
with an injected clock, not here.
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import threading
import time

import pytest
from conftest import REPO, changed, failure_messages, node, site

DOMAIN = "home.arpa"
TLS_DIR = REPO / "tls" / "lab"
CLIENT = "client1"

# One new TLS connection to ADDRESS:443 with SNI and Host = HOST, verified with the context's CA (python3 only, no
# curl needed on client1): the served certificate's serial and the HTTP status, or the error.
CONNECT = r"""
import json, os, socket, ssl, sys, time
def connect(host, address, context):
    record = {}
    try:
        with socket.create_connection((address, 443), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                record["serial"] = tls.getpeercert()["serialNumber"]
                tls.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
                data = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        record["status"] = data.split(b" ", 2)[1].decode() if data else "empty"
    except ssl.SSLError as error:
        record["error"] = "tls: %s" % (error.reason or error)
    except OSError as error:
        record["error"] = "error: %s" % error
    return record
"""
# Runs on client1: COUNT requests verified with CAFILE, with an optional client certificate; prints each one's HTTP
# status or error.
CLIENT_SCRIPT = (
    CONNECT
    + r"""
host, address, count, cafile, cert, key = sys.argv[1:7]
results = []
for _ in range(int(count)):
    context = ssl.create_default_context(cafile=cafile)
    if cert:
        context.load_cert_chain(cert, key)
    record = connect(host, address, context)
    results.append(record.get("status") or record["error"])
print(json.dumps(results))
"""
)
# Runs on client1 until STOPFILE exists (or for at most SECONDS): requests one after the other; prints one JSON line
# per connection.
LOOP_SCRIPT = (
    CONNECT
    + r"""
host, address, cafile, stopfile, seconds = sys.argv[1:6]
deadline = time.monotonic() + float(seconds)
context = ssl.create_default_context(cafile=cafile)
while not os.path.exists(stopfile) and time.monotonic() < deadline:
    print(json.dumps(dict(connect(host, address, context), t=time.time())), flush=True)
    time.sleep(0.05)  # about 20 connections a second: the lab's two cores also run the cluster
"""
)
MANUAL_TRIGGER = {"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                  "message": "Certificate re-issuance manually triggered"}  # fmt: skip


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


def served_serial(records):
    return next((r["serial"] for r in reversed(records) if "serial" in r), None)


def secret_serial(name):
    secret = json.loads(kubectl("get", "secret", name, "-n", "default", "-o", "json"))
    pem = base64.b64decode(secret["data"]["tls.crt"])
    done = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, check=True)
    return done.stdout.decode().strip().split("=", 1)[1].upper()


def wait_for(what, predicate, timeout):
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started <= timeout, "%s: not after %d s" % (what, timeout)
        time.sleep(0.2)
    return time.monotonic() - started


def certificate_status(name):
    return json.loads(kubectl("get", "certificate", name, "-n", "default", "-o", "json"))["status"]


def issued(name, revision):
    status = certificate_status(name)
    return status.get("revision") == revision and not any(c["type"] == "Issuing" for c in status["conditions"])


def renew_hello(config, records):
    """One manual renewal of hello-tls: (old serial, new serial, s until issued, s until served by the ingress)."""
    revision = certificate_status("hello-tls")["revision"] + 1
    old = served_serial(records)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = [{"op": "add", "path": "/status/conditions/-", "value": dict(MANUAL_TRIGGER, lastTransitionTime=now)}]
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(config), "patch", "certificate", "hello-tls", "-n", "default",
         "--subresource=status", "--type=json", "-p", json.dumps(patch)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    issued_after = wait_for("revision %d of hello-tls issued" % revision, lambda: issued("hello-tls", revision), 30)
    served_after = wait_for("the new certificate served", lambda: served_serial(records) != old, 30)
    assert served_serial(records) == secret_serial("hello-tls")
    return old, served_serial(records), issued_after, served_after


def test_two_manual_renewals_while_client1_connects_without_a_failed_handshake(tmp_path):
    """cmctl renew's write (kubectl >= 1.24 can make it: patch --subresource=status); the lab's nodes have kubectl
    1.20, so the host's kubectl with `microk8s config` does it here."""
    config = tmp_path / "admin.kubeconfig"
    config.touch(mode=0o600)
    config.write_text(node("node1", "/snap/bin/microk8s", "config").stdout)
    stopfile = "/root/tls/stop-renewal-loop"
    node(CLIENT, "rm", "-f", stopfile)
    loop = subprocess.Popen(
        ["lxc", "exec", CLIENT, "--", "python3", "-c", LOOP_SCRIPT, "hello." + DOMAIN, ADDRESS[0],
         "/root/tls/ca.pem", stopfile, "90"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    records = []

    def read():
        for line in loop.stdout:
            records.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        wait_for("client1's first connection to hello", lambda: served_serial(records), 20)
        renewals = [renew_hello(config, records) for _renewal in range(2)]
        count = len(records)
        wait_for("more connections after the second renewal", lambda: len(records) >= count + 10, 20)
    finally:
        node(CLIENT, "touch", stopfile)
        loop.wait(30)
        reader.join(10)
    elapsed = time.monotonic() - started
    serials = [r["serial"] for r in records if "serial" in r]
    changes = sum(1 for i in range(1, len(serials)) if serials[i] != serials[i - 1])  # > 2: nodes updated apart
    failures = [r for r in records if "error" in r or r.get("status") != "200"]
    for old, new, issued_after, served_after in renewals:
        print("renewal %s -> %s: issued %.1f s, served %.1f s later" % (old, new, issued_after, served_after))
    print("%d connections in %.1f s, %d certificates served, %d changes of the served one, %d failed" % (
        len(records), elapsed, len(set(serials)), changes, len(failures)))  # fmt: skip
    assert loop.returncode == 0, loop.stderr.read()
    assert failures == [], failures[:5]
    assert list(dict.fromkeys(serials)) == [renewals[0][0], renewals[0][1], renewals[1][1]]
    assert serials[-1] == renewals[1][1]
    assert elapsed <= 60
