# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage drill's API calls around a power cut, through ansible-runner against the test double's API server
(no LXD), behind a proxy that swallows the first connection: the request sent to a machine that just lost power gets
no answer and no reset, and kubernetes.core sets no request timeout (seen in CI: "Read the node's taints" through
the API VIP hung for 15+ minutes on a connection to the node just cut). The drill's taint step must give up on that
request after its timeout and make it again on a new connection, then taint the node.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
import threading

import pytest
from local_play import run_play
from test_preflight_local import REPO

sys.path.insert(0, str(REPO / "tests" / "lab" / "double"))
sys.path.insert(0, str(REPO / "tests" / "lab" / "double" / "tests"))

from api_fixtures import api_server
from microk8s_double import nodes

OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
DRILL = "onprem.microk8s.storage_drill"


class SwallowFirstConnection:
    """A TCP proxy on `ip`: the first connection is accepted and never answered (a powered-off machine behind the
    VIP); every later one is relayed to `target`."""

    def __init__(self, ip: str, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server((ip, 0))
        self.address = self.listener.getsockname()
        self.swallowed: list[socket.socket] = []
        self.relayed = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _peer = self.listener.accept()
            except OSError:
                return
            if not self.swallowed:
                self.swallowed.append(client)  # kept open, never read from or answered
                continue
            self.relayed += 1
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.listener.close()
        for held in self.swallowed:
            held.close()


@pytest.fixture
def fake_lxc(tmp_path, monkeypatch):
    """An `lxc` on PATH that reports the target's container Stopped (the drill's power method lxd)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lxc = bin_dir / "lxc"
    lxc.write_text('#!/bin/sh\necho \'[{"name": "localhost", "status": "Stopped"}]\'\n')
    lxc.chmod(lxc.stat().st_mode | stat.S_IXUSR)
    path = os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", path)


def test_the_taint_is_made_again_on_a_new_connection_when_the_first_request_gets_no_answer(tmp_path, fake_lxc):
    with api_server(tmp_path / "api", version="1.32") as api:
        api.client.create("nodes", nodes.heartbeat(api.node, worker=False))
        real = api.kubeconfig(tmp_path / "api")
        port = int(real.read_text().split("server: https://")[1].split("\n")[0].rsplit(":", 1)[1])
        proxy = SwallowFirstConnection(api.ip, (api.ip, port))
        try:
            kubeconfig = tmp_path / "through-proxy"
            kubeconfig.write_text(real.read_text().replace(":%d\n" % port, ":%d\n" % proxy.address[1]))
            play = {
                "hosts": "localhost",
                "gather_facts": False,
                "vars": {"kubeconfig_path": str(kubeconfig), "_storage_drill_target": "localhost"},
                "tasks": [
                    {
                        "name": "Name the target's Kubernetes node",
                        "ansible.builtin.set_fact": {"storage_drill_node_name": "node-1", "_storage_drill_rep": {}},
                    },
                    {
                        "name": "The drill's taint step",
                        "ansible.builtin.include_role": {"name": DRILL, "tasks_from": "taint"},
                        "vars": {"storage_drill_power_method": "lxd", "_storage_drill_request_timeout": 5},
                    },
                ],
            }
            run = run_play(tmp_path / "taint.yml", play)
            output = run.stdout.read()
        finally:
            proxy.close()
        assert proxy.swallowed, "the proxy never saw a connection: the test proved nothing"
        assert proxy.relayed, "the second try did not go through the proxy: it did not prove the retry"
        assert run.status == "successful", output[-3000:]
        assert "Timed out after 5 second" in output, output[-3000:]
        assert "rescued=1" in output, output[-3000:]
        taints = api.client.get("nodes", "node-1")["spec"].get("taints", [])
        assert [t for t in taints if t["key"] == OUT_OF_SERVICE] == [
            {"key": OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"}
        ]
