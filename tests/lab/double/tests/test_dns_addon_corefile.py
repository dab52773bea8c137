# SPDX-License-Identifier: GPL-3.0-or-later
"""The dns addon leaves its ConfigMap kube-system/coredns (MicroK8s' Corefile) for users to edit, as the real
addon's manifest does; disabling it deletes the ConfigMap. (The double runs no CoreDNS that would read it.)"""

from __future__ import annotations

from api_fixtures import api_server
from microk8s_double import apiserver
from microk8s_double.commands import addon_workloads, core_addons


def test_enable_writes_microk8s_corefile_and_disable_removes_it(tmp_path):
    with api_server(tmp_path) as api:
        assert api.client.get("configmaps", "coredns", "kube-system") is None
        addon_workloads.apply(api.node, "enable", "dns")
        found = api.client.get("configmaps", "coredns", "kube-system")
        corefile = found["data"]["Corefile"]
        assert corefile.startswith(".:53 {\n") and "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n" in corefile
        assert "    reload\n" in corefile  # CoreDNS picks up users' edits without a restart
        assert found["metadata"]["labels"]["k8s-app"] == "kube-dns"
        edited = dict(found, data={"Corefile": corefile + "home.arpa:53 {\n    hosts {\n    }\n}\n"})
        api.client.update("configmaps", edited)
        addon_workloads.apply(api.node, "disable", "dns")
        assert api.client.get("configmaps", "coredns", "kube-system") is None


def test_the_1_24_plus_enable_script_applies_it(tmp_path):
    with api_server(tmp_path, version="1.32") as api:
        core_addons.dns(api.node, ["8.8.8.8"], lambda server: True)
        assert "Corefile" in api.client.get("configmaps", "coredns", "kube-system")["data"]


def test_a_fresh_1_27_plus_node_has_the_coredns_configmap_of_its_default_dns_once(tmp_path):
    """1.27+ enables dns by its default launch configuration at the first start: the ConfigMap is there without any
    `enable dns` (which would say "already enabled"); once disabled, or deleted, a restart does not bring it back."""
    with api_server(tmp_path, version="1.32") as api:
        assert api.client.get("configmaps", "coredns", "kube-system") is None
        apiserver.bootstrap_launch_configuration(api.node, api.store)
        assert "Corefile" in api.client.get("configmaps", "coredns", "kube-system")["data"]
        api.client.delete("configmaps", "coredns", "kube-system")
        apiserver.bootstrap_launch_configuration(api.node, api.store)  # the next start of kubelite
        assert api.client.get("configmaps", "coredns", "kube-system") is None


def test_before_1_27_dns_is_not_enabled_by_default_and_no_configmap_appears(tmp_path):
    with api_server(tmp_path, version="1.26") as api:
        apiserver.bootstrap_launch_configuration(api.node, api.store)
        assert api.client.get("configmaps", "coredns", "kube-system") is None
