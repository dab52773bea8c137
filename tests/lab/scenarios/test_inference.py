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

import json
import pathlib
import subprocess
import sys

import pytest
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


def from_client(url, body=None):
    done = subprocess.run(
        ["lxc", "exec", CLIENT, "--", "python3", "-c", CLIENT_SCRIPT, url],
        input="" if body is None else json.dumps(body), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
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
