# SPDX-License-Identifier: GPL-3.0-or-later
"""The inference service site.yml deployed on the lab (roles/inference_service; on only when the lab was brought up
with `lab.py up --inference`, as `make lab` does: the generated hosts.yml then names the server image archive and the
digits v1 model). Skipped otherwise.

From client1, as a device would, through the service's LoadBalancer address: /v2/health/ready and the model's ready
endpoint answer 200, and one /v2/models/digits/infer of 20 held-out digits returns v1's answers, the very
predictions of the artifact the inventory names (loaded here). Then site.yml again, limited to the service's tag,
changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO, changed, failure_messages, node, site

CLIENT = "client1"
ROWS = 20

# Runs on client1 (python3 only): GET or POST (JSON body on stdin) URL; prints {"status": ..., "body": ...}.
CLIENT_SCRIPT = r"""
import json, sys, urllib.error, urllib.request
url, body = sys.argv[1], sys.stdin.read().encode() or None
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(json.dumps({"status": answer.status, "body": answer.read().decode()}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": error.read().decode()[:500]}))
"""


def kubectl_json(*argv):
    return json.loads(node("node1", "microk8s", "kubectl", *argv, "-o", "json").stdout)


def from_client(url, body=None, wait=0):
    """client1's request; wait: seconds to keep trying while the address refuses (a Service whose new pod is Ready
    answers once every node's proxy has its endpoint, about a second later)."""
    deadline = time.monotonic() + wait
    while True:
        done = subprocess.run(
            ["lxc", "exec", CLIENT, "--", "python3", "-c", CLIENT_SCRIPT, url],
            input="" if body is None else json.dumps(body), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode == 0 or time.monotonic() >= deadline:
            break
        time.sleep(1)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def service(lab):
    variables = lab["all"]["vars"]
    if variables.get("inference_service_enabled") is not True:
        pytest.skip("the lab was brought up without the inference service (lab.py up --inference, make lab)")
    name = variables.get("inference_service_name", "inference")
    namespace = variables.get("inference_service_namespace", "default")
    found = kubectl_json("get", "service", name, "-n", namespace)
    address = found["status"]["loadBalancer"]["ingress"][0]["ip"]
    port = next(entry["port"] for entry in found["spec"]["ports"] if entry["name"] == "http")
    [model] = variables["inference_service_models"]
    return {"url": f"http://{address}:{port}", "model": model, "variables": variables}


def test_the_service_and_its_model_are_ready_through_the_load_balancer(service):
    assert from_client(service["url"] + "/v2/health/ready")["status"] == 200
    model = service["model"]["name"]
    assert from_client(f"{service['url']}/v2/models/{model}/ready")["status"] == 200


def test_an_inference_from_client1_returns_the_inventory_models_answers(service):
    import joblib
    import numpy as np

    sys.path.insert(0, str(REPO / "tests" / "lab"))
    from labkit import offload

    test = np.load(offload.MODELS / "test.npz")
    rows = test["x"][:ROWS].astype(np.float64)
    expected = joblib.load(pathlib.Path(service["model"]["artifact"])).predict(rows)
    body = {"inputs": [{"name": "input-0", "shape": [ROWS, 64], "datatype": "FP32", "data": rows.ravel().tolist()}]}
    answer = from_client(f"{service['url']}/v2/models/{service['model']['name']}/infer", body)
    assert answer["status"] == 200, answer
    result = json.loads(answer["body"])
    assert result["model_version"] == service["model"]["version"]
    labels = np.asarray(result["outputs"][0]["data"]).reshape(-1)
    assert labels.tolist() == expected.tolist()
    assert np.mean(labels == test["y"][:ROWS]) >= 0.9  # and they are digits' labels, not noise


def test_site_again_changes_nothing_in_the_service(service, tmp_path):
    run, _out = site(tmp_path, cmdline="--tags inference_service")
    assert run.status == "successful", failure_messages(run)
    assert changed(run) == 0


def test_objects_changed_in_the_cluster_are_put_back_and_then_left_alone(service, tmp_path):
    """Each group of the role's objects (the server, the model versions' ConfigMaps, the samples store) is compared with
    the cluster and applied only when one of it differs: one changed object per group is put back, and the next
    run, with nothing to do, changes nothing and starts no kubernetes.core process."""
    variables = service["variables"]
    name = variables.get("inference_service_name", "inference")
    namespace = variables.get("inference_service_namespace", "default")
    model = service["model"]
    model_map = f"{name}-{model['name']}-{model['version']}"
    node("node1", "microk8s", "kubectl", "delete", "poddisruptionbudget", name, "-n", namespace)
    node("node1", "microk8s", "kubectl", "label", "--overwrite", "configmap", model_map, "-n", namespace,
         "inference.onprem.microk8s/version=tampered")  # fmt: skip
    samples_on = variables.get("inference_service_samples_enabled", True) is not False
    if samples_on:
        node("node1", "microk8s", "kubectl", "label", "--overwrite", "configmap", f"{name}-samples-script",
             "-n", namespace, "app.kubernetes.io/managed-by=someone-else")  # fmt: skip
    run, _out = site(tmp_path, cmdline="--tags inference_service")
    assert run.status == "successful", failure_messages(run)
    assert changed(run) >= 1
    kubectl_json("get", "poddisruptionbudget", name, "-n", namespace)  # there again
    labels = kubectl_json("get", "configmap", model_map, "-n", namespace)["metadata"]["labels"]
    assert labels["inference.onprem.microk8s/version"] == str(model["version"])
    if samples_on:
        script = kubectl_json("get", "configmap", f"{name}-samples-script", "-n", namespace)
        assert script["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "onprem.microk8s"
    again, _out = site(tmp_path, cmdline="--tags inference_service")
    assert again.status == "successful", failure_messages(again)
    assert changed(again) == 0
    ran = {event["event_data"].get("task_action") for event in again.events if event["event"] == "runner_on_ok"}
    assert not ran & {"kubernetes.core.k8s", "kubernetes.core.k8s_info", "onprem.microk8s.admin_kubeconfig"}, ran


@pytest.fixture(scope="module")
def samples(service):
    # storage_enabled is in the lab's group_vars, not in the hosts.yml lab.py writes
    group_vars = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all.yml").read_text())
    variables = {**group_vars, **service["variables"]}
    if variables.get("storage_enabled") is not True:
        pytest.skip("no replicated storage on this lab: the samples store is off")
    name = variables.get("inference_service_name", "inference") + "-samples"
    namespace = variables.get("inference_service_namespace", "default")
    found = kubectl_json("get", "service", name, "-n", namespace)
    address = found["status"]["loadBalancer"]["ingress"][0]["ip"]
    return {"url": f"http://{address}:{found['spec']['ports'][0]['port']}/v1/samples", "name": name,
            "namespace": namespace}  # fmt: skip


def _samples_pod(samples):
    pods = kubectl_json("get", "pods", "-n", samples["namespace"], "-l", f"app.kubernetes.io/name={samples['name']}")
    return [pod for pod in pods["items"] if not pod["metadata"].get("deletionTimestamp")]


def test_uploaded_samples_stay_on_a_replicated_volume_when_the_store_moves(samples):
    """A device's upload is acknowledged once stored; the claim is on the replicated default class; after the store's
    pod is replaced (on whichever node takes it), every acknowledged record is still there."""
    before = json.loads(from_client(samples["url"])["body"])["records"]
    records = [
        {"features": [n] * 4, "server_label": n, "device_label": 0, "confidence": 0.4, "model_version": "v1"}
        for n in range(3)
    ]
    batch = {"device": "client1", "records": records}
    assert from_client(samples["url"], batch)["status"] == 204
    assert json.loads(from_client(samples["url"])["body"])["records"] == before + 3

    claim = kubectl_json("get", "pvc", samples["name"], "-n", samples["namespace"])
    assert claim["status"]["phase"] == "Bound"
    cls = kubectl_json("get", "storageclass", claim["spec"]["storageClassName"])
    assert cls["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert int(cls["parameters"]["repl"]) >= 3

    [old] = _samples_pod(samples)
    node("node1", "microk8s", "kubectl", "delete", "pod", "-n", samples["namespace"], old["metadata"]["name"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pods = [p for p in _samples_pod(samples) if p["metadata"]["name"] != old["metadata"]["name"]]
        ready = [p for p in pods for c in p.get("status", {}).get("conditions", []) if c["type"] == "Ready"
                 and c["status"] == "True"]  # fmt: skip
        if ready:
            break
        time.sleep(2)
    else:
        pytest.fail("the samples store's new pod was not Ready within 180 s")
    answer = from_client(samples["url"], wait=60)
    assert answer["status"] == 200 and json.loads(answer["body"])["records"] == before + 3


def _kept_models(samples):
    base = samples["url"].removesuffix("/v1/samples")
    answer = from_client(base + "/v1/models", wait=60)
    assert answer["status"] == 200, answer
    return {(m["name"], m["version"]): m for m in json.loads(answer["body"])["models"]}


def test_the_served_model_version_is_kept_on_the_samples_volume(service, samples):
    """Issue 13: site.yml stored the version it serves on the replicated samples volume, once: the store lists it
    with the artifact's SHA-256 and size (after the store's pod was replaced by the test above, when run in order)."""
    model = service["model"]
    artifact = pathlib.Path(model["artifact"]).read_bytes()
    kept = _kept_models(samples)[(model["name"], str(model["version"]))]
    assert kept["sha256"] == hashlib.sha256(artifact).hexdigest()
    assert kept["bytes"] == len(artifact)


def test_a_changed_artifact_under_a_served_version_is_refused_before_the_models_change(service, samples, tmp_path):
    """A version is immutable on the samples volume (devices record which version answered): the same name and
    version with other bytes stops site.yml before the model's ConfigMap or the Deployment change."""
    model = service["model"]
    changed_artifact = tmp_path / "changed.joblib"
    changed_artifact.write_bytes(pathlib.Path(model["artifact"]).read_bytes() + b"\0")
    extravars = {"inference_service_models": [dict(model, artifact=str(changed_artifact))]}
    run, log = site(tmp_path, extravars=extravars, cmdline="--tags inference_service")
    assert run.status == "failed"
    assert any("the artifact differs from the one this version was served with" in m for m in failure_messages(run)), (
        log[-3000:]
    )
    assert changed(run) == 0
    kept = _kept_models(samples)[(model["name"], str(model["version"]))]
    assert kept["sha256"] == hashlib.sha256(pathlib.Path(model["artifact"]).read_bytes()).hexdigest()
