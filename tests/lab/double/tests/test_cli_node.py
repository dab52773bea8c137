# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-node commands against the contract (sections 2, 7): version, start/stop, config, kubectl, ctr, dbctl,
inspect, unknown subcommands; and the double's independence from the collection it tests."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from conftest import READY

WORKER_KUBECTL = (
    "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s kubectl on the master."
)


def test_version_exists_from_1_25(node):
    result = node.run("version")
    if node.minor >= 25:
        assert (result.rc, result.out) == (0, f"MicroK8s {node.profile.version} revision x1\n")
    else:
        assert (result.rc, result.out.splitlines()[0]) == (1, "'version' is not a valid MicroK8s subcommand.")


def test_unknown_subcommand(node):
    result = node.run("frobnicate")
    assert result.rc == 1
    assert result.out.splitlines()[:2] == [
        "'frobnicate' is not a valid MicroK8s subcommand.",
        "Available subcommands are:",
    ]


def test_stop_then_start_through_snapd(node):
    tool = "snapctl" if node.minor >= 25 else "snap"
    assert node.run("stop").rc == 0
    assert node.lock("stopped.lock").exists()
    assert node.run("kubectl", "get", "nodes").err == "microk8s is not running, try microk8s start\n"
    assert node.run("start").rc == 0
    assert not node.lock("stopped.lock").exists()
    assert node.stand_in_log() == [f"{tool} stop microk8s --disable", f"{tool} start microk8s --enable"]


def test_start_rejects_unknown_options(node):
    result = node.run("start", "--now")
    assert (result.rc, result.err) == (1, "microk8s start: invalid option -- now\n")


def test_config_replaces_loopback_unless_asked(node):
    plain = node.run("config", "-l").out
    assert "server: https://127.0.0.1:" in plain and plain.endswith("\n\n")
    node_json = node.root / "settings.json"
    node_json.write_text(node_json.read_text().replace('"node_ip": "127.0.0.1"', '"node_ip": "10.77.0.5"'))
    assert "server: https://10.77.0.5:" in node.run("config").out


def test_kubectl_and_config_on_a_worker_answer_rc_0(node):
    node.lock("clustered.lock").touch()
    assert (node.run("kubectl", "get", "nodes").out, node.run("kubectl").rc) == (WORKER_KUBECTL + "\n", 0)
    config = node.run("config")
    assert (config.rc, config.out.strip().endswith("Please use microk8s config on the master.")) == (0, True)


def test_kubectl_is_the_real_binary_on_the_snap_kubeconfig(node):
    result = node.run("kubectl", "config", "current-context")
    assert (result.rc, result.out) == (0, "microk8s\n")


def test_ctr_uses_the_snap_socket(node):
    result = node.run("ctr", "version")
    assert result.rc != 0
    assert str(node.common / "run" / "containerd.sock") in result.err


def test_ctr_is_the_snaps_own_client(node):
    """`${SNAP}/bin/ctr` on the snap's socket and namespace, whatever the host has in /usr/bin."""
    stand_in = node.snap / "bin" / "ctr"
    stand_in.write_text('#!/bin/sh\necho "snap ctr $*"\n')
    result = node.run("ctr", "images", "ls")
    socket = node.common / "run" / "containerd.sock"
    assert (result.rc, result.out) == (0, f"snap ctr --address={socket} --namespace k8s.io images ls\n")


def test_the_snaps_ctr_reports_a_socket_without_containerd(tmp_path):
    from microk8s_double import ctr

    missing = tmp_path / "containerd.sock"
    assert ctr.address([f"--address={missing}", "--namespace", "k8s.io", "version"]) == str(missing)
    assert ctr.address(["-a", "/x.sock", "images", "--address=/not/global"]) == "/x.sock"
    assert ctr.address(["version"]) == "/run/containerd/containerd.sock"
    assert ctr.dial_error(str(missing)) == (
        f'ctr: failed to dial "{missing}": context deadline exceeded: connection error: desc = "transport: error '
        f'while dialing: dial unix {missing}: connect: no such file or directory"'
    )


def test_the_help_lists_each_versions_wrappers_and_no_argument_is_an_error(node):
    result = node.run()
    assert result.rc == 1
    names = [line.strip() for line in result.out.splitlines()[1:]]
    assert names[-1] == "inspect" and names[:-1] == sorted(names[:-1])
    assert ("juju" in names, "cilium" in names) == (node.minor <= 23, node.minor <= 27)
    assert ("addons" in names, "images" in names) == (node.minor >= 24, node.minor >= 25)
    assert node.run("help").rc == 0


def test_commands_the_double_does_not_model_say_so_after_the_real_guards(node):
    istio = node.run("istioctl", "version")
    assert (istio.rc, istio.out) == (0, "Istio not available, try enabling is with 'microk8s enable istio'\n")
    helm = node.run("helm", "list")
    assert (helm.rc, helm.err) == (1, "microk8s test double: `microk8s helm` is not modelled by the double.\n")
    node.lock("clustered.lock").touch()
    on_worker = node.run("helm3", "list")
    assert (on_worker.rc, on_worker.out) == (
        0,
        "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s helm on the master.\n",
    )


def test_dbctl_backup_writes_one_key_and_data_file_per_key_under_the_archives_name(node, tmp_path, monkeypatch):
    keys = {"/registry/configmaps/default/a": {"metadata": {"name": "a"}}, "/registry/x/y": ["core/dns"]}
    node.scenario({"nodes": READY, "data": keys})
    monkeypatch.chdir(tmp_path)
    result = node.run("dbctl", "backup", "-o", "snapshot")
    assert result.rc == 0, result
    assert result.out.splitlines() == ["Backing up the datastore", "The backup is: snapshot.tar.gz"]
    assert "level=info" in result.err and "mode: backup-dqlite" in result.err
    with tarfile.open(tmp_path / "snapshot.tar.gz") as archive:
        names = sorted(archive.getnames())
        assert names == ["snapshot", *(f"snapshot/{i}.{kind}" for i in range(2) for kind in ("data", "key"))]
        assert archive.extractfile("snapshot/0.key").read() == b"/registry/configmaps/default/a"
        assert json.loads(archive.extractfile("snapshot/1.data").read()) == ["core/dns"]
    # As the migrator makes <tmp>/<NAME> with one mkdir: a NAME with a directory part fails.
    nested = node.run("dbctl", "backup", "-o", str(tmp_path / "elsewhere" / "snap"))
    assert (nested.rc, nested.out.splitlines()[-1]) == (1, "Backup process failed. 1")
    assert "level=fatal" in nested.err and "couldn't create backup directory" in nested.err
    node.scenario({})
    assert node.run("dbctl", "backup").rc == 10


def test_dbctl_restore_creates_or_puts_the_archives_keys_and_leaves_others(node, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node.scenario({"nodes": READY, "data": {"/registry/a/x": {"metadata": {"name": "x"}}}})
    assert node.run("dbctl", "backup", "-o", "snapshot").rc == 0
    node.scenario({"nodes": READY, "data": {"/registry/b/later": {"metadata": {"name": "later"}}}})
    result = node.run("dbctl", "restore", "snapshot.tar.gz")
    assert (result.rc, result.out) == (0, "Restoring from snapshot.tar.gz\nProcessed 1 entries\n")
    data = json.loads(node.scenario_file.read_text())["data"]
    assert set(data) == {"/registry/a/x", "/registry/b/later"}
    # The directory inside is looked up by the file's name: a renamed archive restores nothing, and says so only
    # by its count.
    (tmp_path / "snapshot.tar.gz").rename(tmp_path / "renamed.tar.gz")
    renamed = node.run("dbctl", "restore", "renamed.tar.gz")
    assert (renamed.rc, renamed.out.splitlines()[-1]) == (0, "Processed 0 entries")
    missing = node.run("dbctl", "restore", "missing.tar.gz")
    assert missing.rc == 1 and "FileNotFoundError" in missing.err


def test_inspect_fails_when_services_are_down(node):
    result = node.run("inspect")
    assert result.rc == 1
    assert " FAIL:  Service snap.microk8s.daemon-kubelite is not running" in result.out
    report = result.out.splitlines()[-1].split("Report tarball is at ")[1]
    assert Path(report).parent == node.data and tarfile.is_tarfile(report)


def test_low_memory_guard_from_1_24(node):
    node.lock("low-memory-guard.lock").touch()
    result = node.run("status")
    expected = 1 if node.minor >= 24 else 0
    assert result.rc == expected
    assert result.out.startswith("This node does not have enough RAM") == (node.minor >= 24)


def test_the_double_knows_nothing_of_the_collection():
    double = Path(__file__).resolve().parent.parent
    sources = [p for p in double.rglob("*") if p.is_file() and "tests" not in p.relative_to(double).parts]
    sources = [p for p in sources if p.suffix in ("", ".py", ".sh") and "__pycache__" not in p.parts]
    assert len(sources) > 10
    offenders = [str(p) for p in sources if any(word in p.read_text().lower() for word in ("onprem", "ansible"))]
    assert offenders == []


def test_images_import_reports_unreachable_agents_with_rc_0(node, tmp_path):
    archive = tmp_path / "images.tar"
    archive.write_bytes(b"not really an archive")
    node.scenario({"nodes": [{"status": "Ready", "internal_ip": "127.0.0.1"}]})
    node.root.joinpath("var/snap/microk8s/current/args/cluster-agent").write_text("--bind 0.0.0.0:1\n")
    result = node.run("images", "import", str(archive))
    if node.minor < 25:
        assert (result.rc, result.out.splitlines()[0]) == (1, "'images' is not a valid MicroK8s subcommand.")
        return
    assert (result.rc, result.out) == (0, "Pushing OCI images to 127.0.0.1:1\n")
    assert result.err.startswith("Failed to reach 127.0.0.1:1: ")


def test_credentials_certs_and_args_are_not_for_other_users(node):
    """The install hook's `chmod -R ug+rwX,o-rwX`: a user outside root and the group gets `Insufficient permissions`."""
    for directory in ("credentials", "certs", "args"):
        paths = [node.data / directory, *(node.data / directory).rglob("*")]
        assert [p.name for p in paths if p.stat().st_mode & 0o007] == []
    assert (node.data / "credentials" / "client.config").stat().st_mode & 0o660 == 0o660
