# SPDX-License-Identifier: GPL-3.0-or-later
"""Mixed-protocol LoadBalancer Services and MetalLB's shared addresses, as real Kubernetes and MetalLB behave.

- kube-apiserver refuses a LoadBalancer Service with more than one protocol while the MixedProtocolLBService gate is
  off: its default per version (alpha, off, 1.20-1.23; beta, on, 1.24-1.25; GA, locked on, 1.26-1.27; removed 1.28),
  turned on by `--feature-gates=MixedProtocolLBService=true` in args/kube-apiserver (added to the shipped
  `--feature-gates=RemoveSelfLink=false`: repeated `--feature-gates` flags add up). An update keeps a Service that
  already mixes protocols.
- MetalLB gives two LoadBalancer Services one address only when both carry the same
  `metallb.universe.tf/allow-shared-ip` key (and, with externalTrafficPolicy Local, the same selector) and their
  (protocol, port) pairs do not clash: how UDP 53 and TCP 53 share one address before 1.24.
"""

from __future__ import annotations

import pytest
from api_fixtures import api_server
from microk8s_double import kubeargs, kubeclient
from microk8s_double.api import validate
from microk8s_double.commands import addon_workloads
from microk8s_double.controllers import services

REFUSAL = "may not contain more than 1 protocol when type is 'LoadBalancer'"
GATE_ON = "--feature-gates=MixedProtocolLBService=true"
KEY = services.SHARING_ANNOTATION


def dns_service(name="dns", kind="LoadBalancer", protocols=("UDP", "TCP"), address=None, key=None, **spec):
    ports = [{"name": f"dns-{p.lower()}", "port": 53, "targetPort": 53, "protocol": p} for p in protocols]
    meta = {"name": name, "namespace": "default", "uid": name, "creationTimestamp": name}
    if key is not None:
        meta["annotations"] = {KEY: key}
    spec = dict(spec, type=kind, ports=ports, selector=spec.get("selector", {"app": "dns"}))
    if address:
        spec["loadBalancerIP"] = address
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def api_create(tmp_path, version, service, lines=()):
    with api_server(tmp_path, version, apiserver_lines=lines) as api:
        body = dict(
            service,
            metadata={k: v for k, v in service["metadata"].items() if k in ("name", "namespace", "annotations")},
        )
        return api.client.create("services", body)


@pytest.mark.parametrize("version", ["1.20", "1.23"])
def test_a_mixed_protocol_load_balancer_is_refused_while_the_gate_is_off_by_default(tmp_path, version):
    with pytest.raises(kubeclient.ApiError) as refused:
        api_create(tmp_path, version, dns_service())
    assert refused.value.status == 422 and refused.value.reason == "Invalid"
    assert 'Service "dns" is invalid: spec.ports: Invalid value: []core.ServicePort{' in refused.value.message
    assert REFUSAL in refused.value.message


@pytest.mark.parametrize("version", ["1.24", "1.26", "1.32"])
def test_a_mixed_protocol_load_balancer_is_accepted_from_1_24(tmp_path, version):
    stored = api_create(tmp_path, version, dns_service())
    assert sorted(p["protocol"] for p in stored["spec"]["ports"]) == ["TCP", "UDP"]


def test_the_feature_gate_in_the_args_file_turns_it_on_before_1_24(tmp_path):
    stored = api_create(tmp_path, "1.23", dns_service(), lines=(GATE_ON,))
    assert sorted(p["protocol"] for p in stored["spec"]["ports"]) == ["TCP", "UDP"]


def test_the_gate_turned_off_on_1_24_refuses_again(tmp_path):
    with pytest.raises(kubeclient.ApiError, match=REFUSAL):
        api_create(tmp_path, "1.24", dns_service(), lines=("--feature-gates=MixedProtocolLBService=false",))


@pytest.mark.parametrize("version", ["1.20", "1.23"])
def test_single_protocol_load_balancers_and_mixed_cluster_ips_pass_without_the_gate(tmp_path, version):
    with api_server(tmp_path, version) as api:
        for name, service in (("udp", dns_service(protocols=("UDP",))), ("tcp", dns_service(protocols=("TCP",))),
                              ("inside", dns_service(kind="ClusterIP"))):  # fmt: skip
            api.client.create("services", dict(service, metadata={"name": name, "namespace": "default"}))
        assert {s["metadata"]["name"] for s in api.client.list("services", namespace="default")} >= {
            "udp", "tcp", "inside"}  # fmt: skip


def test_an_update_to_a_mixed_load_balancer_is_refused_unless_the_stored_one_mixes_already(tmp_path):
    with api_server(tmp_path, "1.23") as api:
        single = dns_service(protocols=("UDP",))
        api.client.create("services", dict(single, metadata={"name": "dns", "namespace": "default"}))
        ports = dns_service()["spec"]["ports"]
        with pytest.raises(kubeclient.ApiError, match=REFUSAL):
            api.client.patch("services", "dns", {"spec": {"ports": ports}}, namespace="default")
        assert [p["protocol"] for p in api.client.get("services", "dns", "default")["spec"]["ports"]] == ["UDP"]
        # The check looks at the stored Service's protocols, not its type (validateMixedProtocolLBService): a
        # ClusterIP Service that mixes them already may turn into a LoadBalancer, as on real 1.20-1.23.
        inside = dns_service("inside", kind="ClusterIP")
        api.client.create("services", dict(inside, metadata={"name": "inside", "namespace": "default"}))
        api.client.patch("services", "inside", {"spec": {"type": "LoadBalancer"}}, namespace="default")
        assert api.client.get("services", "inside", "default")["spec"]["type"] == "LoadBalancer"
    assert validate.mixed_protocol_errors(dns_service(), dns_service("old")) == []


def test_feature_gate_flags_add_up_and_bad_values_stop_the_api_server():
    gates = kubeargs.feature_gates(["--feature-gates=RemoveSelfLink=false", "--feature-gates", "A=true,B=0"])
    assert gates == {"RemoveSelfLink": False, "A": True, "B": False}
    with pytest.raises(kubeargs.ArgsError, match=r"strconv\.ParseBool"):
        kubeargs.feature_gates(["--feature-gates=MixedProtocolLBService=yes"])
    assert kubeargs.gate_enabled(23, {}, "MixedProtocolLBService") is False
    assert kubeargs.gate_enabled(23, {"MixedProtocolLBService": True}, "MixedProtocolLBService") is True
    assert kubeargs.gate_enabled(24, {}, "MixedProtocolLBService") is True
    with pytest.raises(kubeargs.ArgsError, match="locked to true"):
        kubeargs.gate_enabled(26, {"MixedProtocolLBService": False}, "MixedProtocolLBService")
    with pytest.raises(kubeargs.ArgsError, match="unrecognized feature gate: MixedProtocolLBService"):
        kubeargs.gate_enabled(28, {"MixedProtocolLBService": True}, "MixedProtocolLBService")


# -- MetalLB's shared addresses -------------------------------------------------------------------------------------

POOL = [tuple(services.ipaddress.ip_address(a) for a in ("10.77.0.240", "10.77.0.250"))]


def settle(*wanted):
    """MetalLB's passes over these services, in creation order: name -> address (None: <pending>)."""
    held = list(wanted)
    for assigned in services.assign_load_balancers(held, POOL):
        held = [assigned if s["metadata"]["uid"] == assigned["metadata"]["uid"] else s for s in held]
    return {s["metadata"]["name"]: services.external_ip(s) for s in held}


def test_udp_and_tcp_services_with_one_key_share_the_requested_address():
    found = settle(dns_service("a-udp", protocols=("UDP",), key="dns"),
                   dns_service("b-tcp", protocols=("TCP",), key="dns", address="10.77.0.240"))  # fmt: skip
    assert found == {"a-udp": "10.77.0.240", "b-tcp": "10.77.0.240"}


def test_an_unrequested_address_is_the_first_that_can_take_the_service_shared_or_free():
    found = settle(
        dns_service("a-udp", protocols=("UDP",), key="dns"), dns_service("b-tcp", protocols=("TCP",), key="dns")
    )
    assert found == {"a-udp": "10.77.0.240", "b-tcp": "10.77.0.240"}
    found = settle(dns_service("a-udp", protocols=("UDP",), key="dns"), dns_service("b-tcp", protocols=("TCP",)))
    assert found == {"a-udp": "10.77.0.240", "b-tcp": "10.77.0.241"}  # no key: a free address of its own


@pytest.mark.parametrize(
    "first, second",
    [
        ({"key": None}, {"key": None}),  # neither allows sharing
        ({"key": "dns"}, {"key": None}),  # the newcomer does not
        ({"key": None}, {"key": "dns"}),  # the holder does not
        ({"key": "dns"}, {"key": "other"}),  # keys differ
        ({"key": "dns", "protocols": ("UDP",)}, {"key": "dns", "protocols": ("UDP",)}),  # UDP 53 twice
        (
            {"key": "dns", "externalTrafficPolicy": "Local", "selector": {"app": "a"}},
            {"key": "dns", "externalTrafficPolicy": "Local", "selector": {"app": "b"}},
        ),  # Local services with other backends
    ],
)
def test_a_requested_address_that_cannot_be_shared_leaves_the_service_pending(first, second):
    one = dict({"protocols": ("UDP",)}, **first)
    two = dict({"protocols": ("TCP",)}, **second)
    found = settle(dns_service("a", **one), dns_service("b", address="10.77.0.240", **two))
    assert found == {"a": "10.77.0.240", "b": None}


def test_local_services_with_the_same_selector_share():
    local = {"key": "dns", "externalTrafficPolicy": "Local", "selector": {"app": "dns"}}
    found = settle(dns_service("a", protocols=("UDP",), **local),
                   dns_service("b", protocols=("TCP",), address="10.77.0.240", **local))  # fmt: skip
    assert found == {"a": "10.77.0.240", "b": "10.77.0.240"}


def test_two_services_share_an_address_through_the_api_on_1_23(tmp_path):
    with api_server(tmp_path, "1.23") as api:
        addon_workloads.enable_metallb(api.node, "10.77.0.240-10.77.0.250")
        api.client.create(
            "services",
            dict(dns_service("blocker", protocols=("TCP",)), metadata={"name": "blocker", "namespace": "default"}),
        )
        services.sync(api.client)
        udp = dns_service("dns-udp", protocols=("UDP",), key="onprem-dns")
        api.client.create(
            "services",
            dict(udp, metadata={"name": "dns-udp", "namespace": "default", "annotations": {KEY: "onprem-dns"}}),
        )
        services.sync(api.client)
        address = services.external_ip(api.client.get("services", "dns-udp", "default"))
        tcp = dns_service("dns-tcp", protocols=("TCP",), key="onprem-dns", address=address)
        api.client.create(
            "services",
            dict(tcp, metadata={"name": "dns-tcp", "namespace": "default", "annotations": {KEY: "onprem-dns"}}),
        )
        services.sync(api.client)
        stored = {
            n: services.external_ip(api.client.get("services", n, "default")) for n in ("blocker", "dns-udp", "dns-tcp")
        }
    assert stored == {"blocker": "10.77.0.240", "dns-udp": "10.77.0.241", "dns-tcp": "10.77.0.241"}
