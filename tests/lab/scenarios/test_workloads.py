# SPDX-License-Identifier: GPL-3.0-or-later
"""kubectl as a user runs it against the converged lab, for the kinds charts and tools bring besides Deployments: a
StatefulSet on the cluster's default class rolls out in order and rolls an update (`kubectl rollout status`), a Job
runs its pods to completion (`kubectl wait --for=condition=complete`), a CronJob is accepted and printed, and the API
server's health endpoints answer. Each test removes what it made (claims included)."""

from __future__ import annotations

import pytest
from conftest import node

KUBECTL = ["/snap/bin/microk8s", "kubectl"]
NAMESPACE = "workloads-check"

STATEFUL = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: workloads-check}
spec:
  replicas: 2
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: hello:local, volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
"""

JOB = """apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: workloads-check}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: once, image: hello:local, command: [python3, -c, "print('done')"]}
"""

CRON = """apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: workloads-check}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: nightly, image: hello:local}]
"""


def kubectl(*argv, **options):
    return node("node1", *KUBECTL, *argv, **options)


@pytest.fixture
def namespace(lab):
    kubectl("create", "namespace", NAMESPACE)
    try:
        yield NAMESPACE
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_a_stateful_set_rolls_out_in_order_with_a_claim_per_pod_and_rolls_an_update(namespace):
    kubectl("apply", "-f", "-", input=STATEFUL)
    try:
        done = kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=180s", timeout=200)
        assert "roll out complete" in done.stdout, done.stdout
        claims = kubectl("get", "pvc", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
        assert sorted(claims) == ["data-web-0", "data-web-1"]
        first = kubectl("get", "pods", "-n", namespace, "-o", "jsonpath={.items[*].metadata.creationTimestamp}")
        times = dict(zip(["web-0", "web-1"], first.stdout.split()))
        assert times["web-0"] <= times["web-1"]
        kubectl("set", "env", "statefulset/web", "-n", namespace, "ROUND=2")
        kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=180s", timeout=200)
        revisions = kubectl("get", "pods", "-n", namespace, "-o",
                            "jsonpath={.items[*].metadata.labels.controller-revision-hash}").stdout.split()  # fmt: skip
        assert len(revisions) == 2 and len(set(revisions)) == 1, revisions
        refused = kubectl("patch", "statefulset/web", "-n", namespace, "-p", '{"spec":{"serviceName":"other"}}',
                          check=False)  # fmt: skip
        assert refused.returncode != 0 and "updates to statefulset spec for fields other than" in refused.stderr
    finally:
        kubectl("delete", "statefulset", "web", "-n", namespace, "--ignore-not-found", check=False)
        kubectl("delete", "pvc", "--all", "-n", namespace, "--ignore-not-found", check=False)


def test_a_job_runs_to_completion_and_a_cron_job_is_accepted(namespace):
    kubectl("apply", "-f", "-", input=JOB)
    kubectl("wait", "--for=condition=complete", "job/once", "-n", namespace, "--timeout=120s", timeout=140)
    row = kubectl("get", "job", "once", "-n", namespace, "--no-headers").stdout.split()
    assert row[:3] == ["once", "Complete", "2/2"], row
    # applied, not `kubectl create cronjob`: the lab's kubectl is Debian's 1.20, which creates batch/v1beta1 ones
    made = kubectl("apply", "-f", "-", input=CRON)
    assert made.stdout.strip() == "cronjob.batch/nightly created"
    row = kubectl("get", "cronjob", "nightly", "-n", namespace, "--no-headers").stdout.split()
    assert row[:7] == ["nightly", "0", "3", "*", "*", "*", "<none>"], row


def test_the_api_servers_health_endpoints_answer(lab):
    for path in ("/livez", "/readyz", "/healthz"):
        assert kubectl("get", "--raw", path).stdout == "ok"
    verbose = kubectl("get", "--raw", "/readyz?verbose").stdout.splitlines()
    assert "[+]etcd ok" in verbose and verbose[-1] == "readyz check passed"
