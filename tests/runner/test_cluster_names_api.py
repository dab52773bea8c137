# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster_names role's LAN DNS Services through ansible-runner, without LXD: its lan_dns.yml runs from this
machine against the test double's API server (in-memory store) while MetalLB's controller runs in a thread; the
DNS server's Deployment is marked available by the test (no kubelet here).

What it proves, on a 1.23 API server (MixedProtocolLBService off, as real 1.20-1.23): the role's one mixed Service
would be refused (422), so it makes a UDP and a TCP Service that MetalLB gives one address through their common
allow-shared-ip key, even with another Service holding the pool's first address; a re-run and check mode change
nothing. Then the same store behind a 1.24 API server (an upgrade): the role replaces the two Services by one with
UDP and TCP on the same address, and leaves no stale Service; a re-run changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading

import pytest
from local_play import run_play
from test_preflight_local import REPO, _changed, _failure_messages

sys.path.insert(0, str(REPO / "tests" / "lab" / "double"))
sys.path.insert(0, str(REPO / "tests" / "lab" / "double" / "tests"))

from api_fixtures import api_server
from microk8s_double import apiserver, kubeclient, profiles
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import services

NAMESPACE = "onprem-names"
LABEL = "app.kubernetes.io/name=onprem-names-dns"


@pytest.fixture(autouse=True)
def _venv_first_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def controllers(api, stop):
    """MetalLB's controller, and each Deployment's roll over with its replicas available (what the deployment
    controller and the kubelets would report)."""
    while not stop.is_set():
        try:
            services.sync(api.client)
            for deployment in api.client.list("deployments", namespace=NAMESPACE):
                generation = deployment["metadata"].get("generation", 1)
                if (deployment.get("status") or {}).get("observedGeneration") != generation:
                    status = {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2,
                              "readyReplicas": 2, "availableReplicas": 2}  # fmt: skip
                    name = deployment["metadata"]["name"]
                    api.client.patch("deployments", name, {"status": status}, namespace=NAMESPACE, subresource="status")
        except Exception:  # a conflict with the role's write, or the server being swapped: the next round retries
            pass
        stop.wait(0.3)


def run_role(tmp_path, kubeconfig, version, check=False):
    playbook = tmp_path / "lan_dns.yml"
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {
            "kubeconfig_path": str(kubeconfig),
            "__cluster_names_status": {"version": version},
            "cluster_names_ingress_ip": "10.77.0.250",
            "cluster_names_timeout": 60,
        },
        "tasks": [
            {
                "name": "cluster_names lan_dns",
                "ansible.builtin.include_role": {"name": "onprem.microk8s.cluster_names", "tasks_from": "lan_dns.yml"},
            },
            {"name": "Show the address", "ansible.builtin.debug": {"var": "cluster_names_dns_ip"}},
        ],
    }
    return run_play(playbook, play, check)


def lan_services(api):
    found = api.client.list("services", namespace=NAMESPACE)
    return {
        s["metadata"]["name"]: (
            sorted(p["protocol"] for p in s["spec"]["ports"]),
            services.external_ip(s),
            (s["metadata"].get("annotations") or {}).get(services.SHARING_ANNOTATION),
        )
        for s in found
        if s["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "onprem-names-dns"
    }


def shown_address(run):
    for event in run.events:
        if event.get("event") == "runner_on_ok" and event["event_data"].get("task") == "Show the address":
            return event["event_data"]["res"].get("cluster_names_dns_ip")
    return None


def test_split_on_1_23_then_one_mixed_service_after_the_upgrade(tmp_path):
    with api_server(tmp_path / "api", version="1.23") as api:
        addon_workloads.enable_metallb(api.node, "10.77.0.240-10.77.0.250")
        blocker = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "other", "namespace": "default"},
                   "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}}  # fmt: skip
        api.client.create("services", blocker)
        services.sync(api.client)  # it holds 10.77.0.240, unshared
        stop = threading.Event()
        thread = threading.Thread(target=controllers, args=(api, stop), daemon=True)
        thread.start()
        try:
            kubeconfig = api.kubeconfig(tmp_path)

            # The layout of 1.24+ is refused here, as real kube-apiserver 1.23 refuses it.
            ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
            mixed = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe", "namespace": "default"},
                     "spec": {"type": "LoadBalancer", "ports": ports}}  # fmt: skip
            with pytest.raises(kubeclient.ApiError, match="may not contain more than 1 protocol"):
                api.client.create("services", mixed)

            first = run_role(tmp_path, kubeconfig, "v1.23.17")
            assert first.status == "successful", _failure_messages(first)
            split = lan_services(api)
            assert split == {
                "onprem-names-dns-udp": (["UDP"], "10.77.0.241", "onprem-names-dns"),
                "onprem-names-dns-tcp": (["TCP"], "10.77.0.241", "onprem-names-dns"),
            }, split
            assert shown_address(first) == "10.77.0.241"
            again = run_role(tmp_path, kubeconfig, "v1.23.17")
            assert again.status == "successful" and _changed(again) == 0, _failure_messages(again)
            checked = run_role(tmp_path, kubeconfig, "v1.23.17", check=True)
            assert checked.status == "successful" and _changed(checked) == 0, _failure_messages(checked)
            assert shown_address(checked) == "10.77.0.241"

            # The upgrade: the same datastore behind a 1.24 API server.
            api.server.shutdown()
            api.server.server_close()
            (api.node.paths.snap / profiles.PROFILE_FILE).write_text(
                json.dumps({"version": profiles.for_track("1.24").version})
            )
            api.node = dataclasses.replace(api.node, profile=profiles.load(api.node.paths.snap))
            api.server = apiserver.serve(api.node, api.store)

            upgraded = run_role(tmp_path, kubeconfig, "v1.24.17")
            assert upgraded.status == "successful", _failure_messages(upgraded)
            assert lan_services(api) == {"onprem-names-dns": (["TCP", "UDP"], "10.77.0.241", None)}
            assert shown_address(upgraded) == "10.77.0.241"
            after = run_role(tmp_path, kubeconfig, "v1.24.17")
            assert after.status == "successful" and _changed(after) == 0, _failure_messages(after)
        finally:
            stop.set()
            thread.join(10)
