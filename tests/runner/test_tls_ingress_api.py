# SPDX-License-Identifier: GPL-3.0-or-later
"""The tls_ingress role's Kubernetes side through ansible-runner, without LXD: its API task files run from this
machine against the test double's API server (in-memory store, MicroK8s 1.32 profile) while the double's
controllers (MetalLB's addresses, endpoints, cert-manager, ingress-nginx's status updater) run in a thread, after
`enable ingress`, `enable metallb` and `enable cert-manager` as the addons' scripts apply them.

What it proves: a first run builds it all (issuers Ready, trust bundle and device files 0600 in a 0700 directory,
the ingress' status moved from 127.0.0.1 to the LoadBalancer address), a re-run changes nothing, check mode after
that reports nothing, and revoking a device puts exactly its serial on the CRL in the ingress' auth Secret, keeps its
certificate in revoked/ and deletes its key. The lab scenario (tests/lab/scenarios/test_tls.py) checks the traffic.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
import threading

import ansible_runner
import pytest
import yaml
from test_preflight_local import REPO, _changed, _failure_messages

sys.path.insert(0, str(REPO / "tests" / "lab" / "double"))
sys.path.insert(0, str(REPO / "tests" / "lab" / "double" / "tests"))

from api_fixtures import api_server
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import certmanager, endpoints, ingressstatus, services

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
        {"name": "tls_ingress " + name, "ansible.builtin.include_role": {"name": "onprem.microk8s.tls_ingress",
                                                                          "tasks_from": name}}
        for name in API_TASKS
    ]  # fmt: skip
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
    playbook.write_text(yaml.safe_dump([play]))
    data = tmp_path / ("runner-%d" % len(list(tmp_path.glob("runner-*"))))
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=str(playbook),
        inventory="localhost ansible_connection=local ansible_python_interpreter=" + sys.executable,
        cmdline="--check" if check else None,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=600,
    )


def secret_data(api, namespace, name, key):
    return base64.b64decode(api.client.get("secrets", name, namespace)["data"][key]).decode()


def crl_text(pem):
    return subprocess.run(
        ["openssl", "crl", "-noout", "-text"], input=pem, capture_output=True, text=True, check=True
    ).stdout


def changed_tasks(run):
    events = [e for e in run.events if e.get("event") == "runner_on_ok"]
    return [e["event_data"].get("task") for e in events if e["event_data"]["res"].get("changed")]


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
    ingressstatus.sync(api.client)
    assert api.client.get("ingresses", "probe", "default")["status"]["loadBalancer"]["ingress"] == [
        {"ip": "10.77.0.250"}
    ]
    annotations = api.client.get("ingresses", "hello-devices", "default")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-secret"] == "onprem-devices/device-auth"

    assert oct(tls_dir.stat().st_mode & 0o777) == "0o700"
    for name in ["ca.pem", "ca.der", "ca_pem.h", "network_security_config.xml", "device-ca.crl",
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
    assert api.client.get("certificates", "device-sensor2", "onprem-devices") is None
    assert json.dumps(list(revoked.events)).count(secret_data(api, "onprem-devices", "device-sensor1", "tls.key")) == 0
