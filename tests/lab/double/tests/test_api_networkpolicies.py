# SPDX-License-Identifier: GPL-3.0-or-later
"""networking.k8s.io/v1 NetworkPolicy in the API: defaults and validation as kube-apiserver's (pkg/apis/networking),
kubectl's columns and apply; namespaces' `kubernetes.io/metadata.name` label (1.21+), which namespaceSelectors use."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from api_fixtures import api_server
from microk8s_double.kubeclient import ApiError

NAME_LABEL = "kubernetes.io/metadata.name"


def policy(name: str = "allow", **spec) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


def test_defaults_policy_types_protocols_and_selector_and_counts_generations(api):
    made = api.client.create("networkpolicies", policy(ingress=[{"ports": [{"port": 80}]}]), "default")
    assert made["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"],
                            "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}]}  # fmt: skip
    assert made["metadata"]["generation"] == 1
    both = api.client.create("networkpolicies", policy("out", egress=[{}]), "default")
    assert both["spec"]["policyTypes"] == ["Ingress", "Egress"]
    only_egress = api.client.create("networkpolicies", policy("e", policyTypes=["Egress"]), "default")
    assert only_egress["spec"]["policyTypes"] == ["Egress"]
    changed = api.client.patch("networkpolicies", "allow", {"spec": {"ingress": []}}, "default")
    assert changed["metadata"]["generation"] == 2 and changed["spec"]["ingress"] == []
    assert [p["metadata"]["name"] for p in api.client.list("networkpolicies", "default")] == ["allow", "e", "out"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"ingress": [{"ports": [{"port": 0}]}]},
         "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
        ({"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]},
         "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"),
        ({"egress": [{"ports": [{"port": "http", "endPort": 80}]}]},
         "spec.egress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` is non-numeric"),
        ({"ingress": [{"ports": [{"endPort": 80}]}]},
         "spec.ingress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` is not specified"),
        ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
         'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
        ({"ingress": [{"ports": [{"port": "12"}]}]},
         'spec.ingress[0].ports[0].port: Invalid value: "12": must contain at least one letter (a-z)'),
        ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]: Required value: must specify a peer"),
        ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
         "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"),
        ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["172.16.0.0/16"]}}]}]},
         'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "172.16.0.0/16": must be a strict subset of '
         "`cidr`"),
        ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]},
         'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.300/8": must be a valid CIDR value, (e.g. '
         "10.9.8.0/24 or 2001:db8::/64)"),
        ({"policyTypes": ["Ingress", "Sideways"]},
         'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"'),
        ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
         "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' "
         "or 'NotIn'"),
    ],
)  # fmt: skip
def test_invalid_policies_are_refused_with_the_api_servers_texts(api, spec, message):
    with pytest.raises(ApiError) as refused:
        api.client.create("networkpolicies", policy("bad", **spec), "default")
    assert refused.value.status == 422
    assert refused.value.message == f'NetworkPolicy.networking.k8s.io "bad" is invalid: {message}'


def test_namespaces_carry_their_name_label_from_1_21(api, tmp_path):
    made = api.client.create("namespaces", {"metadata": {"name": "app", "labels": {NAME_LABEL: "forged"}}})
    assert made["metadata"]["labels"] == {NAME_LABEL: "app"}
    kept = api.client.patch("namespaces", "app", {"metadata": {"labels": {NAME_LABEL: None, "team": "a"}}})
    assert kept["metadata"]["labels"] == {NAME_LABEL: "app", "team": "a"}
    with api_server(tmp_path / "old", "1.20") as old:
        assert "labels" not in old.client.create("namespaces", {"metadata": {"name": "app"}})["metadata"]


MANIFEST = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-from-ingress
  namespace: default
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: ingress
"""


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_applies_and_lists_policies(api, tmp_path):
    config = api.kubeconfig(tmp_path)

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", str(config), *args], input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    created = "networkpolicy.networking.k8s.io/allow-from-ingress created\n"
    assert kubectl("apply", "-f", "-", stdin=MANIFEST) == created
    assert kubectl("apply", "-f", "-", stdin=MANIFEST) == created.replace("created", "unchanged")
    assert kubectl("get", "netpol", "--no-headers").split()[:2] == ["allow-from-ingress", "app=web"]
    deny = policy("default-deny")
    api.client.create("networkpolicies", deny, "default")
    assert kubectl("get", "networkpolicy", "default-deny", "--no-headers").split()[:2] == ["default-deny", "<none>"]
    assert kubectl("delete", "netpol", "default-deny") == 'networkpolicy.networking.k8s.io "default-deny" deleted\n'
