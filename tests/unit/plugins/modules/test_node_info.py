# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import json
import os
import threading

import pytest

from ansible_collections.onprem.microk8s.plugins.modules import node_info
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import NODE_READS, Call, run


def read(args, calls, **kwargs):
    """node_info's main() on scripted commands, its reads after `snap` in any order (they run side by side)."""
    return run(node_info.main, args, calls, side_by_side=NODE_READS, **kwargs)


SNAP_LIST = (
    "Name      Version   Rev   Tracking       Publisher   Notes\n"
    "core20    20240111  2182  latest/stable  canonical✓  base\n"
    "microk8s  v1.32.3   7967  1.32/stable    canonical✓  classic\n"
)


@pytest.mark.parametrize("check_mode", [False, True])
def test_one_read_gives_snaps_hold_and_staging(tmp_path, check_mode):
    staging = tmp_path / "staging"
    out = read(
        {"staging_dir": str(staging), "resolve": ["localhost"]},
        [
            Call(["snap", "list"], 0, SNAP_LIST),
            Call(["snap", "get", "system", "refresh.hold"], 0, "2027-02-27T10:00:00Z\n"),
        ],
        check_mode=check_mode,
    )
    result = out.result
    assert not out.failed and result["changed"] is False
    assert result["snapd"] is True
    assert result["snaps"]["microk8s"]["tracking"] == "1.32/stable"
    assert set(result["snaps"]) == {"core20", "microk8s"}
    assert result["refresh_hold"] == "2027-02-27T10:00:00Z"
    assert result["staging"][0] == {"path": str(staging), "exists": False, "uid": None, "mode": None}
    assert result["staging"][1]["path"] == str(tmp_path) and result["staging"][1]["exists"]
    assert result["staging"][-1]["path"] == "/"
    assert result["resolved"] == {"localhost": "127.0.0.1"}
    assert result["memory_mb"] > 0


def test_nothing_installed_and_no_hold(tmp_path):
    out = read(
        {"staging_dir": str(tmp_path)},
        [
            Call(["snap", "list"], 1, "", "No snaps are installed yet."),
            Call(["snap", "get", "system", "refresh.hold"], 1, "", 'error: snap "core" has no "refresh.hold"'),
        ],
    )
    assert out.result["snaps"] == {} and out.result["refresh_hold"] == ""


STATUS_FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures", "status")
READS = [
    Call(["snap", "list"], 0, SNAP_LIST),
    Call(["snap", "get", "system", "refresh.hold"], 0, ""),
]


def status_fixture(name):
    with open(os.path.join(STATUS_FIXTURES, name + ".txt")) as handle:
        return handle.read()


def test_status_in_the_same_read_without_a_second_snap_list(tmp_path):
    """status=true adds one `microk8s status` (no wait) and reuses the `snap list` already read."""
    out = read(
        {"staging_dir": str(tmp_path), "status": True},
        [*READS, Call(["microk8s", "status", "--format", "yaml"], 0, status_fixture("1.32-yaml-running-ha-spare"))],
    )
    status = out.result["microk8s"]
    assert not out.failed
    assert status["ready"] is True and status["role"] == "control-plane" and status["version"] == "v1.32.3"
    assert status["member"] is True and status["expected_voters"] == 3
    assert len(status["datastore"]["voters"]) == 3
    assert "core/dns" in status["enabled_addons"]


def test_status_of_a_node_without_microk8s_is_null(tmp_path):
    out = read(
        {"staging_dir": str(tmp_path), "status": True},
        [Call(["snap", "list"], 0, SNAP_LIST.splitlines()[0] + "\n"), Call(["snap", "get", "system", "refresh.hold"])],
    )
    assert out.result["microk8s"] is None


def test_a_failed_status_is_reported_not_raised(tmp_path):
    out = read(
        {"staging_dir": str(tmp_path), "status": True},
        [*READS, Call(["microk8s", "status", "--format", "yaml"], 1, "", "Traceback (most recent call last):")],
    )
    assert not out.failed
    assert out.result["microk8s"]["state"] == "error" and out.result["microk8s"]["ready"] is False
    assert "Traceback" in out.result["microk8s"]["message"]


def test_files_packages_services_addresses_and_certificates_in_one_read(tmp_path):
    small = tmp_path / "keepalived.conf"
    small.write_text("vrrp_instance VI_1 {\n}\n")
    large = tmp_path / "archive.tar"
    large.write_bytes(b"x" * (node_info.MAX_CONTENT + 1))
    missing = tmp_path / "missing"
    crt = "/var/snap/microk8s/current/certs/server.crt"
    out = read(
        {
            "staging_dir": str(tmp_path),
            "files": [str(small), str(large), str(missing)],
            "packages": ["keepalived", "curl"],
            "services": ["keepalived"],
            "addresses": True,
            "certificates": [crt],
        },
        [
            *READS,
            Call(
                ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\n", "keepalived", "curl"],
                1,
                "keepalived installed\n",
                "dpkg-query: no packages found matching curl\n",
            ),
            Call(
                ["systemctl", "show", "--property=ActiveState,UnitFileState", "keepalived"],
                0,
                "ActiveState=active\nUnitFileState=enabled\n",
            ),
            Call(
                ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", crt],
                0,
                "X509v3 Subject Alternative Name: \n    DNS:kubernetes, DNS:kubernetes.default, IP Address:127.0.0.1,"
                " IP Address:10.77.0.10\n",
            ),
            Call(
                ["ip", "-o", "addr", "show"],
                0,
                "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
                "2: eth0    inet 10.77.0.11/24 brd 10.77.0.255 scope global eth0\\       valid_lft forever\n"
                "2: eth0    inet 10.77.0.10/32 scope global eth0\\       valid_lft forever preferred_lft forever\n"
                "2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n",
            ),
        ],
    )
    result = out.result
    assert not out.failed and result["changed"] is False
    files = result["files"]
    assert files[str(small)]["content"] == "vrrp_instance VI_1 {\n}\n"
    assert files[str(small)]["sha1"] == hashlib.sha1(small.read_bytes()).hexdigest()
    assert files[str(small)]["uid"] == os.getuid() and files[str(small)]["mode"] & 0o777 == small.stat().st_mode & 0o777
    assert files[str(large)]["content"] is None
    assert files[str(large)]["sha1"] == hashlib.sha1(large.read_bytes()).hexdigest()
    assert files[str(missing)] == {
        "exists": False,
        "uid": None,
        "gid": None,
        "mode": None,
        "sha1": None,
        "content": None,
    }
    assert result["packages"] == {"keepalived": True, "curl": False}
    assert result["services"] == {"keepalived": {"active": True, "enabled": True}}
    assert result["certificates"][crt] == {
        "ip": ["127.0.0.1", "10.77.0.10"],
        "dns": ["kubernetes", "kubernetes.default"],
    }
    assert result["addresses"] == ["127.0.0.1", "10.77.0.11", "10.77.0.10", "fe80::1"]


def test_nothing_extra_is_read_unless_asked(tmp_path):
    """The plain read stays two snap commands: the extra reads cost nothing when a role does not ask for them."""
    out = read({"staging_dir": str(tmp_path)}, READS)
    result = out.result
    assert result["microk8s"] is None and result["files"] == {} and result["packages"] == {}
    assert result["services"] == {} and result["addresses"] == [] and result["certificates"] == {}
    assert result["accounts"] == {} and result["groups"] == {} and result["kubectl"] == []


def test_accounts_and_groups_through_nss_in_the_same_read(tmp_path):
    """cluster_access plans MicroK8s' Unix group from this read: accounts as `getent passwd`, groups as `getent
    group` (root and its group exist everywhere; the made-up names do not)."""
    import grp

    root_group = grp.getgrgid(0).gr_name
    out = read(
        {
            "staging_dir": str(tmp_path),
            "accounts": ["root", "no-such-account-x1"],
            "groups": [root_group, "no-such-group-x1"],
        },
        READS,
    )
    result = out.result
    assert result["accounts"] == {"root": True, "no-such-account-x1": False}
    assert result["groups"]["no-such-group-x1"] is None
    assert result["groups"][root_group] == {"gid": 0, "members": list(grp.getgrgid(0).gr_mem)}


def test_kubectl_gets_in_the_same_read_with_their_exit_codes(tmp_path):
    """Each list of `kubectl` is one `microk8s kubectl get ... -o json`; a refused one is reported, not raised."""
    out = read(
        {"staging_dir": str(tmp_path), "kubectl": [["storageclasses"], ["statefulsets", "--all-namespaces"]]},
        [
            *READS,
            Call(["microk8s", "kubectl", "get", "storageclasses", "-o", "json"], 0, '{"items": []}'),
            Call(
                ["microk8s", "kubectl", "get", "statefulsets", "--all-namespaces", "-o", "json"],
                1,
                "",
                'error: the server doesn\'t have a resource type "statefulsets"',
            ),
        ],
    )
    assert not out.failed
    first, second = out.result["kubectl"]
    assert first == {"args": ["storageclasses"], "rc": 0, "stdout": '{"items": []}', "stderr": ""}
    assert second["rc"] == 1 and "resource type" in second["stderr"]


class _GetsMeetingRunner:
    """A runner whose gets return only once `together` of them run at the same time (a serial read times out)."""

    def __init__(self, together, timeout=5):
        self.meeting = threading.Barrier(together, timeout=timeout)

    def run(self, argv, check=True):
        self.meeting.wait()
        return 0, json.dumps({"kind": "List", "asked": argv[2]}), ""


def test_kubectl_gets_run_side_by_side_and_answer_in_the_order_asked():
    gets = [["namespaces"], ["pods", "-n", "a"], ["services", "-n", "b"], ["configmaps", "-n", "c"]]
    results = node_info.kubectl_gets(_GetsMeetingRunner(together=4), gets, installed=True)
    assert [r["args"] for r in results] == gets
    assert [json.loads(r["stdout"])["asked"] for r in results] == ["namespaces", "pods", "services", "configmaps"]
    assert all(r["rc"] == 0 for r in results)


def test_kubectl_gets_run_at_most_the_set_number_at_once():
    gets = [["namespaces"], ["pods"], ["services"], ["configmaps"]]
    with pytest.raises(threading.BrokenBarrierError):  # 3 never meet when only 2 run at once
        node_info.kubectl_gets(_GetsMeetingRunner(together=3, timeout=0.5), gets, installed=True, workers=2)


def test_the_reads_after_snap_run_side_by_side(tmp_path, monkeypatch):
    """Status, facts, system, images, gets and `microk8s config` each return only once all six run at the same time:
    read one after another, the first waits alone and the read fails."""
    meeting = threading.Barrier(6, timeout=5)

    def meets(answer):
        def reader(*_args, **_kwargs):
            meeting.wait()
            return answer

        return reader

    monkeypatch.setattr(node_info, "microk8s_state", meets({"state": "running"}))
    monkeypatch.setattr(node_info, "host_facts", meets({"hostname": "node1"}))
    monkeypatch.setattr(node_info, "system_reads", meets({"files": {}, "packages": {"p": True}}))
    monkeypatch.setattr(node_info, "image_reads", meets({"hello": None}))
    monkeypatch.setattr(node_info, "kubectl_gets", meets([{"args": ["nodes"]}]))
    monkeypatch.setattr(node_info, "api_server", meets({"server": "https://10.77.0.11:16443"}))
    out = read(
        {"staging_dir": str(tmp_path), "status": True, "facts": True, "api_server": True, "images": ["hello"]},
        READS,
    )
    assert not out.failed
    result = out.result
    assert result["microk8s"] == {"state": "running"} and result["ansible_facts"] == {"hostname": "node1"}
    assert result["packages"] == {"p": True} and result["images"] == {"hello": None}
    assert result["kubectl"] == [{"args": ["nodes"]}]
    assert result["api_server"] == {"server": "https://10.77.0.11:16443"}


def test_kubectl_gets_without_microk8s_run_nothing(tmp_path):
    out = read(
        {"staging_dir": str(tmp_path), "kubectl": [["storageclasses"]]},
        [Call(["snap", "list"], 0, SNAP_LIST.splitlines()[0] + "\n"), Call(["snap", "get", "system", "refresh.hold"])],
    )
    assert out.result["kubectl"] == [{"args": ["storageclasses"], "rc": None, "stdout": "", "stderr": ""}]


ADMIN_KUBECONFIG = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    server: https://10.77.0.11:16443
  name: microk8s-cluster
contexts:
- context: {cluster: microk8s-cluster, user: admin}
  name: microk8s
current-context: microk8s
kind: Config
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZLXNlY3JldA==
"""


@pytest.mark.parametrize(
    ("host", "server"), [("", "https://10.77.0.11:16443"), ("10.77.0.10", "https://10.77.0.10:16443")]
)
def test_api_server_is_the_admin_kubeconfigs_address_and_ca_without_its_credential(tmp_path, host, server):
    out = read(
        {"staging_dir": str(tmp_path), "api_server": True, "api_server_host": host},
        [*READS, Call(["microk8s", "config"], 0, ADMIN_KUBECONFIG)],
    )
    assert out.result["api_server"] == {
        "server": server,
        "ca_data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K",
    }
    printed = repr(out.result)
    assert "S0VZLXNlY3JldA==" not in printed and "KEY-secret" not in printed and "Q0VSVA==" not in printed
    assert "BEGIN CERTIFICATE" not in printed  # no PEM for a -vvv log (the lab's leak check looks for one)


def test_api_server_is_null_when_microk8s_config_prints_no_kubeconfig(tmp_path):
    """A worker's `microk8s config` prints a pointer to the control plane, rc 0 (the contract): no address from it."""
    out = read(
        {"staging_dir": str(tmp_path), "api_server": True},
        [
            *READS,
            Call(
                ["microk8s", "config"],
                0,
                "This MicroK8s deployment is acting as a node in a cluster."
                " Please use the microk8s config on the master.\n",
            ),
        ],
    )
    assert not out.failed and out.result["api_server"] is None


def test_facts_and_the_names_of_the_hosts_block_in_the_same_read(tmp_path, monkeypatch):
    """facts=true returns setup's platform and network facts the roles use (one module run instead of two);
    resolve_block resolves the names the marked /etc/hosts block lists."""
    hosts = tmp_path / "hosts"
    hosts.write_text("# BEGIN nodes\n127.0.0.1 localhost\n# END nodes\n")
    monkeypatch.setattr(node_info, "HOSTS_FILE", str(hosts))
    route = "8.8.8.8 via 10.77.0.1 dev eth0 src 10.77.0.11 uid 0\n"
    addresses = "2: eth0    inet 10.77.0.11/24 brd 10.77.0.255 scope global eth0\n"
    out = read(
        {"staging_dir": str(tmp_path), "facts": True, "resolve_block": "# {mark} nodes"},
        [
            *READS,
            Call(["ip", "-4", "route", "get", "8.8.8.8"], 0, route),
            Call(["ip", "-o", "-4", "addr", "show"], 0, addresses),
        ],
    )
    assert not out.failed
    host = out.result["ansible_facts"]
    assert host["default_ipv4"]["address"] == "10.77.0.11" and host["default_ipv4"]["gateway"] == "10.77.0.1"
    assert host["default_ipv4"]["network"] == "10.77.0.0" and host["default_ipv4"]["netmask"] == "255.255.255.0"
    assert host["all_ipv4_addresses"] == ["10.77.0.11"] and host["system"]
    assert out.result["resolved"] == {"localhost": "127.0.0.1"}
