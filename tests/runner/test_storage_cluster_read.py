# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage preflight's read of the cluster (roles/storage/vars/main.yml): a `microk8s kubectl get` that failed
while MicroK8s runs is an error the preflight names, whatever kubectl said; that includes "the server doesn't have a
resource type \"statefulsets\"" (every Kubernetes release serves apps/v1 StatefulSets, so taking it as "no
StatefulSets" would let the hostpath guard pass unchecked). Rendered through ansible-runner on this machine."""

from __future__ import annotations

import json

from local_play import REPO, run_play

STATEFULSETS_REFUSED = 'error: the server doesn\'t have a resource type "statefulsets"'


def _read_errors(tmp_path, reads, version="v1.32.3"):
    play = {
        "name": "Render the storage role's read errors",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(REPO / "roles/storage/vars/main.yml")}},
            {
                "ansible.builtin.copy": {
                    "content": "{{ _storage_cluster_read_errors | to_json }}",
                    "dest": str(tmp_path / "errors.json"),
                }
            },
        ],
    }
    extravars = {"_storage_bootstrap": "node1", "_storage_version": version,
                 "_storage_reads": {"node1": {"kubectl": reads}}}  # fmt: skip
    run = run_play(tmp_path / "play.yml", play, extravars=extravars)
    assert run.rc == 0, run.stdout.read()
    return json.loads((tmp_path / "errors.json").read_text())


def _read(args, rc, stderr=""):
    return {"args": args, "rc": rc, "stdout": "" if rc else '{"items": []}', "stderr": stderr}


def test_a_statefulset_list_the_server_refused_is_an_error_not_none(tmp_path):
    reads = [_read(["storageclasses"], 0), _read(["statefulsets", "--all-namespaces"], 1, STATEFULSETS_REFUSED)]
    errors = _read_errors(tmp_path, reads)
    assert errors == ["microk8s kubectl get statefulsets --all-namespaces failed on node1: " + STATEFULSETS_REFUSED]


def test_reads_that_answered_and_reads_before_microk8s_runs_are_no_errors(tmp_path):
    reads = [_read(["storageclasses"], 0), _read(["statefulsets", "--all-namespaces"], 0)]
    assert _read_errors(tmp_path, reads) == []
    refused = [_read(["statefulsets", "--all-namespaces"], 1, STATEFULSETS_REFUSED)]
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    assert _read_errors(stopped, refused, version="") == []
