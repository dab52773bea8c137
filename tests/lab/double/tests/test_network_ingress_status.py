# SPDX-License-Identifier: GPL-3.0-or-later
"""The NGINX ingress addon's DaemonSet and the addresses ingress-nginx publishes in the Ingresses' status: 127.0.0.1
as the addon ships it (`--publish-status-address=127.0.0.1`), the LoadBalancer's address once a user points it at a
Service with `--publish-service`, a fixed one with another `--publish-status-address`, the nodes' without either,
nothing with `--update-status=false`. Against the double's real API server, through `enable ingress` as the
addon's script applies it."""

from __future__ import annotations

import pytest
from api_fixtures import api_server
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import ingressstatus, services

METALLB = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": "metallb-system"}}


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def ingress(name, klass="public"):
    spec = {"rules": [{"host": name + ".home.arpa"}]}
    if klass:
        spec["ingressClassName"] = klass
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}  # fmt: skip


def published(api, name="hello"):
    ingressstatus.sync(api.client)
    status = api.client.get("ingresses", name, "default").get("status") or {}
    return status.get("loadBalancer", {}).get("ingress")


def set_args(api, args):
    daemon = api.client.get("daemonsets", ingressstatus.DAEMONSET, "ingress")
    daemon["spec"]["template"]["spec"]["containers"][0]["args"] = args
    api.client.update("daemonsets", daemon)


def test_the_addon_publishes_127_0_0_1_until_the_user_points_it_at_the_load_balancer(api):
    addon_workloads.apply(api.node, "enable", "ingress")
    daemon = api.client.get("daemonsets", "nginx-ingress-microk8s-controller", "ingress")
    args = daemon["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--publish-status-address=127.0.0.1" in args and "--ingress-class=public" in args
    assert daemon["spec"]["selector"] == {"matchLabels": {"name": "nginx-ingress-microk8s"}}
    api.client.create("ingresses", ingress("hello"))
    api.client.create("ingresses", ingress("other", klass="traefik"))
    assert published(api) == [{"ip": "127.0.0.1"}]
    assert published(api, "other") is None  # another controller's class: left alone

    api.client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}})
    pools = "address-pools:\n- name: default\n  protocol: layer2\n  addresses:\n  - 10.77.0.240-10.77.0.250\n"
    api.client.create("configmaps", dict(METALLB, data={"config": pools}))
    front = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "front", "namespace": "ingress"},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerIP": "10.77.0.250",
            "selector": {"name": "nginx-ingress-microk8s"},
            "ports": [{"name": "https", "port": 443}],
        },
    }
    api.client.create("services", front)
    services.sync(api.client)
    without_fixed = [a for a in args if not a.startswith("--publish-status-address=")]
    set_args(api, [*without_fixed, "--publish-service=ingress/front"])
    assert published(api) == [{"ip": "10.77.0.250"}]

    set_args(api, [*without_fixed, "--publish-service=ingress/front", "--publish-status-address=10.77.0.9,lb.lan"])
    assert published(api) == [{"ip": "10.77.0.9"}, {"hostname": "lb.lan"}]  # the fixed list wins

    set_args(api, [*without_fixed, "--publish-service=ingress/front", "--update-status=false"])
    assert published(api) == [{"ip": "10.77.0.9"}, {"hostname": "lb.lan"}]  # no longer updated

    addon_workloads.apply(api.node, "disable", "ingress")
    assert api.client.get("daemonsets", "nginx-ingress-microk8s-controller", "ingress") is None


def test_without_a_publish_flag_the_ready_nodes_addresses_are_published():
    node = {
        "metadata": {"name": "n1"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.77.0.12"}],
        },
    }
    external = {
        "metadata": {"name": "n2"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [
                {"type": "InternalIP", "address": "10.77.0.11"},
                {"type": "ExternalIP", "address": "198.51.100.7"},
            ],
        },
    }
    lost = {
        "metadata": {"name": "n3"},
        "status": {
            "conditions": [{"type": "Ready", "status": "Unknown"}],
            "addresses": [{"type": "InternalIP", "address": "10.77.0.13"}],
        },
    }
    daemon = ingressstatus.daemonset()
    daemon["spec"]["template"]["spec"]["containers"][0]["args"] = ingressstatus.ARGS[:-1]
    assert ingressstatus.addresses(daemon, [], [node, external, lost]) == [{"ip": "10.77.0.12"}, {"ip": "198.51.100.7"}]
