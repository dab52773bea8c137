# SPDX-License-Identifier: GPL-3.0-or-later
"""Opt-in, root only (starts a private containerd, adds a network namespace and mounts):
`MICROK8S_DOUBLE_CONTAINERD=1 pytest tests/test_kubelet_real.py`. A pod runs for real from an image imported into
containerd (busybox's httpd), in its own netns and pid namespace, answers HTTP on its pod IP once its readiness
probe passes, restarts after a kill, and leaves nothing behind once deleted."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from kubelet_fakes import FakeClient
from microk8s_double.kubelet import NetnsNetwork
from microk8s_double.kubelet.pods import Kubelet
from microk8s_double.kubelet.runtime import Host, Runtime
from microk8s_double.network import podnet

BUSYBOX = Path("/bin/busybox")
POD_CIDR = "10.1.231.0/24"
pytestmark = pytest.mark.skipif(
    os.environ.get("MICROK8S_DOUBLE_CONTAINERD") != "1" or os.geteuid() != 0 or not shutil.which("containerd"),
    reason="opt-in: MICROK8S_DOUBLE_CONTAINERD=1, root, containerd",
)


def add(archive: tarfile.TarFile, name: str, data: bytes = b"", **info) -> None:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode = len(data), info.get("mode", 0o644)
    for key, value in info.items():
        setattr(entry, key, value)
    archive.addfile(entry, io.BytesIO(data) if data else None)


def image_archive(path: Path) -> None:
    """A docker-archive `web:local`: busybox, /www/index.html, Cmd httpd -f -p 8080."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as rootfs:
        add(rootfs, "bin", type=tarfile.DIRTYPE, mode=0o755)
        add(rootfs, "bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
        for tool in ("sh", "httpd", "cat", "sleep"):
            add(rootfs, f"bin/{tool}", type=tarfile.SYMTYPE, linkname="busybox", mode=0o777)
        add(rootfs, "www", type=tarfile.DIRTYPE, mode=0o755)
        add(rootfs, "www/index.html", b"hello from a real pod\n")
    digest = hashlib.sha256(layer.getvalue()).hexdigest()
    run = {"Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"], "Env": ["PATH=/bin"], "WorkingDir": "/www"}
    layers = {"type": "layers", "diff_ids": [f"sha256:{digest}"]}
    config = {"architecture": "amd64", "os": "linux", "rootfs": layers, "config": run}
    manifest = [{"Config": "config.json", "RepoTags": ["web:local"], "Layers": ["layer.tar"]}]
    with tarfile.open(path, "w") as archive:
        add(archive, "layer.tar", layer.getvalue())
        add(archive, "config.json", json.dumps(config).encode())
        add(archive, "manifest.json", json.dumps(manifest).encode())


@pytest.fixture
def containerd(tmp_path):
    root = tmp_path / "ctd"
    root.mkdir()
    socket = root / "ctd.sock"
    config = root / "config.toml"
    config.write_text(f'version = 2\nroot = "{root}/root"\nstate = "{root}/state"\n[grpc]\n  address = "{socket}"\n'
                      f'[ttrpc]\n  address = "{socket}.ttrpc"\n')  # fmt: skip
    with open(root / "log", "wb") as log:
        daemon = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=log)
    try:
        ctr = ["ctr", "--address", str(socket), "-n", "k8s.io"]
        for _attempt in range(50):
            if subprocess.run([*ctr, "version"], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.1)
        image_archive(tmp_path / "web.tar")
        subprocess.run([*ctr, "images", "import", str(tmp_path / "web.tar")], check=True, capture_output=True)
        yield socket
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def wait_for(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_a_pod_runs_for_real_and_is_cleaned_up(tmp_path, containerd):
    host = Host()
    network = NetnsNetwork.__new__(NetnsNetwork)
    network.pods = podnet.PodNetwork(host, tmp_path / "podnet.json")
    network.attached = {}
    client = FakeClient(nodes=[{"metadata": {"name": "node1"}, "spec": {"podCIDR": POD_CIDR}}], services=[], pods=[])
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    container = {"name": "web", "image": "web:local", "readinessProbe": probe}
    client.objects["pods"].append({
        "metadata": {"name": "web-1", "namespace": "default", "uid": "e2e0test-0000-4000"},
        "spec": {"nodeName": "node1", "terminationGracePeriodSeconds": 2, "containers": [container]},
        "status": {},
    })  # fmt: skip
    kubelet = Kubelet(client, Runtime(host, tmp_path / "pods", containerd), network, "node1", "10.77.0.99")
    try:

        def ready():
            kubelet.sync()
            statuses = client.pod("web-1")["status"].get("containerStatuses") or [{}]
            return statuses[0].get("ready") and client.pod("web-1")["status"]["podIP"]

        pod_ip = wait_for(ready)
        assert urllib.request.urlopen(f"http://{pod_ip}:8080/", timeout=5).read() == b"hello from a real pod\n"
        host.signal(kubelet.runtime.init_pid("e2e0test-0000-4000", "web"), 9)

        def restarted():
            kubelet.sync()
            return client.pod("web-1")["status"]["containerStatuses"][0]["restartCount"] == 1

        wait_for(restarted)
        client.pod("web-1")["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=2)

        def gone():
            kubelet.sync()
            return not client.objects["pods"]

        wait_for(gone)
        assert kubelet.runtime.pod_uids() == []
        assert (
            "pod-e2e0test"
            not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        )
        assert str(tmp_path) not in Path("/proc/mounts").read_text()
    finally:
        for uid in kubelet.runtime.pod_uids():
            kubelet.stop_pod(uid, 0)
            kubelet.stop_pod(uid, 0)
