# SPDX-License-Identifier: GPL-3.0-or-later
"""The runtime's process side with real processes (no namespaces, no containerd, no root): the shim outlives its
starter, records the pid, the output and the exit code; stop signals the launcher's child; a lost shim reads as
exit 255."""

from __future__ import annotations

import json
import sys
import time

from microk8s_double.kubelet.runtime import EXITED, STARTED, Host, Runtime


def start_shim(runtime: Runtime, where, argv: list[str]) -> dict:
    where.mkdir(parents=True)
    (where / "shim.json").write_text(json.dumps({"argv": argv, "log": str(where / "0.log")}))
    shim = runtime.host.spawn([sys.executable, "-P", "-m", "microk8s_double.kubelet.shim", str(where)])
    record = {"containerID": "c1", "startedAt": "2026-01-01T00:00:00Z", "shim": shim}
    runtime.save(where.parent.name, where.name, record)
    return record


def wait_for(check, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_shim_records_output_and_exit_code(tmp_path):
    runtime = Runtime(Host(), tmp_path, tmp_path / "sock")
    record = start_shim(runtime, tmp_path / "uid1" / "app", ["sh", "-c", "echo hello from the app; exit 3"])
    wait_for(lambda: runtime.state("uid1", "app", record)["state"] == EXITED)
    ended = runtime.state("uid1", "app", record)
    assert ended["exitCode"] == 3 and ended["startError"] == ""
    assert (tmp_path / "uid1" / "app" / "0.log").read_text() == "hello from the app\n"
    assert runtime.pod_uids() == ["uid1"] and runtime.containers("uid1") == ["app"]


def test_stop_signals_the_container_init_and_the_exit_shows_the_signal(tmp_path):
    runtime = Runtime(Host(), tmp_path, tmp_path / "sock")
    record = start_shim(runtime, tmp_path / "uid1" / "app", ["sh", "-c", "sleep 30 || exit $?"])
    wait_for(lambda: runtime.init_pid("uid1", "app"))
    assert runtime.state("uid1", "app", record)["state"] == STARTED
    runtime.stop("uid1", "app", force=False)
    wait_for(lambda: runtime.state("uid1", "app", record)["state"] == EXITED)
    assert runtime.state("uid1", "app", record)["exitCode"] == 143


def test_a_vanished_shim_reads_as_a_lost_container(tmp_path):
    runtime = Runtime(Host(), tmp_path, tmp_path / "sock")
    (tmp_path / "uid1" / "app").mkdir(parents=True)
    ended = runtime.state("uid1", "app", {"containerID": "c1", "shim": 2**22 + 7})
    assert (ended["state"], ended["exitCode"], ended["lost"]) == (EXITED, 255, True)
