# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for the kubelet tests: an API client over in-memory objects and a host whose containerd, processes
and signals are simulated (the real Runtime runs on top of it, so its files and commands are exercised)."""

from __future__ import annotations

import copy
import json
import signal
from pathlib import Path

from microk8s_double.kubeclient import ApiError
from workload_objects import merge

MANIFEST = {"config": {"digest": "sha256:config1"}}
CONFIG = {"config": {"Cmd": ["httpd", "-f"], "Env": ["PATH=/bin"], "WorkingDir": "/www", "User": "1000:1000"}}


class FakeClient:
    def __init__(self, **objects: list[dict]):
        self.objects = {k: [copy.deepcopy(o) for o in v] for k, v in objects.items()}
        self.calls: list[tuple] = []

    def find(self, resource: str, name: str) -> dict | None:
        return next((o for o in self.objects.get(resource, []) if o["metadata"]["name"] == name), None)

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        return [copy.deepcopy(o) for o in self.objects.get(resource, [])]

    def get(self, resource, name, namespace=None):
        found = self.find(resource, name)
        return copy.deepcopy(found) if found else None

    def patch(self, resource, name, patch, namespace=None, subresource=None, patch_type="merge"):
        self.calls.append(("patch", resource, name, subresource))
        found = self.find(resource, name)
        if found is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        return merge(found, copy.deepcopy(patch))

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        self.calls.append((method, path, body))
        name = path.rsplit("/", 1)[1]
        if method == "DELETE":
            self.objects["pods"] = [o for o in self.objects["pods"] if o["metadata"]["name"] != name]
        return {}

    def pod(self, name: str) -> dict:
        return self.find("pods", name)


class FakeHost:
    """containerd holds `images` ({ref: digest}); a spawned shim is alive until its container exits."""

    def __init__(self, images: dict[str, str] | None = None):
        self.images = images or {}
        self.commands: list[tuple[str, ...]] = []
        self.spawned: list[list[str]] = []
        self.signals: list[tuple[int, int]] = []
        self.live: dict[int, Path] = {}
        self.ignore_term = False
        self.exec_rc = 0
        self.next_pid = 100

    def run(self, *argv: str) -> tuple[int, str]:
        self.commands.append(argv)
        if argv[5:7] == ("images", "ls"):
            lines = ["REF TYPE DIGEST SIZE PLATFORMS LABELS"]
            lines += [f"{ref} application/vnd.docker.distribution.manifest.v2+json {d} 1 MiB linux/amd64 -"
                      for ref, d in self.images.items()]  # fmt: skip
            return 0, "\n".join(lines) + "\n"
        if argv[5:7] == ("content", "get"):
            return 0, json.dumps(MANIFEST if argv[7] in self.images.values() else CONFIG)
        return 0, ""

    def spawn(self, argv: list[str]) -> int:
        self.spawned.append(argv)
        shim, where = self.next_pid, Path(argv[-1])
        self.next_pid += 10
        (where / "pid").write_text(str(shim + 1))
        self.live[shim] = where
        return shim

    def alive(self, pid: int) -> bool:
        return pid in self.live

    def children(self, pid: int) -> list[int]:
        return [pid + 1] if pid - 1 in self.live else []

    def signal(self, pid: int, number: int) -> None:
        self.signals.append((pid, number))
        if number == signal.SIGKILL or not self.ignore_term:
            self.exit(pid - 2, 128 + number)

    def exit(self, shim: int, code: int) -> None:
        where = self.live.pop(shim)
        (where / "exit.json").write_text(json.dumps({"exitCode": code, "finishedAt": "2026-01-01T00:00:09Z"}))

    def execute(self, argv, env, timeout) -> int:
        self.commands.append(tuple(argv))
        return self.exec_rc


class FakeNetwork:
    def __init__(self):
        self.attached: dict[str, str] = {}

    def attach(self, uid: str, pod_cidr: str) -> str:
        return self.attached.setdefault(uid, pod_cidr.rsplit(".", 1)[0] + f".{len(self.attached) + 2}")

    def detach(self, uid: str) -> None:
        self.attached.pop(uid, None)

    def netns(self, uid: str) -> str:
        return f"pod-{uid[:8]}"
