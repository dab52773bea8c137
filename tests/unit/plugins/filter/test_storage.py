# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage role's pure parts: engine per version, the addon call, the preflight's facts and verdicts (every bad
node named with its fact), the replicated class, the hostpath guard."""

from __future__ import annotations

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.storage import (
    DEMO_ANNOTATION,
    ISCSID_WANTS,
    storage_addon,
    storage_addon_classes,
    storage_claim_class_problem,
    storage_claim_users,
    storage_class,
    storage_default_engine,
    storage_engine_problems,
    storage_multi_replica_on_node_local,
    storage_node_facts,
    storage_node_problems,
    storage_node_settings,
    storage_node_warnings,
    storage_nodes_facts,
    storage_other_defaults,
    storage_pending,
    storage_ready_pods_elsewhere,
    storage_volume_nodes,
)

SYSCTL = ["/etc/sysctl.conf", "/etc/sysctl.d/20-microk8s-hugepages.conf"]
MODULES = ["/etc/modules", "/etc/modules-load.d/microk8s-mayastor.conf"]
# /proc/meminfo as a node with 1024 x 2 MiB HugePages prints it (trimmed)
MEMINFO = (
    "MemTotal:        8041232 kB\nHugePages_Total:    1024\nHugePages_Free:     1024\nHugepagesize:       2048 kB\n"
)
MODULES_LOADED = "nvme_tcp 45056 0 - Live 0x0000000000000000\nnvme_fabrics 28672 1 nvme_tcp, Live 0x0\n"


def _file(content=None, exists=True, mode=0o100644):
    return {"exists": exists, "mode": mode if exists else None, "content": content if exists else None}


def _info(
    meminfo=MEMINFO,
    modules=MODULES_LOADED,
    sysctl="vm.nr_hugepages = 1024\n",
    load="nvme-tcp\n",
    iscsid_link=True,
    open_iscsi=True,
    disk=None,
):
    files = {
        "/proc/meminfo": _file(meminfo),
        "/proc/modules": _file(modules),
        ISCSID_WANTS: _file("", exists=iscsid_link, mode=0o120777),
        SYSCTL[0]: _file("# kernel\n"),
        SYSCTL[1]: _file(sysctl, exists=sysctl is not None),
        MODULES[0]: _file("# /etc/modules\n"),
        MODULES[1]: _file(load, exists=load is not None),
    }
    if disk:
        files[disk[0]] = _file(None, exists=disk[1], mode=disk[2])
    return {"files": files, "packages": {"open-iscsi": open_iscsi}, "services": {"iscsid": {"active": True}}}


def _facts(**kwargs):
    disk = kwargs.get("disk")
    return storage_node_facts(_info(**kwargs), SYSCTL, MODULES, disk[0] if disk else "")


@pytest.mark.parametrize(
    ("version", "engine"),
    [
        ("v1.32.3", "mayastor"),
        ("1.24/stable", "mayastor"),
        ("v1.23.17", "openebs"),
        ("v1.21.0", "openebs"),
        ("v1.20.15", "hostpath"),
    ],
)
def test_default_engine_by_version(version, engine):
    assert storage_default_engine(version) == engine


def test_unreadable_version_is_an_error():
    with pytest.raises(ValueError, match="cannot read a MicroK8s version"):
        storage_default_engine("")


@pytest.mark.parametrize(
    ("engine", "version", "addon"),
    [
        ("hostpath", "v1.32.3", {"name": "hostpath-storage", "args": []}),
        ("hostpath", "v1.23.1", {"name": "storage", "args": []}),
        ("openebs", "v1.32.3", {"name": "community/openebs", "args": ["-j", "3"]}),
        ("openebs", "v1.22.0", {"name": "openebs", "args": ["-j", "3"]}),
        ("mayastor", "v1.32.3", {"name": "core/mayastor", "args": ["--default-pool-size", "20G"]}),
    ],
)
def test_addon_per_engine_and_version(engine, version, addon):
    assert storage_addon(engine, version, "20G" if engine == "mayastor" else "") == addon


@pytest.mark.parametrize(("engine", "version"), [("mayastor", "v1.23.0"), ("openebs", "v1.20.0")])
def test_engines_a_version_lacks_are_problems(engine, version):
    assert storage_engine_problems(engine, version) and "has no" in storage_engine_problems(engine, version)[0]


def test_a_ready_node_has_the_facts_read():
    facts = _facts()
    assert facts["hugepages_total"] == 1024 and facts["hugepage_kb"] == 2048
    assert facts["hugepages_persisted"] == 1024
    assert facts["nvme_tcp_loaded"] and facts["nvme_tcp_persisted"]
    assert facts["iscsid_installed"] and facts["iscsid_enabled"]


def test_later_sysctl_files_win_and_comments_do_not_count():
    info = _info(sysctl="vm.nr_hugepages = 1024\nvm.nr_hugepages=16\n", load="# nvme-tcp\n")
    facts = storage_node_facts(info, SYSCTL, MODULES)
    assert facts["hugepages_persisted"] == 16
    assert not facts["nvme_tcp_persisted"]


GOOD = {"node1": None, "node2": None, "node3": None}


def _cluster(bad=None, **kwargs):
    facts = {name: _facts() for name in GOOD}
    if bad:
        facts[bad] = _facts(**kwargs)
    return facts


def test_ready_nodes_pass_each_engine():
    for engine in ("mayastor", "openebs", "hostpath"):
        assert storage_node_problems(_cluster(), engine, "20G") == []


# Every bad-node case the issue names, each refused with the node and the fact in the message.
BAD_CASES = [
    ("openebs", {"open_iscsi": False}, "node2: package open-iscsi is not installed"),
    ("openebs", {"iscsid_link": False}, "node2: iscsid is not enabled"),
    ("mayastor", {"meminfo": MEMINFO.replace("1024", "512")}, "node2: HugePages_Total is 512 x 2048 kB"),
    ("mayastor", {"meminfo": MEMINFO.replace("2048 kB", "1048576 kB")}, "node2: HugePages_Total is 1024 x 1048576"),
    ("mayastor", {"sysctl": None}, "node2: vm.nr_hugepages >= 1024 is not persisted"),
    ("mayastor", {"modules": "nvme_fabrics 28672 0 - Live 0x0\n"}, "node2: kernel module nvme_tcp is not loaded"),
    ("mayastor", {"load": None}, "node2: nvme_tcp is not persisted in modules-load.d"),
    ("mayastor", {"disk": ("/dev/sdb", False, 0)}, "node2: pool disk /dev/sdb is not a block device"),
    ("mayastor", {"disk": ("/dev/sdb", True, 0o100644)}, "node2: pool disk /dev/sdb is not a block device"),
]


@pytest.mark.parametrize(("engine", "bad", "message"), BAD_CASES, ids=[c[2][7:40] for c in BAD_CASES])
def test_each_bad_node_case_is_named(engine, bad, message):
    problems = storage_node_problems(_cluster("node2", **bad), engine, "20G")
    assert any(p.startswith(message) for p in problems), problems
    assert not any(p.startswith(("node1", "node3")) for p in problems)


def test_a_block_device_pool_disk_needs_no_size():
    facts = _cluster("node2", disk=("/dev/sdb", True, 0o060660))
    problems = storage_node_problems(facts, "mayastor", "")
    assert [p for p in problems if p.startswith("node2")] == []
    assert any(p.startswith("node1: no pool") for p in problems)


def test_mayastor_needs_three_storage_nodes_and_a_size():
    facts = {"node1": _facts(), "node2": _facts()}
    assert any("at least 3 storage nodes" in p for p in storage_node_problems(facts, "mayastor", "20G"))
    assert any("is not a size" in p for p in storage_node_problems(_cluster(), "mayastor", "lots"))


def test_the_replicated_class_per_engine():
    mayastor = storage_class("mayastor", "v1.32.3", "onprem-replicated", 3)
    assert mayastor["provisioner"] == "io.openebs.csi-mayastor" and mayastor["parameters"]["repl"] == "3"
    assert mayastor["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class("openebs", "v1.32.3", "r")["provisioner"] == "jiva.csi.openebs.io"
    old = storage_class("openebs", "v1.22.0", "r", 3)
    assert old["provisioner"] == "openebs.io/provisioner-iscsi"
    assert 'value: "3"' in old["metadata"]["annotations"]["cas.openebs.io/config"]
    assert storage_class("hostpath", "v1.32.3", "r") is None
    assert storage_addon_classes("openebs", "v1.22.0") == ["openebs-hostpath", "openebs-jiva-default"]


def _sc(name, provisioner, default=False):
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "provisioner": provisioner}


def _sts(name, replicas, cls=None):
    template = {"spec": {"storageClassName": cls}} if cls else {"spec": {}}
    meta = {"name": name, "namespace": "apps"}
    return {"metadata": meta, "spec": {"replicas": replicas, "volumeClaimTemplates": [template]}}


def test_multi_replica_statefulsets_on_node_local_classes_are_found():
    classes = [_sc("microk8s-hostpath", "microk8s.io/hostpath", default=True), _sc("r", "io.openebs.csi-mayastor")]
    found = storage_multi_replica_on_node_local(
        [_sts("db", 3), _sts("one", 1), _sts("replicated", 3, "r"), _sts("pinned", 2, "microk8s-hostpath")], classes
    )
    assert found == [
        "apps/db (3 replicas, class microk8s-hostpath)",
        "apps/pinned (2 replicas, class microk8s-hostpath)",
    ]


def test_other_default_classes_are_named():
    classes = [_sc("microk8s-hostpath", "microk8s.io/hostpath", True), _sc("r", "x", True), _sc("b", "y")]
    assert storage_other_defaults(classes, "r") == ["microk8s-hostpath"]


def test_a_claim_without_a_class_needs_a_default_class_and_a_named_class_must_exist():
    # The annotation's key holds dots: it is one key, not a path (a selectattr on it found nothing, on 2026-12-01).
    classes = [_sc("mayastor", "io.openebs.csi-mayastor"), _sc("onprem-replicated", "io.openebs.csi-mayastor", True)]
    assert storage_claim_class_problem(classes) == ""
    assert storage_claim_class_problem(classes, "mayastor") == ""
    missing = "class fast does not exist (classes: mayastor, onprem-replicated)"
    assert storage_claim_class_problem(classes, "fast") == missing
    no_default = [_sc("mayastor", "io.openebs.csi-mayastor")]
    assert storage_claim_class_problem(no_default) == "the cluster has no default class (classes: mayastor)"
    assert storage_claim_class_problem([]) == "the cluster has no default class (classes: none)"


def _pod(name, node, ready=True, deleting=False, phase="Running", claim="writer-data"):
    meta = {"name": name, **({"deletionTimestamp": "2026-11-30T22:00:00Z"} if deleting else {})}
    return {
        "metadata": meta,
        "spec": {"nodeName": node, "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_ready_pods_elsewhere_skip_the_cut_node_terminating_and_unready_pods():
    pods = [
        _pod("old", "node1"),
        _pod("gone", "node2", deleting=True),
        _pod("starting", "node2", ready=False),
        _pod("new", "node3"),
    ]
    assert [p["metadata"]["name"] for p in storage_ready_pods_elsewhere(pods, "node1")] == ["new"]
    assert [p["metadata"]["name"] for p in storage_ready_pods_elsewhere(pods, "")] == ["old", "new"]


def test_claim_users_are_running_pods_mounting_it():
    pods = [_pod("a", "node1"), _pod("b", "node2", claim="other"), _pod("c", "node3", phase="Pending")]
    assert [p["metadata"]["name"] for p in storage_claim_users(pods, "writer-data")] == ["a"]


def test_a_node_local_volume_names_its_node():
    pinned = {
        "spec": {
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node2"]}]}
                    ]
                }
            }
        }
    }
    assert storage_volume_nodes([pinned]) == ["node2"]
    assert storage_volume_nodes([{"spec": {"csi": {"driver": "io.openebs.csi-mayastor"}}}]) == []


# storage_mayastor_skip_checks: the addon's own flags, and the matching refusals turned into named warnings.
@pytest.mark.parametrize(
    ("skip", "flags"),
    [
        ([], []),
        (["hugepages"], ["--skip-hugepages-check"]),
        (["kernel"], ["--skip-kernel-check"]),
        (["kernel", "hugepages"], ["--skip-hugepages-check", "--skip-kernel-check"]),
    ],
)
def test_mayastor_skip_checks_pass_the_addons_own_flags(skip, flags):
    addon = storage_addon("mayastor", "v1.32.3", "2G", 3, skip)
    assert addon == {"name": "core/mayastor", "args": ["--default-pool-size", "2G", *flags]}
    assert storage_addon("openebs", "v1.32.3", "", 3, skip)["args"] == ["-j", "3"]  # mayastor only


# A lab node as the lab's kernel leaves it: no HugePages, no nvme_tcp, nothing persisted.
LAB_NODE = {"meminfo": "MemTotal: 8041232 kB\nHugePages_Total: 0\nHugepagesize: 2048 kB\n", "modules": "",
            "sysctl": None, "load": None}  # fmt: skip
HUGEPAGES = ("HugePages_Total is 0", "vm.nr_hugepages >= 1024 is not persisted")
KERNEL = ("kernel module nvme_tcp is not loaded", "nvme_tcp is not persisted in modules-load.d")


@pytest.mark.parametrize(
    ("skip", "refused", "warned"),
    [
        ([], HUGEPAGES + KERNEL, ()),
        (["hugepages"], KERNEL, HUGEPAGES),
        (["kernel"], HUGEPAGES, KERNEL),
        (["hugepages", "kernel"], (), HUGEPAGES + KERNEL),
    ],
)
def test_skipped_checks_warn_instead_of_refusing_naming_node_and_fact(skip, refused, warned):
    facts = _cluster("node2", **LAB_NODE)
    problems = storage_node_problems(facts, "mayastor", "2G", skip_checks=skip)
    warnings = storage_node_warnings(facts, "mayastor", skip)
    assert len(problems) == len(refused), problems
    for fact in refused:
        assert [p for p in problems if p.startswith("node2: " + fact)], (fact, problems)
    assert len(warnings) == len(warned)
    for fact in warned:
        (warning,) = [w for w in warnings if w.startswith("node2: " + fact)]
        check = "hugepages" if fact in HUGEPAGES else "kernel"
        assert "storage_mayastor_skip_checks has %s" % check in warning and "--skip-%s-check" % check in warning
    assert not any(w.startswith(("node1", "node3")) for w in warnings)


def test_skip_checks_leave_the_other_refusals_and_reject_unknown_checks():
    facts = {"node1": _facts(**LAB_NODE), "node2": _facts(**LAB_NODE)}
    problems = storage_node_problems(facts, "mayastor", "", skip_checks=["hugepages", "kernel", "iscsi"])
    assert "node1: no pool: set storage_pool_disk for the node or storage_mayastor_pool_size" in problems
    assert any(p.startswith("mayastor needs at least 3 storage nodes") for p in problems)
    assert "storage_mayastor_skip_checks: unknown iscsi (known: hugepages, kernel)" in problems
    assert storage_node_warnings(facts, "openebs", ["hugepages", "kernel"]) == []  # mayastor's checks only
    assert storage_node_problems(_cluster(), "mayastor", "20G", skip_checks=["kernel"]) == []


def test_node_settings_come_from_the_host_or_the_role():
    assert storage_node_settings({}, "", ["/a"], ["/b"]) == {
        "pool_disk": "",
        "sysctl_files": ["/a"],
        "modules_files": ["/b"],
    }
    own = {"storage_pool_disk": "/dev/sdb", "storage_sysctl_files": ["/c"], "storage_modules_files": None}
    assert storage_node_settings(own, "", ["/a"], ["/b"]) == {
        "pool_disk": "/dev/sdb", "sysctl_files": ["/c"], "modules_files": ["/b"]}  # fmt: skip
    settings = {
        "node1": storage_node_settings({}, "", SYSCTL, MODULES),
        "node2": storage_node_settings(own, "", SYSCTL, MODULES),
    }
    facts = storage_nodes_facts(
        {"node1": _info(), "node2": _info(disk=("/dev/sdb", True, 0o060660))}, ["node1", "node2"], settings
    )
    assert facts["node1"]["pool_disk"] == "" and facts["node2"]["pool_disk_ok"] is True
    assert facts["node2"]["hugepages_persisted"] == 0  # node2 reads its own /c, which the read did not return


def _class_as_stored(engine="mayastor", **changes):
    cls = storage_class(engine, "v1.32.3", "onprem-replicated", 3)
    cls["metadata"].update(uid="u1", resourceVersion="7", creationTimestamp="2026-12-01T05:00:00Z")
    cls.update(changes)
    return cls


def _writer(inputs="h1", ready=1, generation=2, observed=2):
    return {"metadata": {"name": "writer", "generation": generation, "annotations": {DEMO_ANNOTATION: inputs}},
            "status": {"observedGeneration": observed, "readyReplicas": ready}}  # fmt: skip


MAYASTOR_CLASSES = [_sc("mayastor", "io.openebs.csi-mayastor"), _sc("mayastor-3", "io.openebs.csi-mayastor"),
                    _sc("microk8s-hostpath", "microk8s.io/hostpath")]  # fmt: skip


def _pending(classes, addons=("core/dns", "core/mayastor"), demo="h1", writer=None, **kwargs):
    writers = [writer] if writer is not None else [_writer()]
    return storage_pending("mayastor", "v1.32.3", list(addons), classes, "onprem-replicated", 3, True, demo, writers,
                           **kwargs)  # fmt: skip


def test_nothing_is_pending_when_the_cluster_is_as_asked():
    assert _pending([*MAYASTOR_CLASSES, _class_as_stored()]) == []
    assert _pending([*MAYASTOR_CLASSES, _class_as_stored()], demo=None, writer={}) == []  # demo off: not read


@pytest.mark.parametrize(
    ("case", "kwargs", "pending"),
    [
        ("addon off", {"addons": ("core/dns",)}, ["addon"]),
        ("class missing", {"classes": MAYASTOR_CLASSES}, ["class"]),
        ("2 replicas", {"classes": [*MAYASTOR_CLASSES, _class_as_stored(parameters={"repl": "2"})]}, ["class"]),
        ("addon class gone", {"classes": [*MAYASTOR_CLASSES[2:], _class_as_stored()]}, ["addon classes"]),
        (
            "another default",
            {
                "classes": [
                    _sc("mayastor", "x"),
                    _sc("mayastor-3", "x"),
                    _sc("microk8s-hostpath", "microk8s.io/hostpath", True),
                    _class_as_stored(),
                ]
            },
            ["other default classes"],
        ),
        ("demo inputs changed", {"demo": "h2"}, ["demo"]),
        ("writer missing", {"writer": {}}, ["demo"]),
        ("writer not ready", {"writer": _writer(ready=0)}, ["demo"]),
        ("writer rolling", {"writer": _writer(generation=3)}, ["demo"]),
        ("pool disks", {"pool_disks": 2}, ["disk pools"]),
    ],
)
def test_what_is_pending_is_named(case, kwargs, pending):
    kwargs.setdefault("classes", [*MAYASTOR_CLASSES, _class_as_stored()])
    assert _pending(**kwargs) == pending, case


def test_hostpath_is_pending_until_its_class_is_the_only_default():
    hostpath = [_sc("microk8s-hostpath", "microk8s.io/hostpath")]
    args = ("hostpath", "v1.32.3", ["core/hostpath-storage"])
    assert storage_pending(*args, hostpath, "onprem-replicated") == ["default class"]
    assert storage_pending(*args, [_sc("microk8s-hostpath", "microk8s.io/hostpath", True)], "onprem-replicated") == []
    assert storage_pending("hostpath", "v1.23.1", ["storage"], hostpath, "r", default=False) == []
    assert storage_pending("hostpath", "v1.23.1", [], hostpath, "r", default=False) == ["addon"]
