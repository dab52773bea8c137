# SPDX-License-Identifier: GPL-3.0-or-later
"""Real clients against the API server: kubectl (the seed's create/scale/expose, apply twice, cordon), Debian's
kubectl 1.20 with the double's controllers and a simulated kubelet (rollout status, wait, describe, drain through
evictions and a PodDisruptionBudget), and the Python `kubernetes` client's dynamic client as kubernetes.core.k8s
uses it (strategic merge, no-op second time, strict field validation)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable

import pytest
from api_fixtures import api_server
from kubelet_fakes import FakeHost, FakeNetwork
from microk8s_double import kubeargs, nodes
from microk8s_double.controllers import workloads
from microk8s_double.kubelet.pods import Kubelet
from microk8s_double.kubelet.runtime import Runtime

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


def kubectl_for(config) -> Callable[..., str]:
    """The host's kubectl with this kubeconfig: its output, the command asserted to succeed."""

    def kubectl(*args: str) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    return kubectl


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
    bogus = dict(body, metadata={"name": "bogus"}, spec=dict(body["spec"], bogus=1))
    with pytest.raises(kubernetes.dynamic.exceptions.BadRequestError) as strict:
        deployments.create(body=bogus, namespace="default", query_params=[("fieldValidation", "Strict")])
    assert 'strict decoding error: unknown field \\"spec.bogus\\"' in str(strict.value.body)


DNS_PORTS = [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
             {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"}]  # fmt: skip


def test_a_strategic_patch_merging_two_protocols_of_one_port_is_refused_and_the_merge_patch_keeps_both(api, tmp_path):
    """A DNS server's Service and pod template: UDP and TCP on port 53. Strategic merge keys Service ports by `port`
    and container ports by `containerPort`, so resubmitting them (kubernetes.core.k8s' first try) merges TCP into the
    UDP entry: kube-apiserver refuses the result (duplicate name, duplicate protocol and port) with 422, and the
    module's second try, a JSON merge patch replacing the lists, leaves both as they were, NodePorts included."""
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError

    client = DynamicClient(kubernetes.config.new_client_from_config(str(api.kubeconfig(tmp_path))))
    services = client.resources.get(api_version="v1", kind="Service")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": "default"},
               "spec": {"type": "NodePort", "selector": {"app": "dns"}, "ports": DNS_PORTS}}  # fmt: skip
    allocated = [dict(p, nodePort=n) for p, n in zip(DNS_PORTS, (30053, 30054))]
    made = services.create(body=dict(service, spec=dict(service["spec"], ports=allocated)), namespace="default")
    strategic = "application/strategic-merge-patch+json"
    with pytest.raises(UnprocessibleEntityError) as refused:
        services.patch(body=service, name="dns", namespace="default", content_type=strategic)
    assert 'spec.ports[1].name: Duplicate value: \\"dns-tcp\\"' in str(refused.value.body)
    assert 'spec.ports[1]: Duplicate value: core.ServicePort{Name:\\"\\", Protocol:\\"TCP\\"' in str(refused.value.body)
    merged = services.patch(body=service, name="dns", namespace="default",
                            content_type="application/merge-patch+json").to_dict()  # fmt: skip
    assert [(p["name"], p["protocol"], p["nodePort"]) for p in merged["spec"]["ports"]] == [
        ("dns", "UDP", 30053), ("dns-tcp", "TCP", 30054)]  # fmt: skip
    assert merged["metadata"]["resourceVersion"] == made.metadata.resourceVersion  # nothing changed

    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    ports = [{"name": p["name"], "containerPort": 53, "protocol": p["protocol"]} for p in DNS_PORTS]
    container = {"name": "dns", "image": "dns:1", "ports": ports}
    template = {"metadata": {"labels": {"app": "dns"}}, "spec": {"containers": [container]}}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dns", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "dns"}}, "template": template},
    }
    created = deployments.create(body=body, namespace="default")
    with pytest.raises(UnprocessibleEntityError) as refused:
        deployments.patch(body=body, name="dns", namespace="default", content_type=strategic)
    assert 'spec.template.spec.containers[0].ports[1].name: Duplicate value: \\"dns-tcp\\"' in str(refused.value.body)
    kept = deployments.patch(body=body, name="dns", namespace="default",
                             content_type="application/merge-patch+json").to_dict()  # fmt: skip
    assert kept["metadata"]["resourceVersion"] == created.metadata.resourceVersion


def kubectl_1_20() -> str | None:
    """Debian's kubectl 1.20.2 (the one the lab nodes have): $MICROK8S_DOUBLE_KUBECTL_1_20, else `kubectl` on PATH
    when it is 1.20. Get it without installing: `apt-get download kubernetes-client && dpkg-deb -x *.deb DIR`."""
    for candidate in (os.environ.get("MICROK8S_DOUBLE_KUBECTL_1_20"), shutil.which("kubectl")):
        if candidate and os.access(candidate, os.X_OK):
            version = subprocess.run([candidate, "version", "--client", "--short"], capture_output=True, text=True,
                                     timeout=30, check=False).stdout  # fmt: skip
            if "v1.20." in version:
                return candidate
    return None


class Workloads:
    """The double's controllers and a kubelet of node-1 (simulated containerd) running rounds in a thread."""

    def __init__(self, api, base):
        self.api, self.stopped = api, threading.Event()
        runtime = Runtime(FakeHost({"docker.io/library/hello:local": "sha256:manifest1"}), base / "node", base / "sock")
        self.kubelet = Kubelet(api.client, runtime, FakeNetwork(), "node-1", api.ip)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            workloads.sync(self.api.client, self.api.node, kubeargs.load(self.api.node))
            self.kubelet.sync()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


PDB = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: hello
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: hello}
"""


@pytest.mark.skipif(kubectl_1_20() is None, reason="no kubectl 1.20 (set MICROK8S_DOUBLE_KUBECTL_1_20)")
def test_kubectl_1_20_drives_a_deployment_through_drain(api, tmp_path):
    config = api.kubeconfig(tmp_path)
    api.client.create("nodes", dict(nodes.heartbeat(api.node, worker=False), spec={"podCIDR": "10.1.1.0/24"}))
    running = Workloads(api, tmp_path)

    def kubectl(*args: str, stdin: str | None = None, rc: int = 0) -> str:
        done = subprocess.run([kubectl_1_20(), "--kubeconfig", str(config), *args], input=stdin, capture_output=True,
                              text=True, timeout=90, check=False)  # fmt: skip
        assert done.returncode == rc, done.stdout + done.stderr
        return done.stdout + done.stderr

    try:
        assert kubectl("create", "deployment", "hello", "--image=hello:local") == "deployment.apps/hello created\n"
        kubectl("scale", "deployment", "hello", "--replicas=2")
        kubectl("expose", "deployment", "hello", "--type=LoadBalancer", "--port=8081", "--target-port=8080")
        assert "successfully rolled out" in kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
        kubectl("wait", "--for=condition=Available", "deployment/hello", "--timeout=60s")
        rows = kubectl("get", "pods", "-o", "wide", "--no-headers").splitlines()
        assert len(rows) == 2 and all(r.split()[2] == "Running" and r.split()[6] == "node-1" for r in rows)
        described = kubectl("describe", "pod", rows[0].split()[0])
        assert "node.kubernetes.io/unreachable:NoExecute op=Exists for 300s" in described
        assert "Events:" in described
        assert kubectl("apply", "-f", "-", stdin=PDB) == "poddisruptionbudget.policy/hello created\n"
        blocked = kubectl("drain", "node-1", "--timeout=3s", rc=1)
        assert "Cannot evict pod as it would violate the pod's disruption budget." in blocked
        kubectl("delete", "pdb", "hello")
        drained = kubectl("drain", "node-1", "--timeout=60s")
        assert "evicting pod default/hello-" in drained and drained.endswith(
            "node/node-1 evicted\n"
        )  # 1.20: not "drained"
        assert "SchedulingDisabled" in kubectl("get", "nodes")
        kubectl("uncordon", "node-1")
        assert "successfully rolled out" in kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
        assert kubectl("delete", "service", "hello") == 'service "hello" deleted\n'
    finally:
        running.stop()


def test_python_client_reads_a_registered_node_and_cordons_it(api, tmp_path):
    """The typed client (kubernetes.core.k8s_drain reads nodes with it) validates every field a real kubelet posts,
    bootID, machineID and systemUUID among them."""
    import kubernetes

    api.client.create("nodes", nodes.heartbeat(api.node, worker=False))
    core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(str(api.kubeconfig(tmp_path))))
    node = core.read_node(api.node.hostname)
    assert node.status.node_info.boot_id and node.status.node_info.machine_id and node.status.node_info.system_uuid
    core.patch_node(api.node.hostname, {"spec": {"unschedulable": True}})
    assert core.read_node(api.node.hostname).spec.unschedulable is True


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_lists_applies_scales_and_prints_stateful_sets(api, tmp_path):
    config = api.kubeconfig(tmp_path)

    def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--kubeconfig", str(config), *args], input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip

    empty = kubectl("get", "statefulsets", "--all-namespaces")
    assert empty.returncode == 0 and "No resources found" in empty.stderr
    manifest = MANIFEST.replace("kind: Deployment", "kind: StatefulSet").replace(
        "spec:\n  replicas", "spec:\n  serviceName: web\n  replicas"
    )
    applied = kubectl("apply", "-f", "-", stdin=manifest)
    assert applied.stdout == "statefulset.apps/web created\n", applied.stderr
    assert kubectl("apply", "-f", "-", stdin=manifest).stdout == "statefulset.apps/web unchanged\n"
    assert kubectl("scale", "sts", "web", "--replicas=3").stdout == "statefulset.apps/web scaled\n"
    header, row = kubectl("get", "sts", "-o", "wide").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert row.split()[:2] == ["web", "0/3"] and row.split()[3:] == ["web", "hello:local"]
    assert "statefulset.apps/web" in kubectl("get", "all").stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_the_health_endpoints_answer_ok_list_their_checks_and_fail_without_the_datastore(api, tmp_path, monkeypatch):
    config = api.kubeconfig(tmp_path)

    def raw(path: str) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--kubeconfig", str(config), "get", "--raw", path], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip

    assert [raw(path).stdout for path in ("/livez", "/readyz", "/healthz", "/readyz/etcd")] == ["ok"] * 4
    verbose = raw("/readyz?verbose").stdout.splitlines()
    assert verbose[0] == "[+]ping ok" and "[+]etcd ok" in verbose and verbose[-1] == "readyz check passed"
    assert "[+]etcd excluded: ok" in raw("/livez?verbose&exclude=etcd").stdout
    assert raw("/livez/nothing").returncode != 0
    real = api.store.execute

    def datastore_down(ops):
        if any(op.get("key") == "/registry/health" for op in ops):
            raise OSError("connection refused")
        return real(ops)

    monkeypatch.setattr(api.store, "execute", datastore_down)
    down = raw("/livez")
    assert down.returncode != 0 and "[-]etcd failed: reason withheld" in down.stderr, down.stderr
    assert "livez check failed" in down.stderr and raw("/livez/ping").stdout == "ok"
    assert raw("/livez?exclude=etcd").stdout == "ok"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_creates_and_prints_jobs(api, tmp_path):
    kubectl = kubectl_for(api.kubeconfig(tmp_path))

    assert kubectl("create", "job", "pi", "--image=hello:local") == "job.batch/pi created\n"
    header, row = kubectl("get", "jobs").splitlines()
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert row.split()[:3] == ["pi", "Running", "0/1"]
    assert "job.batch/pi" in kubectl("get", "all")
    assert kubectl("get", "job", "pi", "-o", "jsonpath={.spec.template.spec.restartPolicy}") == "Never"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this host")
def test_kubectl_creates_and_prints_cron_jobs(api, tmp_path):
    kubectl = kubectl_for(api.kubeconfig(tmp_path))

    created = kubectl("create", "cronjob", "backup", "--image=hello:local", "--schedule=*/5 * * * *")
    assert created == "cronjob.batch/backup created\n"
    header, row = kubectl("get", "cj").splitlines()
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert row.split()[:9] == ["backup", "*/5", "*", "*", "*", "*", "<none>", "False", "0"]
    assert "cronjob.batch/backup" in kubectl("get", "all")
