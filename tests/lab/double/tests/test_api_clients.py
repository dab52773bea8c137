# SPDX-License-Identifier: GPL-3.0-or-later
"""Real clients against the API server: kubectl (the seed's create/scale/expose, apply twice, cordon) and the
Python `kubernetes` client's dynamic client as kubernetes.core.k8s uses it (strategic merge, no-op second time)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from api_fixtures import api_server
from microk8s_double import nodes

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: hello:local
        ports:
        - containerPort: 8080
"""


@pytest.fixture
def api(tmp_path):
    with api_server(tmp_path) as fixture:
        yield fixture


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_runs_the_seeds_commands_and_apply_is_idempotent(api, tmp_path):
    config = api.kubeconfig(tmp_path)
    api.client.create("nodes", nodes.heartbeat(api.node, worker=False))

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", str(config), *args], input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert kubectl("create", "deployment", "hello", "--image=hello:local") == "deployment.apps/hello created\n"
    assert kubectl("scale", "deployment", "hello", "--replicas=3") == "deployment.apps/hello scaled\n"
    kubectl("expose", "deployment", "hello", "--type=LoadBalancer", "--port=8081", "--target-port=8080")
    row = kubectl("get", "svc", "hello", "--no-headers").split()
    assert row[:2] == ["hello", "LoadBalancer"] and row[3:5] == ["<pending>", "8081/TCP"]
    assert api.client.get("services", "hello", "default")["spec"]["ports"][0]["targetPort"] == 8080
    assert kubectl("get", "deploy", "hello", "-o", "jsonpath={.spec.replicas}") == "3"
    assert kubectl("apply", "-f", "-", stdin=MANIFEST) == "deployment.apps/web created\n"
    assert kubectl("apply", "-f", "-", stdin=MANIFEST) == "deployment.apps/web unchanged\n"
    changed = MANIFEST.replace("replicas: 2", "replicas: 4")
    assert kubectl("apply", "-f", "-", stdin=changed) == "deployment.apps/web configured\n"
    assert api.client.get("deployments", "web", "default")["spec"]["replicas"] == 4
    kubectl("cordon", "node-1")
    assert api.client.get("nodes", "node-1")["spec"]["unschedulable"] is True
    assert "SchedulingDisabled" in kubectl("get", "nodes")
    kubectl("uncordon", "node-1")
    assert not api.client.get("nodes", "node-1")["spec"].get("unschedulable")
    assert kubectl("delete", "deployment", "web") == 'deployment.apps "web" deleted\n'


def test_python_client_strategic_patch_changes_once(api, tmp_path):
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.dynamic import DynamicClient

    client = DynamicClient(kubernetes.config.new_client_from_config(str(api.kubeconfig(tmp_path))))
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "hello:local"}]}}}}  # fmt: skip
    made = deployments.create(body=body, namespace="default").to_dict()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "hello:2"}]}}}}
    first = deployments.patch(body=patch, name="web", namespace="default",
                              content_type="application/strategic-merge-patch+json").to_dict()  # fmt: skip
    second = deployments.patch(body=patch, name="web", namespace="default",
                               content_type="application/strategic-merge-patch+json").to_dict()  # fmt: skip
    assert first["metadata"]["resourceVersion"] != made["metadata"]["resourceVersion"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert first["spec"]["template"]["spec"]["containers"][0]["image"] == "hello:2"
    dry = deployments.delete(name="web", namespace="default", query_params=[("dryRun", "All")])
    assert dry and deployments.get(name="web", namespace="default").metadata.name == "web"
