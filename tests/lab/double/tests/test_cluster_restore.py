# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s dbctl restore` on a running cluster: the archive's keys replace the live datastore's, through the
datastore (as the real dbctl restores with kine's migrator), so every member and the API see them at once."""

from __future__ import annotations

from dataclasses import fields

from cluster_fixtures import clusters
from microk8s_double import datastore
from microk8s_double.commands import dbctl
from microk8s_double.commands.common import Context

PREFIX = "/registry/configmaps/default/"


def put(node, name):
    return {"op": "put", "key": PREFIX + name, "value": {"metadata": {"name": name}}}


def test_restore_brings_back_the_backed_up_keys_and_drops_later_ones(tmp_path, monkeypatch):
    with clusters(tmp_path / "cluster") as make:
        node = make().new_node().node
        ctx = Context(**{field.name: getattr(node, field.name) for field in fields(node)})
        datastore.execute(node, [put(node, "kept")])
        monkeypatch.chdir(tmp_path)
        assert dbctl.backup(ctx, "snapshot") == 0
        datastore.execute(node, [{"op": "delete", "key": PREFIX + "kept"}, put(node, "later")])
        assert dbctl.restore(ctx, "snapshot.tar.gz") == 0
        restored = datastore.execute(node, [{"op": "list", "prefix": PREFIX}])[0]
        assert set(restored) == {PREFIX + "kept"}
