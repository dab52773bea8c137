# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s dbctl backup` / `restore` on a running cluster, as the real dbctl runs go-migrator against kine: the
backup holds every key; the restore creates or puts each of them through the datastore (every member and the API
see them at once) and leaves keys the archive lacks. A datastore the size of a lab's (objects, events, the
double's own list-valued keys, which made the former one-batch restore fail) restores in a few seconds."""

from __future__ import annotations

import time
from dataclasses import fields

from cluster_fixtures import clusters, wait_for
from microk8s_double import datastore
from microk8s_double.commands import dbctl
from microk8s_double.commands.common import Context
from microk8s_double.kubeclient import KubeClient

PREFIX = "/registry/configmaps/default/"
ADDONS = "/registry/microk8s-double/enabled-addons"


def put(name, payload=""):
    return {"op": "put", "key": PREFIX + name, "value": {"metadata": {"name": name}, "data": {"x": payload}}}


def test_restore_brings_back_the_backed_up_keys_and_leaves_later_ones(tmp_path, monkeypatch):
    with clusters(tmp_path / "cluster") as make:
        node = make().new_node().node
        ctx = Context(**{field.name: getattr(node, field.name) for field in fields(node)})
        # A full datastore: 1500 objects of ~1 kB besides the cluster's own, and a list-valued key of the double.
        datastore.execute(node, [put(f"obj-{i}", "x" * 1000) for i in range(1500)])
        datastore.execute(node, [put("kept"), {"op": "put", "key": ADDONS, "value": ["core/dns"]}])
        monkeypatch.chdir(tmp_path)
        assert dbctl.backup(ctx, "snapshot") == 0
        datastore.execute(
            node,
            [
                {"op": "delete", "key": PREFIX + "kept"},
                put("later"),
                {"op": "put", "key": ADDONS, "value": ["core/dns", "core/ingress"]},
            ],
        )
        started = time.monotonic()
        assert dbctl.restore(ctx, "snapshot.tar.gz") == 0
        took = time.monotonic() - started
        restored = datastore.execute(node, [{"op": "list", "prefix": PREFIX}])[0]
        assert {PREFIX + "kept", PREFIX + "later", PREFIX + "obj-1499"} <= set(restored)
        assert datastore.execute(node, [{"op": "get", "key": ADDONS}])[0] == ["core/dns"]
        # Restored objects get a new resourceVersion, as kine gives every write its own revision.
        assert int(restored[PREFIX + "kept"]["metadata"]["resourceVersion"]) > 0
        print(f"restore of {len(restored)} configmaps took {took:.1f} s")  # a figure, not asserted


def test_a_deleted_deployment_comes_back_with_its_replicaset_and_pods(tmp_path, monkeypatch):
    """The lab's scenario on loopback: back up, delete the app (the garbage collector takes its ReplicaSet and pods),
    restore; the objects return through the datastore, the API serves them and the controllers keep them."""
    with clusters(tmp_path / "cluster") as make:
        first = make(pod_network="host").new_node()
        node = first.node
        ctx = Context(**{field.name: getattr(node, field.name) for field in fields(node)})
        client = KubeClient.for_node(node)
        labels = {"app": "hello"}
        client.create("deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "hello", "image": "hello:local"}]}}},
        })  # fmt: skip
        wait_for(lambda: len(client.list("pods", namespace="default")) == 2, timeout=30, what="the app's pods")
        uid = client.get("deployments", "hello", "default")["metadata"]["uid"]
        monkeypatch.chdir(tmp_path)
        assert dbctl.backup(ctx, "snapshot") == 0
        client.delete("deployments", "hello", "default")
        wait_for(lambda: not client.list("replicasets", namespace="default"), timeout=30, what="the ReplicaSet gone")
        assert dbctl.restore(ctx, "snapshot.tar.gz") == 0
        restored = client.get("deployments", "hello", "default")
        assert restored is not None and restored["metadata"]["uid"] == uid
        # A few controller rounds later the app is still there, with its ReplicaSet and two pods.
        time.sleep(5)
        assert client.get("deployments", "hello", "default")["metadata"]["uid"] == uid
        assert len(client.list("replicasets", namespace="default")) == 1
        wait_for(lambda: len(client.list("pods", namespace="default")) == 2, timeout=30, what="two pods")
