# SPDX-License-Identifier: GPL-3.0-or-later
"""The mayastor double's data plane for real: three io-engine replica servers on their own loopback addresses, a
nexus mounted through FUSE by the mount program the kubelet runs (a subprocess), and a writer appending fsync'd
records. An fsync returns only once a majority of replicas stored the record; a replica that was away is rebuilt;
another node's nexus takes the volume over with every acknowledged record (and fences the old one).
Root and /dev/fuse are needed (the lab's nodes have both); skipped otherwise."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_fixtures import free_prefix, wait_for
from microk8s_double.kubelet import csi
from microk8s_double.mayastor import ioengine
from microk8s_double.mayastor.nexus import REQUEST_TIMEOUT, REVIVE_PERIOD, Nexus

DOUBLE = Path(__file__).resolve().parents[1]
PORT = 18420
IO_TIMEOUT = 2.0

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs root and /dev/fuse to mount the nexus"
)


class Replicas:
    def __init__(self, base: Path):
        self.base, self.prefix = base, free_prefix()
        self.addresses = [f"{self.prefix}.{n}" for n in (1, 2, 3)]
        self.servers = [self.serve(i) for i in range(3)]

    def serve(self, index: int):
        return ioengine.serve(self.addresses[index], self.base / f"node-{index + 1}" / "mayastor", PORT)

    def cut(self, index: int) -> None:
        self.servers[index].stop()

    def back(self, index: int) -> None:
        self.servers[index] = self.serve(index)

    def lines(self, index: int, volume: str = "vol", name: str = "log") -> list[str]:
        path = self.base / f"node-{index + 1}" / "mayastor" / "replicas" / volume / "data" / name
        return path.read_text().splitlines() if path.exists() else []

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def replicas(tmp_path):
    made = Replicas(tmp_path)
    yield made
    made.stop()


@pytest.fixture
def mounted(tmp_path, replicas):
    """Mount volume `vol` at a directory; yields a function mounting it again (another node's nexus)."""
    mounts = []

    def mount(name: str = "mnt") -> tuple[Path, subprocess.Popen]:
        target = tmp_path / name
        target.mkdir()
        argv = [sys.executable, "-m", "microk8s_double.mayastor.mount", "vol", str(target),
                *(f"{a}:{PORT}" for a in replicas.addresses), "--io-timeout", str(IO_TIMEOUT)]  # fmt: skip
        process = subprocess.Popen(argv, env=dict(os.environ, PYTHONPATH=str(DOUBLE)), stderr=subprocess.PIPE)
        mounts.append((target, process))
        wait_for(lambda: os.path.ismount(target) or process.poll() is not None, 10, f"the nexus mounted at {target}")
        assert os.path.ismount(target), process.stderr.read().decode()
        return target, process

    yield mount
    for target, process in mounts:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)
        if process.poll() is None:
            process.kill()
        process.wait(5)


def append(path: Path, record: str) -> float:
    """Append one record and fsync it; the seconds fsync took."""
    with open(path, "a") as handle:
        handle.write(record + "\n")
        handle.flush()
        started = time.monotonic()
        os.fsync(handle.fileno())
        return time.monotonic() - started


def test_an_fsynced_record_is_on_every_replica_and_the_pod_sees_real_files(replicas, mounted):
    target, _process = mounted()
    for n in range(20):
        append(target / "log", f"record {n}")
    os.mkdir(target / "models")
    (target / "models" / "v1.tmp").write_text("weights")
    os.rename(target / "models" / "v1.tmp", target / "models" / "v1")
    with open(target / "models" / "v2.tmp", "w") as handle:  # renamed while open: later writes follow it
        handle.write("part one ")
        handle.flush()
        os.rename(target / "models" / "v2.tmp", target / "models" / "v2")
        handle.write("part two")
        handle.flush()
        os.fsync(handle.fileno())
    assert (target / "models" / "v2").read_text() == "part one part two"
    os.truncate(target / "models" / "v2", 4)
    os.chmod(target / "models" / "v2", 0o600)
    assert (os.stat(target / "models" / "v2").st_size, os.stat(target / "models" / "v2").st_mode & 0o777) == (4, 0o600)
    os.unlink(target / "models" / "v2")
    assert sorted(os.listdir(target)) == ["log", "models"]
    assert (target / "models" / "v1").read_text() == "weights"
    assert (target / "log").read_text().splitlines()[-1] == "record 19"
    for index in range(3):  # each node's pool holds a full replica
        assert replicas.lines(index) == [f"record {n}" for n in range(20)]
        assert (replicas.base / f"node-{index + 1}" / "mayastor" / "data.img").stat().st_size == ioengine.POOL_SIZE


def test_a_write_is_acknowledged_with_one_replica_cut_and_not_with_two(replicas, mounted):
    target, _process = mounted()
    append(target / "log", "before")
    replicas.cut(0)
    assert append(target / "log", "one cut") < IO_TIMEOUT  # 2 of 3 stored it: acknowledged at once
    assert replicas.lines(1)[-1] == replicas.lines(2)[-1] == "one cut"
    assert replicas.lines(0)[-1] == "before"
    replicas.cut(1)
    descriptor = os.open(target / "log", os.O_WRONLY | os.O_APPEND)
    started = time.monotonic()
    try:
        with pytest.raises(OSError) as failed:
            os.write(descriptor, b"two cut\n")
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
    assert failed.value.errno == 5  # EIO once ioTimeout passed without a majority
    assert time.monotonic() - started >= IO_TIMEOUT


def test_a_replica_that_was_away_is_rebuilt_when_it_returns(replicas, mounted):
    target, _process = mounted()
    replicas.cut(2)
    for n in range(5):
        append(target / "log", f"record {n}")
    assert replicas.lines(2) == []
    replicas.back(2)
    wanted = [f"record {n}" for n in range(5)]
    wait_for(lambda: replicas.lines(2) == wanted, 3 * REVIVE_PERIOD, "the returned replica rebuilt")
    append(target / "log", "record 5")
    assert replicas.lines(2) == [*wanted, "record 5"]


def test_a_powered_off_replica_holds_up_one_write_by_at_most_a_request_timeout(replicas, mounted):
    """Packets to the cut node go unanswered (iptables DROP, as `lxc stop --force`): the first write after the cut
    waits for that replica's request timeout, the next ones do not wait for it at all."""
    if shutil.which("iptables") is None:
        pytest.skip("needs iptables to drop a powered-off node's packets")
    target, _process = mounted()
    append(target / "log", "before")
    rule = ["INPUT", "-d", replicas.addresses[0], "-p", "tcp", "--dport", str(PORT), "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    try:
        started = time.monotonic()
        append(target / "log", "first after the cut")
        assert time.monotonic() - started < REQUEST_TIMEOUT + 1
        started = time.monotonic()
        for n in range(5):
            append(target / "log", f"record {n}")
        assert time.monotonic() - started < 1.0
    finally:
        subprocess.run(["iptables", "-D", *rule], check=False)
    assert (
        replicas.lines(1) == replicas.lines(2) == ["before", "first after the cut", *(f"record {n}" for n in range(5))]
    )


def test_the_volume_moves_to_another_node_with_every_acknowledged_record(replicas, mounted):
    first, process = mounted("node-1-mount")
    acknowledged = []
    for n in range(10):
        append(first / "log", f"record {n}")
        acknowledged.append(f"record {n}")
    # the attached node (and its replica) loses power: its nexus dies, its io-engine stops answering
    process.send_signal(signal.SIGKILL)
    process.wait(5)
    subprocess.run(["umount", "-l", str(first)], check=False)
    replicas.cut(0)
    second, _second_process = mounted("node-2-mount")
    assert (second / "log").read_text().splitlines() == acknowledged
    append(second / "log", "record 10")
    # the old nexus's epoch is fenced: a request with it is refused by the replicas the new one claimed
    old = Nexus("vol", [(a, PORT) for a in replicas.addresses[1:]], io_timeout=1)
    answer = old.replicas[0].call({"op": "hello", "volume": "vol"})
    stale = {"op": "write", "volume": "vol", "path": "log", "offset": 0, "data": base64.b64encode(b"x").decode(),
             "epoch": answer["epoch"] - 1, "seq": answer["seq"] + 1}  # fmt: skip
    assert old.replicas[0].call(stale) == dict(answer, ok=False, error="fenced")
    old.stop()


def test_the_kubelet_unmounts_a_volume_whose_nexus_died(replicas, mounted, tmp_path):
    # A power cut of the node the nexus serves from, or a crash, leaves a FUSE mount without its server: every stat
    # of it fails ENOTCONN and os.path.ismount() says False, yet the kernel still has it mounted. Tearing the pod
    # down must unmount it (a pod stuck Terminating keeps its volume attached to the node for good).
    kubelet_root = tmp_path / "kubelet"
    volume_dir = kubelet_root / "pods" / "uid-1" / "volumes" / "kubernetes.io~csi" / "pvc-1"
    volume_dir.mkdir(parents=True)
    target, process = mounted(str((volume_dir / "mount").relative_to(tmp_path)))
    process.send_signal(signal.SIGKILL)
    process.wait(5)
    assert str(target) in csi.mount_points()
    assert not os.path.ismount(target)

    csi.Csi(None, "node-1", kubelet_root).unmount("uid-1")

    assert str(target) not in csi.mount_points()


def test_no_majority_reachable_refuses_the_mount(replicas, tmp_path):
    replicas.cut(0)
    replicas.cut(1)
    target = tmp_path / "mnt"
    target.mkdir()
    argv = [sys.executable, "-m", "microk8s_double.mayastor.mount", "vol", str(target),
            *(f"{a}:{PORT}" for a in replicas.addresses), "--io-timeout", "1"]  # fmt: skip
    done = subprocess.run(
        argv, env=dict(os.environ, PYTHONPATH=str(DOUBLE)), capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 1
    assert "fewer than 2 replicas reachable" in done.stderr
    assert not os.path.ismount(target)


def test_jiva_replicas_live_in_their_own_place_on_the_same_servers(tmp_path):
    prefix = free_prefix()
    addresses = [f"{prefix}.{n}" for n in (1, 2, 3)]
    servers = [ioengine.serve(a, tmp_path / a / "mayastor", PORT, tmp_path / a / "jiva") for a in addresses]
    try:
        nexus = Nexus("vol", [(a, PORT) for a in addresses], io_timeout=IO_TIMEOUT, pool="jiva")
        nexus.start()
        nexus.write_bytes("log", 0, b"jiva\n")
        nexus.fsync("log")
        nexus.stop()
        for a in addresses:
            assert (tmp_path / a / "jiva" / "replicas" / "vol" / "data" / "log").read_bytes() == b"jiva\n"
            assert not (tmp_path / a / "jiva" / "data.img").exists()
            assert not (tmp_path / a / "mayastor" / "replicas").exists()
    finally:
        for server in servers:
            server.stop()
