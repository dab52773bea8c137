# SPDX-License-Identifier: GPL-3.0-or-later
"""The inference_service role without a cluster: bad settings stop in preflight before anything changes, and the
manifests it applies (rendered from its templates) say what the issue asks: replicas spread over nodes, a budget,
readiness on the v2 health endpoint, requests, a LoadBalancer, the model version as data."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys

import ansible_runner
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "inference_service"


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def run_playbook(tmp_path, playbook, extra_vars):
    hosts = {"node1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
    inventory = {"all": {"vars": {"ansible_become": False}, "children": {"masters": {"hosts": hosts}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    data = tmp_path / "runner"
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data),
        project_dir=str(REPO),
        playbook=str(playbook),
        inventory=str(tmp_path / "hosts.yml"),
        extravars=extra_vars,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=300,
    )


def failures(run):
    """(task, message) of every failed task, with the messages of its failed loop items."""
    found = []
    for event in run.events:
        if event.get("event") == "runner_on_failed":
            res = event["event_data"]["res"]
            messages = [res.get("msg", "")] + [
                item.get("msg", "") for item in res.get("results", []) if item.get("failed")
            ]
            found.append((event["event_data"].get("task", ""), " | ".join(messages)))
    return found


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x00model bytes\xff" * 10)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "needs at least one model"),
        ({"models": [{"name": "Digits", "version": "v1"}]}, "needs at least one model"),
        ({"models": [{"name": "digits", "version": "V 1"}]}, "needs at least one model"),
        ({"models": "ok", "inference_service_min_available": 3}, "must be below"),
        ({"models": "ok", "inference_service_max_surge": 0}, "a surge of 0 could never roll"),
        ({"models": "ok", "inference_service_max_surge": "0%"}, "a surge of 0 could never roll"),
        ({"models": "ok", "inference_service_drain_seconds": -1}, "drain_seconds must be >= 0"),
        ({"models": [{"name": "digits", "version": "v1", "artifact": "/nonexistent/model.joblib"}]}, "missing"),
        ({"models": "big"}, "larger than about 700 kB"),
        ({"models": "ok", "inference_service_image_archive": "/nonexistent/inference.tar"}, "is not a file"),
    ],
)
def test_bad_settings_stop_in_preflight(tmp_path, artifact, extra, message):
    models = extra.pop("models", [])
    if models == "big":  # 750 000 bytes are 1 000 000 in base64: more than a ConfigMap holds with its settings
        artifact.write_bytes(b"\x00" * 750_000)
    if models in ("ok", "big"):
        models = [{"name": "digits", "version": "v1", "artifact": str(artifact)}]
    run = run_playbook(
        tmp_path, REPO / "playbooks" / "offload_report.yml", {"inference_service_models": models, **extra}
    )
    assert run.rc != 0
    found = failures(run)
    assert found, "the run failed without a failed task"
    assert all("kubeconfig" not in task and "Import" not in task and "Copy" not in task for task, _msg in found)
    assert any(message in msg for _task, msg in found), found


def test_every_bad_setting_is_named_in_one_failure(tmp_path, artifact):
    models = [
        {"name": "digits", "version": "v1", "artifact": str(artifact)},
        {"name": "cats", "version": "v1", "artifact": str(tmp_path / "absent.joblib")},
    ]
    settings = {
        "inference_service_models": models,
        "inference_service_min_available": 3,
        "inference_service_drain_seconds": -1,
        "inference_service_image_archive": str(tmp_path),
    }
    run = run_playbook(tmp_path, REPO / "playbooks" / "offload_report.yml", settings)
    assert run.rc != 0
    (found,) = failures(run)
    for part in ("must be below", "drain_seconds must be >= 0", "absent.joblib is missing", "is not a file"):
        assert part in found[1], found
    assert f"{artifact} is" not in found[1], "the artifact that is there was reported"


def render(tmp_path, artifact, **overrides):
    """The role's templates rendered with its defaults, as its deploy tasks render them."""
    out = tmp_path / "out"
    out.mkdir()
    # The samples store's template reads the role's script (files/): the playbook runs beside a copy of it.
    (tmp_path / "files").mkdir()
    shutil.copy(ROLE / "files" / "sample_store.py", tmp_path / "files")
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "node1",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.copy": {
                                "dest": f"{out}/{{{{ item }}}}.json",
                                "content": f"{{{{ lookup('ansible.builtin.template', '{ROLE}/templates/' ~ item)"
                                " | from_yaml | to_json }}",
                            },
                            "loop": ["deployment.yml.j2", "pdb.yml.j2", "service.yml.j2", "samples.yml.j2"],
                        },
                        {
                            "ansible.builtin.copy": {
                                "dest": f"{out}/configmap.json",
                                "content": f"{{{{ (lookup('ansible.builtin.template', '{ROLE}/templates/'"
                                " ~ 'configmaps.yml.j2') | from_yaml)['items'][0] | to_json }}",
                            },
                        },
                    ],
                }
            ]
        )
    )
    settings = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    settings["inference_service_models"] = [{"name": "digits", "version": "v2", "artifact": str(artifact)}]
    settings.update(overrides)
    run = run_playbook(tmp_path, playbook, settings)
    assert run.rc == 0, failures(run)
    return {
        name: json.loads((out / f"{name}.json").read_text())
        for name in ("deployment.yml.j2", "pdb.yml.j2", "service.yml.j2", "samples.yml.j2", "configmap")
    }


def test_manifests_spread_budget_probe_requests_and_version_as_data(tmp_path, artifact):
    docs = render(tmp_path, artifact, inference_service_load_balancer_ip="10.77.0.245")
    deployment, pdb, service, configmap = (
        docs[k] for k in ("deployment.yml.j2", "pdb.yml.j2", "service.yml.j2", "configmap")
    )
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["replicas"] >= 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Every successor starts at once (one start-up per update, not one per replica) ...
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] == "100%"
    # ... and a stopping replica serves on while the proxies drop it, within its grace period.
    env = {item["name"]: item["value"] for item in container["env"]}
    assert int(env["INFERENCE_DRAIN_SECONDS"]) > 0
    assert pod["terminationGracePeriodSeconds"] > int(env["INFERENCE_DRAIN_SECONDS"])
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert pod["affinity"]["podAntiAffinity"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert pdb["kind"] == "PodDisruptionBudget" and pdb["spec"]["minAvailable"] < spec["replicas"]
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["loadBalancerIP"] == "10.77.0.245"
    # The version is data: it names the ConfigMap the pods mount and the annotation that rolls them.
    assert configmap["metadata"]["name"] == "inference-digits-v2"
    assert pod["volumes"][0]["configMap"]["name"] == "inference-digits-v2"
    assert spec["template"]["metadata"]["annotations"]["inference.onprem.microk8s/models"] == "digits=v2"
    settings = json.loads(configmap["data"]["model-settings.json"])
    assert settings["parameters"] == {"uri": "./model.joblib", "version": "v2"}
    import base64

    assert base64.b64decode(configmap["data"]["model.joblib.b64"]) == artifact.read_bytes()


def test_the_samples_store_claims_one_volume_of_the_chosen_class_and_its_script_is_the_roles(tmp_path, artifact):
    items = {
        item["kind"]: item
        for item in render(tmp_path, artifact, inference_service_samples_class="onprem-replicated")["samples.yml.j2"][
            "items"
        ]
    }
    claim, deployment, service, script = (
        items[k] for k in ("PersistentVolumeClaim", "Deployment", "Service", "ConfigMap")
    )
    assert claim["spec"]["storageClassName"] == "onprem-replicated"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # One writer of the volume: the old pod goes before the new one mounts it.
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    [container] = pod["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["ports"][0]["port"] == 8090
    source = (ROLE / "files" / "sample_store.py").read_text()
    assert script["data"]["sample_store.py"] == source
    assert "sample_store.py" in " ".join(container["command"])


def test_the_samples_claim_takes_the_default_class_when_none_is_named(tmp_path, artifact):
    items = render(tmp_path, artifact)["samples.yml.j2"]["items"]
    [claim] = [item for item in items if item["kind"] == "PersistentVolumeClaim"]
    assert "storageClassName" not in claim["spec"]
