# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s enable|disable` and `addons repo` against the contract (section 4)."""

from __future__ import annotations

import json


def enabled(node, name: str) -> bool:
    return node.run("status", "-a", name).out == "enabled\n"


def test_enable_then_already_enabled(node):
    result = node.run("enable", "rbac")
    assert result.rc == 0
    assert enabled(node, "rbac")
    again = node.run("enable", "rbac")
    expected = "Addon core/rbac is already enabled\n" if node.minor >= 24 else "Addon rbac is already enabled.\n"
    assert (again.rc, again.out) == (0, expected)
    assert ("Infer repository core for addon rbac" in again.err) == (node.minor >= 24)
    assert node.run("disable", "rbac").rc == 0
    assert not enabled(node, "rbac")


def test_unknown_addon_by_version(node):
    result = node.run("enable", "foo")
    assert result.rc == 1
    if node.minor >= 24:
        assert result.err.startswith("Addon foo was not found in any repository")
        qualified = node.run("enable", "core/foo")
        assert (qualified.rc, qualified.out) == (0, "Addon core/foo not found\n")
    else:
        assert result.err == "Nothing to do for `foo`.\n"


def test_mixing_colon_and_flag_arguments_fails(node):
    result = node.run("enable", "dns:1.1.1.1", "--foo")
    assert result.rc == 1
    assert result.out.startswith("Can't pass string arguments and flag arguments simultaneously!")


def test_help_flag_enables_nothing(node):
    result = node.run("enable", "metallb", "--help")
    assert (result.rc, result.out.splitlines()[0]) == (0, "Addon metallb does not yet have a help message.")
    assert not enabled(node, "metallb")


def test_metallb_prompt_fails_without_a_terminal(node):
    result = node.run("enable", "metallb")
    assert result.rc == (0 if node.minor == 20 else 1)
    assert not enabled(node, "metallb")


def test_metallb_range_validation(node):
    bad = node.run("enable", "metallb:10.64.140.43-nonsense")
    assert "Your input value (10.64.140.43-nonsense) is not a valid IP Range" in bad.out
    assert bad.rc == (0 if node.minor == 20 else 1)
    good = node.run("enable", "metallb:10.64.140.43-10.64.140.49,10.77.1.0/28")
    assert (good.rc, good.out.splitlines()[-1]) == (0, "MetalLB is enabled")
    assert enabled(node, "metallb")


def test_several_addons_in_one_call(node):
    result = node.run("enable", "rbac", "registry")
    assert result.rc == 0
    assert enabled(node, "rbac") and enabled(node, "registry")
    assert ("WARNING: Do not enable or disable multiple addons in one command." in result.out) == (node.minor >= 27)


def test_stopped_node_refuses(node):
    node.lock("stopped.lock").touch()
    result = node.run("enable", "rbac")
    assert (result.rc, result.err) == (1, "microk8s is not running, try microk8s start\n")


def test_worker_node_refuses(node):
    node.lock("clustered.lock").touch()
    result = node.run("enable", "rbac")
    assert (result.rc, result.out.splitlines()[-1]) == (1, "Please use the master node.")


def test_hostpath_storage_disable_prompts(node):
    name = "hostpath-storage" if node.minor >= 24 else "storage"
    assert node.run("enable", name).rc == 0
    prompted = node.run("disable", name)
    assert prompted.rc == (0 if node.minor == 20 else 1)
    assert enabled(node, name)
    forced = node.run("disable", f"{name}:destroy-storage")
    assert forced.rc == 0
    assert not enabled(node, name)


def test_storage_alias_is_deprecated_from_1_24(node):
    result = node.run("enable", "storage")
    assert result.rc == 0
    spelling = "DEPRECATION" if node.minor >= 28 else "DEPRECIATION"  # core-addons' storage/enable, 1.24-1.27
    assert (f"{spelling} WARNING: 'storage' is deprecated" in result.out) == (node.minor >= 24)


def test_dns_argument_check(node):
    if node.minor >= 27:
        assert node.run("disable", "dns").rc == 0
    result = node.run("enable", "dns:not-an-ip")
    assert "Your input value (not-an-ip) is not a valid" in result.out
    assert result.rc == (0 if node.minor == 20 else 1)
    assert node.run("enable", "dns:127.0.0.1").rc == 0
    assert enabled(node, "dns")


def test_ingress_unknown_argument(node):
    result = node.run("enable", "ingress:foo=bar")
    assert "Unknown argument 'foo'." in result.out
    assert node.run("enable", "ingress:default-ssl-certificate=default/tls").rc == 0


def test_ha_cluster_disable_needs_force(node):
    result = node.run("disable", "ha-cluster")
    assert "please use the '--force' flag." in result.out
    assert result.rc == (0 if node.minor == 20 else 2)
    assert enabled(node, "ha-cluster")
    assert node.run("disable", "ha-cluster", "--force").rc == 0
    assert not enabled(node, "ha-cluster")


def test_addon_repositories(make_node):
    node = make_node("1.28")
    listing = node.run("addons", "repo", "list").out.splitlines()
    assert listing[0].split() == ["REPO", "ADDONS", "SOURCE"]
    assert [row.split()[0] for row in listing[1:]] == ["core"]
    assert node.run("enable", "community").rc == 0
    again = node.run("addons", "repo", "add", "community", "/nonexistent")
    assert (again.rc, again.out) == (1, "Error: repository 'community' already exists!\n")
    assert node.run("addons", "repo", "remove", "community").rc == 0
    assert "community" not in node.run("addons", "repo", "list").out.split()


def test_addons_subcommand_is_missing_before_1_24(make_node):
    result = make_node("1.20").run("addons", "repo", "list")
    assert (result.rc, result.out.splitlines()[0]) == (1, "'addons' is not a valid MicroK8s subcommand.")


def test_addon_state_lives_in_the_cluster_datastore(node):
    assert node.run("enable", "rbac").rc == 0
    stored = json.loads(node.scenario_file.read_text())["data"]
    assert "core/rbac" in stored["/registry/microk8s-double/enabled-addons"]
    node.scenario({})
    result = node.run("enable", "registry")
    assert result.rc == (0 if node.minor == 20 else 1)
    assert "The connection to the server 127.0.0.1:2 was refused" in result.err


ENABLED_KEY = "/registry/microk8s-double/enabled-addons"
COREDNS_APPLY = [
    "serviceaccount/coredns created",
    "configmap/coredns created",
    "deployment.apps/coredns created",
    "service/kube-dns created",
    "clusterrole.rbac.authorization.k8s.io/coredns created",
    "clusterrolebinding.rbac.authorization.k8s.io/coredns created",
]


def with_enabled(node, *names):
    node.scenario({"nodes": [{"name": "node-1", "status": "Ready"}], "data": {ENABLED_KEY: sorted(names)}})


def test_dns_prints_its_script_and_kubectls_lines_from_1_24(make_node, tmp_path):
    """core-addons dns/enable 1.28: the upstream source, the manifest kubectl applies, the service address."""
    node = make_node("1.28")
    with_enabled(node, "core/helm", "core/helm3")
    resolv = tmp_path / "resolv.conf"
    (node.data / "args" / "kubelet").write_text(f"--resolv-conf={resolv}\n")
    result = node.run("enable", "dns")
    assert result.rc == 0
    assert result.err == "Infer repository core for addon dns\n"
    assert result.out.splitlines() == [
        "Enabling DNS",
        f"Using host configuration from {resolv}",
        "Applying manifest",
        *COREDNS_APPLY,
        "CoreDNS service deployed with IP address 10.152.183.10",
        "DNS is enabled",
    ]


def test_dns_on_1_24_validates_ipv4_upstreams_and_restarts_kubelet(make_node):
    node = make_node("1.24")
    result = node.run("enable", "dns:1.1.1.1,8.8.8.8")
    assert result.out.splitlines() == [
        "Enabling DNS",
        "Applying manifest",
        *COREDNS_APPLY,
        "Restarting kubelet",
        "DNS is enabled",
    ]
    node.run("disable", "dns")
    bad = node.run("enable", "dns:dns.google")
    assert (bad.rc, bad.out) == (1, "Enabling DNS\nYour input value (dns.google) is not a valid IP address\n")


def test_cert_manager_enables_its_dependency_first(make_node):
    """1.27+: `Enable DNS addon` then a nested `microk8s enable dns`: here already enabled (1.27+ default)."""
    node = make_node("1.28")
    result = node.run("enable", "cert-manager")
    assert result.rc == 0
    assert result.err == "Infer repository core for addon cert-manager\nInfer repository core for addon dns\n"
    lines = result.out.splitlines()
    assert lines[:3] == ["Enable DNS addon", "Addon core/dns is already enabled", "Enabling cert-manager"]
    assert "namespace/cert-manager created" in lines and "deployment.apps/cert-manager-webhook created" in lines
    tail = lines.index("Waiting for cert-manager to be ready.")
    assert lines[tail : tail + 5] == [
        "Waiting for cert-manager to be ready.",
        "ready",
        "Enabled cert-manager",
        "",
        "===========================",
    ]
    assert lines[-2:] == ["    --rule 'my-service.example.com/*=my-service:80,tls=my-service-tls'", ""]
    assert enabled(node, "cert-manager")


def test_metallb_applies_crds_manifest_and_pool_from_1_25(make_node):
    node = make_node("1.28")
    lines = node.run("enable", "metallb:10.77.0.240-10.77.0.250").out.splitlines()
    assert lines[:2] == ["Enabling MetalLB", "Applying Metallb manifest"]
    assert "customresourcedefinition.apiextensions.k8s.io/ipaddresspools.metallb.io created" in lines
    assert lines[-5:] == [
        "Waiting for Metallb controller to be ready.",
        "deployment.apps/controller condition met",
        "ipaddresspool.metallb.io/default-addresspool created",
        "l2advertisement.metallb.io/default-advertise-all-pools created",
        "MetalLB is enabled",
    ]
    ipv6 = make_node("1.28", "ipv6").run("enable", "metallb", "fd00::10-fd00::20")
    assert (ipv6.rc, ipv6.out.splitlines()[-1]) == (1, "Your input value (fd00::10-fd00::20) is not a valid IP Range")
    assert make_node("1.32").run("enable", "metallb", "fd00::10-fd00::20").rc == 0  # IPv6 regexes from 1.31


def test_ingress_rbac_and_hostpath_storage_texts(make_node):
    node = make_node("1.28")
    ingress = node.run("enable", "ingress").out.splitlines()
    assert ingress[0] == "Enabling Ingress" and ingress[-1] == "Ingress is enabled"
    assert "daemonset.apps/nginx-ingress-microk8s-controller created" in ingress
    rbac = node.run("enable", "rbac").out.splitlines()
    assert rbac == ["Enabling RBAC", "Reconfiguring apiserver", "Restarting apiserver", "RBAC is enabled"]
    storage = node.run("enable", "hostpath-storage").out.splitlines()
    assert storage[:4] == [
        "Enabling default storage class.",
        "WARNING: Hostpath storage is not suitable for production environments.",
        "         A hostpath volume can grow beyond the size limit set in the volume claim manifest.",
        "",
    ]
    assert storage[-2:] == [
        "clusterrolebinding.rbac.authorization.k8s.io/microk8s-hostpath created",
        "Storage will be available soon.",
    ]
    bad = make_node("1.28", "policy").run("enable", "hostpath-storage", "--reclaim-policy", "Keep")
    assert (bad.rc, bad.out.splitlines()[:2]) == (1, ["", "Please check submitted arguments."])


def test_ha_cluster_enable_texts(make_node):
    node = make_node("1.28")
    assert node.run("disable", "ha-cluster", "--force").rc == 0
    lines = node.run("enable", "ha-cluster").out.splitlines()
    assert lines[0] == "Enabling HA" and lines[-2:] == [
        "The node is now HA ready. Join three or more nodes to form an HA cluster.",
        "",
    ]
    assert enabled(node, "ha-cluster")


def test_the_community_hint_only_for_community_addons(make_node):
    node = make_node("1.28")
    unknown = node.run("enable", "foo")
    assert (unknown.rc, unknown.out, unknown.err) == (1, "", "Addon foo was not found in any repository\n")
    community = node.run("enable", "argocd")
    assert (community.rc, community.err) == (1, "Addon argocd was not found in any repository\n")
    assert community.out == (
        "To use the community maintained flavor enable the respective repository:\n\n    microk8s enable community\n\n"
    )


def test_several_addons_warn_after_resolving_them_from_1_27(make_node):
    node = make_node("1.28")
    result = node.run("enable", "rbac", "host-access")
    assert result.err == "Infer repository core for addon rbac\nInfer repository core for addon host-access\n"
    assert result.out.splitlines()[:3] == [
        "WARNING: Do not enable or disable multiple addons in one command.",
        "         This form of chained operations on addons will be DEPRECATED in the future.",
        "         Please, enable one addon at a time: 'microk8s enable <addon>'",
    ]
