# SPDX-License-Identifier: GPL-3.0-or-later
"""node.status.volumesInUse, as the kubelet reports the CSI volumes it mounts for pods: from its own view of the
PersistentVolumes (an informer cache in the real kubelet), not an API request per volume on every round."""

from __future__ import annotations

from microk8s_double.kubelet import csi

MAYASTOR_PV = {"spec": {"csi": {"driver": "io.openebs.csi-mayastor", "volumeHandle": "a1"}}}


class CountingClient:
    def __init__(self, pvs: dict):
        self.pvs, self.gets, self.patches = pvs, [], []

    def get(self, resource: str, name: str):
        self.gets.append((resource, name))
        return self.pvs.get(name)

    def patch(self, resource: str, name: str, body: dict, subresource: str | None = None):
        self.patches.append((resource, name, subresource, body))


def test_each_mounted_volume_is_looked_up_once_and_reported_while_mounted(tmp_path, monkeypatch):
    client = CountingClient({"pv-a": MAYASTOR_PV, "pv-local": {"spec": {"hostPath": {"path": "/x"}}}})
    kubelet_csi = csi.Csi(client, "node1", tmp_path)
    mounts = {str(kubelet_csi.target("uid1", "pv-a")), str(kubelet_csi.target("uid2", "pv-local")), "/"}
    monkeypatch.setattr(csi, "mount_points", lambda: mounts)
    for _round in range(5):
        kubelet_csi.report()
    assert sorted(client.gets) == [("persistentvolumes", "pv-a"), ("persistentvolumes", "pv-local")]
    in_use = {"status": {"volumesInUse": ["kubernetes.io/csi/io.openebs.csi-mayastor^a1"]}}
    assert client.patches == [("nodes", "node1", "status", in_use)]
    mounts.clear()  # unmounted: reported gone, and a later mount of the same name is looked up again
    kubelet_csi.report()
    assert client.patches[-1][-1] == {"status": {"volumesInUse": None}}
    mounts.add(str(kubelet_csi.target("uid3", "pv-a")))
    kubelet_csi.report()
    assert client.gets[-1] == ("persistentvolumes", "pv-a") and len(client.gets) == 3


def test_a_volume_whose_pv_is_not_found_yet_is_asked_for_again(tmp_path, monkeypatch):
    client = CountingClient({})
    kubelet_csi = csi.Csi(client, "node1", tmp_path)
    monkeypatch.setattr(csi, "mount_points", lambda: {str(kubelet_csi.target("uid1", "pv-a"))})
    kubelet_csi.report()
    client.pvs["pv-a"] = MAYASTOR_PV
    kubelet_csi.report()
    assert client.gets == [("persistentvolumes", "pv-a")] * 2
    assert client.patches[-1][-1] == {"status": {"volumesInUse": ["kubernetes.io/csi/io.openebs.csi-mayastor^a1"]}}
