# SPDX-License-Identifier: GPL-3.0-or-later
"""The cert-manager addon per version (contract section 4; canonical/microk8s-core-addons addons/cert-manager):
absent before 1.25, the bundled manifest up to 1.32, the Helm chart with -r/-V from 1.33; what it applies to the
cluster (its CRDs become served kinds; disable deletes them with their objects)."""

from __future__ import annotations

import pytest
from api_fixtures import api_server
from microk8s_double.commands import addon_workloads
from microk8s_double.kubeclient import ApiError


def test_not_available_before_1_25(make_node):
    node = make_node("1.24")
    result = node.run("enable", "cert-manager")
    assert result.rc == 1
    assert result.err.startswith("Addon cert-manager was not found in any repository")


def test_1_33_takes_the_helm_chart_options(make_node):
    node = make_node("1.33")
    bad = node.run("enable", "cert-manager", "-x")
    assert bad.rc == 1
    assert bad.out.splitlines()[:2] == ["Invalid option -x", "Usage: microk8s enable cert-manager [OPTIONS]"]
    assert "   -V VERSION     cert-manager Helm chart version (default: v1.17.1)" in bad.out.splitlines()
    missing = node.run("enable", "cert-manager", "-V")
    assert (missing.rc, missing.out.splitlines()[0]) == (1, "Missing argument for option -V")
    result = node.run("enable", "cert-manager", "-V", "v1.16.0")
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Enable DNS addon" and "Enable helm" in lines and "Enabling cert-manager" in lines
    assert lines.index("Enable helm") < lines.index("Enabling cert-manager") < lines.index("Enabled cert-manager")
    assert node.run("status", "-a", "cert-manager").out == "enabled\n"


def test_1_35_next_steps_name_traefik(make_node):
    result = make_node("1.35").run("enable", "cert-manager")
    assert result.rc == 0
    assert "          ingressClassName: traefik" in result.out.splitlines()


def test_enable_defines_the_kinds_and_disable_deletes_them_with_their_objects(tmp_path):
    with api_server(tmp_path) as api:
        with pytest.raises(ApiError):
            api.client.list("clusterissuers")
        addon_workloads.apply(api.node, "enable", "cert-manager")
        assert api.client.get("namespaces", "cert-manager") is not None
        crds = sorted(c["metadata"]["name"] for c in api.client.list("customresourcedefinitions"))
        assert "certificates.cert-manager.io" in crds and "challenges.acme.cert-manager.io" in crds
        issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "selfsigned"},
                  "spec": {"selfSigned": {}}}  # fmt: skip
        api.client.create("clusterissuers", issuer)
        addon_workloads.apply(api.node, "enable", "cert-manager")  # again: unchanged
        assert [i["metadata"]["name"] for i in api.client.list("clusterissuers")] == ["selfsigned"]
        addon_workloads.apply(api.node, "disable", "cert-manager")
        assert api.client.list("customresourcedefinitions") == []
        with pytest.raises(ApiError) as gone:
            api.client.list("clusterissuers")
        assert gone.value.status == 404
        addon_workloads.apply(api.node, "enable", "cert-manager")
        assert api.client.list("clusterissuers") == []  # the objects went with their CRD
