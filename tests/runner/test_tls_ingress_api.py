# SPDX-License-Identifier: GPL-3.0-or-later
"""The tls_ingress role's Kubernetes side through ansible-runner, without LXD: its API task files run from this
machine against the test double's API server (in-memory store, MicroK8s 1.32 profile) while the double's
controllers (MetalLB's addresses, endpoints, cert-manager, ingress-nginx's status updater) run in a thread, after
`enable ingress`, `enable metallb` and `enable cert-manager` as the addons' scripts apply them.

What it proves: a first run builds it all (issuers Ready, trust bundle and device files 0600 in a 0700 directory,
the ingress' status moved from 127.0.0.1 to the LoadBalancer address), the double's ingress (fed the cluster's
Ingresses and Secrets) refuses hello-devices without a device certificate and passes sensor1's and sensor2's,
verified with the exported CA; a re-run changes nothing, check mode after that reports nothing, and revoking sensor2
puts exactly its serial on the CRL in the ingress' auth Secret, keeps its certificate in revoked/, deletes its key,
and the ingress refuses it while sensor1 still passes. A cluster rebuilt with a new device CA while the controller
kept its directory gets a CRL signed by the new CA (an old one would make the ingress refuse every device). The lab
scenario (tests/lab/scenarios/test_tls.py) checks the
same from client1 through the MetalLB address.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from local_play import run_play
from test_preflight_local import REPO, _changed, _failure_messages

sys.path.insert(0, str(REPO / "tests" / "lab" / "double"))
sys.path.insert(0, str(REPO / "tests" / "lab" / "double" / "tests"))

from api_fixtures import api_server
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import certmanager, endpoints, ingressstatus, services
from microk8s_double.network import ingress
from network_fakes import backend, free_port

API_TASKS = ["front.yml", "issuers.yml", "bundle.yml", "devices.yml", "apps.yml"]


@pytest.fixture(autouse=True)
def _venv_first_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    with api_server(base, version="1.32") as api:
        addon_workloads.apply(api.node, "enable", "ingress")
        addon_workloads.enable_metallb(api.node, "10.77.0.240-10.77.0.250")
        addon_workloads.apply(api.node, "enable", "cert-manager")
        stop = threading.Event()

        def controllers():
            while not stop.is_set():
                try:
                    services.sync(api.client)
                    endpoints.sync(api.client, api.node)
                    certmanager.reconcile(api.client, datetime.datetime.now(datetime.timezone.utc))
                    ingressstatus.sync(api.client)
                except Exception:  # a conflict with the role's write: the next round retries
                    pass
                stop.wait(0.3)

        thread = threading.Thread(target=controllers, daemon=True)
        thread.start()
        try:
            yield api, api.kubeconfig(base), base / "tls"
        finally:
            stop.set()
            thread.join(10)


def run_role(tmp_path, kubeconfig, tls_dir, devices, check=False):
    playbook = tmp_path / "api.yml"
    tasks = [
        {
            "name": "tls_ingress " + name,
            "ansible.builtin.include_role": {"name": "onprem.microk8s.tls_ingress", "tasks_from": name},
        }
        for name in API_TASKS
    ]
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {
            "kubeconfig_path": str(kubeconfig),
            "_tls_ingress_flavour": "nginx",
            "tls_ingress_dir": str(tls_dir),
            "tls_ingress_address": "10.77.0.250",
            "tls_ingress_devices": devices,
            "tls_ingress_apps": [{"name": "hello-devices", "service": "hello", "port": 8081, "client_auth": True}],
            "tls_ingress_timeout": 60,
        },
        "tasks": tasks,
    }
    return run_play(playbook, play, check)


def secret_data(api, namespace, name, key):
    return base64.b64decode(api.client.get("secrets", name, namespace)["data"][key]).decode()


def crl_text(pem):
    return subprocess.run(
        ["openssl", "crl", "-noout", "-text"], input=pem, capture_output=True, text=True, check=True
    ).stdout


def changed_tasks(run):
    events = [e for e in run.events if e.get("event") == "runner_on_ok"]
    return [e["event_data"].get("task") for e in events if e["event_data"]["res"].get("changed")]


def through_ingress(api, tmp_path, tls_dir, device=None):
    """One HTTPS request to hello-devices.home.arpa through the double's ingress (the cluster's Ingresses and
    Secrets), verified with the exported ca.pem, with a device's certificate and key (directory, name) or none:
    the HTTP status, or the TLS error."""
    host = "hello-devices.home.arpa"
    deadline = time.monotonic() + 60
    while api.client.get("secrets", "hello-devices-tls", "default") is None:  # ingress-shim's certificate
        assert time.monotonic() < deadline, "hello-devices-tls was not issued within 60 s"
        time.sleep(0.5)
    app, address = backend("hello")
    svc = {
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"clusterIP": "10.152.183.9", "ports": [{"name": "http", "port": 8081, "targetPort": address[1]}]},
    }
    subset = {"addresses": [{"ip": address[0]}], "ports": [{"name": "http", "port": address[1]}]}
    ep = {"metadata": {"name": "hello", "namespace": "default"}, "subsets": [subset]}
    served = ingress.IngressController(tmp_path / ("ingress-%d" % len(list(tmp_path.glob("ingress-*")))))
    port = free_port()
    served.listen("127.0.0.1", free_port(), port)
    try:
        served.update(api.client.list("ingresses"), [svc], [ep], api.client.list("secrets"))
        context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        if device:
            context.load_cert_chain(str(device[0] / (device[1] + ".crt")), str(device[0] / (device[1] + ".key")))
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
                answer = b""
                while chunk := tls.recv(65536):
                    answer += chunk
            return answer.split(b" ", 2)[1].decode()
        except ssl.SSLError as error:
            return "tls: %s" % error
    finally:
        served.close()
        app.shutdown()


def serial(pem):
    done = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().split("=")[1].upper()


def test_build_rerun_check_and_revoke(cluster, tmp_path):
    api, kubeconfig, tls_dir = cluster
    devices = [{"name": "sensor1"}, {"name": "sensor2"}]
    first = run_role(tmp_path, kubeconfig, tls_dir, devices)
    assert first.status == "successful", _failure_messages(first)

    issuer = api.client.get("clusterissuers", "onprem-tls")
    assert issuer["spec"] == {"ca": {"secretName": "onprem-root-ca"}}
    front = api.client.get("services", "onprem-ingress", "ingress")
    assert front["metadata"]["labels"]["onprem.microk8s/component"] == "ingress"
    assert front["status"]["loadBalancer"]["ingress"] == [{"ip": "10.77.0.250"}]
    args = api.client.get("daemonsets", "nginx-ingress-microk8s-controller", "ingress")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--publish-service=ingress/onprem-ingress" in args
    assert not [a for a in args if a.startswith("--publish-status-address")]
    probe = {"ingressClassName": "public", "rules": [{"host": "p.home.arpa"}]}
    api.client.create("ingresses", {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                    "metadata": {"name": "probe", "namespace": "default"}, "spec": probe})  # fmt: skip
    # the fixture's controller loop publishes the address (a direct sync here raced it: 409 Conflict)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        (api.client.get("ingresses", "probe", "default").get("status") or {}).get("loadBalancer", {}).get("ingress")
    ):
        time.sleep(0.3)
    assert api.client.get("ingresses", "probe", "default")["status"]["loadBalancer"]["ingress"] == [
        {"ip": "10.77.0.250"}
    ]
    annotations = api.client.get("ingresses", "hello-devices", "default")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-secret"] == "onprem-devices/device-auth"

    assert oct(tls_dir.stat().st_mode & 0o777) == "0o700"
    [crl] = tls_dir.glob("device-ca-*.crl")  # one CRL, named after the device CA that signed it
    for name in ["ca.pem", "ca.der", "ca_pem.h", "network_security_config.xml", crl.name,
                 "devices/sensor1.crt", "devices/sensor1.key", "devices/sensor2.key"]:  # fmt: skip
        assert oct((tls_dir / name).stat().st_mode & 0o777) == "0o600", name
    root = secret_data(api, "cert-manager", "onprem-root-ca", "tls.crt")
    assert (tls_dir / "ca.pem").read_text().strip() == root.strip()
    device_ca = secret_data(api, "onprem-devices", "device-auth", "ca.crt")
    verified = subprocess.run(["openssl", "verify", "-CAfile", "/dev/stdin", str(tls_dir / "devices/sensor1.crt")],
                              input=device_ca, capture_output=True, text=True, check=False)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    empty = crl_text(secret_data(api, "onprem-devices", "device-auth", "ca.crl"))
    assert "No Revoked Certificates" in empty

    assert through_ingress(api, tmp_path, tls_dir) == "400"  # nginx: No required SSL certificate was sent
    assert through_ingress(api, tmp_path, tls_dir, (tls_dir / "devices", "sensor1")) == "200"
    kept = tmp_path / "sensor2"  # what the device holds once its files leave the controller
    kept.mkdir()
    for suffix in (".crt", ".key"):
        shutil.copy(tls_dir / "devices" / ("sensor2" + suffix), kept / ("sensor2" + suffix))
    assert through_ingress(api, tmp_path, tls_dir, (kept, "sensor2")) == "200"

    second = run_role(tmp_path, kubeconfig, tls_dir, devices)
    assert second.status == "successful", _failure_messages(second)
    assert _changed(second) == 0, changed_tasks(second)
    checked = run_role(tmp_path, kubeconfig, tls_dir, devices, check=True)
    assert checked.status == "successful", _failure_messages(checked)
    assert _changed(checked) == 0

    sensor2 = serial((tls_dir / "devices/sensor2.crt").read_text())
    revoked = run_role(tmp_path, kubeconfig, tls_dir, [{"name": "sensor1"}, {"name": "sensor2", "state": "revoked"}])
    assert revoked.status == "successful", _failure_messages(revoked)
    crl = crl_text(secret_data(api, "onprem-devices", "device-auth", "ca.crl"))
    listed = [line.split(":", 1)[1].strip() for line in crl.splitlines() if "Serial Number:" in line]
    assert listed == [sensor2]
    assert [p.name.split("-")[0] for p in (tls_dir / "revoked").iterdir()] == ["sensor2"]
    assert not (tls_dir / "devices/sensor2.key").exists()
    refused = through_ingress(api, tmp_path, tls_dir, (kept, "sensor2"))
    assert refused == "400" or refused.startswith("tls:"), refused
    assert through_ingress(api, tmp_path, tls_dir, (tls_dir / "devices", "sensor1")) == "200"
    assert api.client.get("certificates", "device-sensor2", "onprem-devices") is None
    assert json.dumps(list(revoked.events)).count(secret_data(api, "onprem-devices", "device-sensor1", "tls.key")) == 0


def test_a_rebuilt_cluster_with_the_kept_directory_gets_a_crl_its_new_device_ca_signed(cluster, tmp_path):
    # The cluster is rebuilt (here: its device CA re-issued with a new key) while the controller keeps tls_ingress_dir
    # and its CRL. A CRL signed by the old CA key would make the ingress refuse every device.
    api, kubeconfig, tls_dir = cluster
    devices = [{"name": "sensor1"}]
    assert run_role(tmp_path, kubeconfig, tls_dir, devices).status == "successful"
    old_ca = secret_data(api, "cert-manager", "onprem-device-ca", "tls.crt")
    api.client.delete("secrets", "onprem-device-ca", "cert-manager")
    wait_until = time.monotonic() + 60
    while time.monotonic() < wait_until:
        held = api.client.get("secrets", "onprem-device-ca", "cert-manager")
        if held and base64.b64decode(held["data"]["tls.crt"]).decode() != old_ca:
            break
        time.sleep(0.5)
    else:
        pytest.fail("cert-manager did not re-issue the device CA within 60 s")

    rerun = run_role(tmp_path, kubeconfig, tls_dir, devices)

    assert rerun.status == "successful", _failure_messages(rerun)
    new_ca = tmp_path / "device-ca.pem"
    new_ca.write_text(secret_data(api, "onprem-devices", "device-auth", "ca.crt"))
    assert new_ca.read_text() != old_ca
    verified = subprocess.run(
        ["openssl", "crl", "-noout", "-CAfile", str(new_ca)],
        input=secret_data(api, "onprem-devices", "device-auth", "ca.crl"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and "verify OK" in verified.stdout + verified.stderr, verified.stderr
