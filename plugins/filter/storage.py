# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of the storage role: the engine per MicroK8s version, the addon that provides it, the per-node facts
its preflight reads (one node_info answer per node) and the problems found in them, the replicated default class,
and the hostpath guard (StatefulSets with more than one replica whose claims would land on hostpath volumes).

Engines: `mayastor` (core addon, MicroK8s 1.24+, NVMe-oF, replicated), `openebs` (Jiva, replicated over iSCSI: the
built-in addon 1.21-1.23, `community/openebs` 1.24+), `hostpath` (one node's directory: `storage` before 1.24,
`hostpath-storage` after).
"""

from __future__ import annotations

import re

ENGINES = ("mayastor", "openebs", "hostpath")
# Provisioners whose volumes live on one node's disk: a claim of such a class pins its pod to that node.
NODE_LOCAL_PROVISIONERS = ("microk8s.io/hostpath", "openebs.io/local", "rancher.io/local-path")
HUGEPAGES_MIN = 1024
HUGEPAGE_KB = 2048
MAYASTOR_NODES_MIN = 3
# The unit file link `systemctl enable iscsid` makes (WantedBy=multi-user.target): the addon greps
# `systemctl is-enabled iscsid` for `enabled`, so `static` or socket activation alone do not count.
ISCSID_WANTS = "/etc/systemd/system/multi-user.target.wants/iscsid.service"
_SIZE = re.compile(r"^[1-9][0-9]*(?:[KMGT]i?)?$")
# The mayastor addon's own preflight checks a user may skip (storage_mayastor_skip_checks), each with the enable
# script's flag (canonical/microk8s-core-addons addons/mayastor/enable, every version 1.24+).
SKIP_CHECKS = {"hugepages": "--skip-hugepages-check", "kernel": "--skip-kernel-check"}
DEMO_ANNOTATION = "onprem.microk8s/demo-inputs"


def _minor(version):
    """'v1.32.3' / '1.32/stable' / '1.32' -> 32 (None when unparsable)."""
    match = re.search(r"1\.(\d+)", str(version or ""))
    return int(match.group(1)) if match else None


def storage_default_engine(version):
    """The engine a MicroK8s version offers best: mayastor from 1.24, Jiva (openebs) 1.21-1.23, hostpath before."""
    minor = _minor(version)
    if minor is None:
        raise ValueError("cannot read a MicroK8s version from %r" % (version,))
    return "mayastor" if minor >= 24 else "openebs" if minor >= 21 else "hostpath"


def storage_addon(engine, version, pool_size="", replicas=3, skip_checks=()):
    """{name, args} of the microk8s_addon call that enables `engine` on `version` (ValueError if it has none).
    `skip_checks` (mayastor only): the addon's own checks to skip, names of SKIP_CHECKS."""
    minor = _minor(version)
    if engine not in ENGINES or minor is None:
        raise ValueError("unknown engine %r or version %r" % (engine, version))
    if engine == "hostpath":
        return {"name": "hostpath-storage" if minor >= 24 else "storage", "args": []}
    if engine == "openebs":
        if minor < 21:
            raise ValueError("MicroK8s 1.%d has no openebs addon (1.21+)" % minor)
        return {"name": "community/openebs" if minor >= 24 else "openebs", "args": ["-j", str(replicas)]}
    if minor < 24:
        raise ValueError("MicroK8s 1.%d has no mayastor addon (core addon from 1.24)" % minor)
    args = ["--default-pool-size", pool_size] if pool_size else []
    return {"name": "core/mayastor", "args": args + [SKIP_CHECKS[c] for c in sorted(SKIP_CHECKS) if c in skip_checks]}


def storage_engine_problems(engine, version):
    """Why `engine` cannot run on `version` (empty list when it can)."""
    try:
        storage_addon(engine, version)
    except ValueError as exc:
        return [str(exc)]
    return []


def _meminfo(text):
    values = {}
    for line in (text or "").splitlines():
        key, _sep, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[key.strip()] = int(fields[0])
    return values


def _sysctl_value(texts, key):
    """The last value of `key` across sysctl files in the order given (later files win, as systemd-sysctl does)."""
    value = None
    for text in texts:
        for line in (text or "").splitlines():
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            name, sep, rest = line.partition("=")
            if sep and name.strip().replace("/", ".") == key:
                value = rest.strip()
    return value


def _modules_listed(texts):
    names = set()
    for text in texts:
        for line in (text or "").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(line.split()[0].replace("-", "_"))
    return names


def storage_node_facts(info, sysctl_files=(), modules_files=(), pool_disk=""):
    """One node_info answer -> the facts the preflight judges.

    `info` has `files` (with /proc/meminfo, /proc/modules, the sysctl and modules-load files, the iscsid link and
    the pool disk), `packages` (open-iscsi) and `services` (iscsid)."""
    files = info.get("files") or {}

    def content(path):
        entry = files.get(path) or {}
        return entry.get("content") if entry.get("exists") else None

    meminfo = _meminfo(content("/proc/meminfo"))
    persisted = _sysctl_value([content(p) for p in sysctl_files], "vm.nr_hugepages")
    loaded = {line.split()[0] for line in (content("/proc/modules") or "").splitlines() if line.split()}
    disk = files.get(pool_disk) or {} if pool_disk else {}
    mode = disk.get("mode") or 0
    return {
        "iscsid_installed": bool((info.get("packages") or {}).get("open-iscsi")),
        "iscsid_enabled": bool((files.get(ISCSID_WANTS) or {}).get("exists")),
        "iscsid_active": bool(((info.get("services") or {}).get("iscsid") or {}).get("active")),
        "hugepages_total": meminfo.get("HugePages_Total", 0),
        "hugepage_kb": meminfo.get("Hugepagesize", 0),
        "hugepages_persisted": int(persisted) if persisted and persisted.isdigit() else 0,
        "nvme_tcp_loaded": "nvme_tcp" in loaded,
        "nvme_tcp_persisted": "nvme_tcp" in _modules_listed([content(p) for p in modules_files]),
        "pool_disk": pool_disk,
        "pool_disk_ok": bool(pool_disk) and bool(disk.get("exists")) and (mode & 0o170000) == 0o060000,
    }


def _mayastor_node_findings(node, fact, pool_size):
    """(check, message) of one node for mayastor; check is the SKIP_CHECKS name that covers it, or None."""
    found = []
    if fact["hugepage_kb"] not in (0, HUGEPAGE_KB) or fact["hugepages_total"] < HUGEPAGES_MIN:
        found.append((
            "hugepages",
            "%s: HugePages_Total is %d x %d kB in /proc/meminfo, mayastor needs >= %d x 2 MiB "
            "(sysctl vm.nr_hugepages=%d)"
            % (node, fact["hugepages_total"], fact["hugepage_kb"], HUGEPAGES_MIN, HUGEPAGES_MIN),
        ))  # fmt: skip
    if fact["hugepages_persisted"] < HUGEPAGES_MIN:
        found.append((
            "hugepages",
            "%s: vm.nr_hugepages >= %d is not persisted in sysctl.d (echo vm.nr_hugepages = %d > "
            "/etc/sysctl.d/20-microk8s-hugepages.conf); it would be lost at the next boot"
            % (node, HUGEPAGES_MIN, HUGEPAGES_MIN),
        ))  # fmt: skip
    if not fact["nvme_tcp_loaded"]:
        found.append(("kernel", "%s: kernel module nvme_tcp is not loaded (/proc/modules): modprobe nvme_tcp" % node))
    if not fact["nvme_tcp_persisted"]:
        found.append((
            "kernel",
            "%s: nvme_tcp is not persisted in modules-load.d (echo nvme-tcp > "
            "/etc/modules-load.d/microk8s-mayastor.conf)" % node,
        ))  # fmt: skip
    if fact["pool_disk"] and not fact["pool_disk_ok"]:
        found.append((None, "%s: pool disk %s is not a block device on the node" % (node, fact["pool_disk"])))
    elif not fact["pool_disk"] and not pool_size:
        found.append((None, "%s: no pool: set storage_pool_disk for the node or storage_mayastor_pool_size" % node))
    return found


def storage_node_settings(host_vars, pool_disk="", sysctl_files=(), modules_files=()):
    """One host's preflight settings from its host variables (`host_vars`: hostvars[node]), the role's values where
    the host sets none: {pool_disk, sysctl_files, modules_files}."""

    def value(name, default):
        return host_vars[name] if name in host_vars and host_vars[name] is not None else default

    return {
        "pool_disk": value("storage_pool_disk", pool_disk) or "",
        "sysctl_files": list(value("storage_sysctl_files", sysctl_files)),
        "modules_files": list(value("storage_modules_files", modules_files)),
    }


def storage_nodes_facts(reads, nodes, settings):
    """{node: storage_node_facts} of each node in `nodes` from `reads` ({host: node_info answer}) and `settings`
    ({host: storage_node_settings})."""
    return {
        node: storage_node_facts(
            reads[node], settings[node]["sysctl_files"], settings[node]["modules_files"], settings[node]["pool_disk"]
        )
        for node in nodes
    }


def storage_node_problems(facts, engine, pool_size="", minimum_nodes=MAYASTOR_NODES_MIN, skip_checks=()):
    """Problems of the storage nodes for `engine`: `facts` is {node: storage_node_facts}. Each message names the
    node and the fact, and says what to do. `skip_checks` (mayastor): the checks the user accepts the risk of
    (SKIP_CHECKS names); their findings are storage_node_warnings instead."""
    problems = []
    for node in sorted(facts):
        fact = facts[node]
        if engine == "openebs":
            if not fact["iscsid_installed"]:
                problems.append("%s: package open-iscsi is not installed (apt install open-iscsi)" % node)
            if not fact["iscsid_enabled"]:
                problems.append(
                    "%s: iscsid is not enabled (systemctl is-enabled iscsid must print 'enabled': "
                    "systemctl enable --now iscsid); without it the openebs addon exits 0 and installs nothing" % node
                )
        elif engine == "mayastor":
            problems.extend(
                m for check, m in _mayastor_node_findings(node, fact, pool_size) if check not in skip_checks
            )
    if engine == "mayastor" and len(facts) < minimum_nodes:
        problems.append(
            "mayastor needs at least %d storage nodes for 3 replicas, the inventory has %d (%s)"
            % (minimum_nodes, len(facts), ", ".join(sorted(facts)) or "none")
        )
    if pool_size and not _SIZE.match(str(pool_size)):
        problems.append("storage_mayastor_pool_size %r is not a size such as 20G" % (pool_size,))
    unknown = sorted(set(skip_checks) - set(SKIP_CHECKS))
    if unknown:
        problems.append(
            "storage_mayastor_skip_checks: unknown %s (known: %s)"
            % (", ".join(unknown), ", ".join(sorted(SKIP_CHECKS)))
        )
    return problems


def storage_node_warnings(facts, engine, skip_checks=()):
    """The findings storage_node_problems let through because the user skips their check (mayastor only): each
    names the node, the fact and the addon flag that will skip MicroK8s' own check."""
    if engine != "mayastor":
        return []
    warnings = []
    for node in sorted(facts):
        for check, message in _mayastor_node_findings(node, facts[node], "-"):
            if check in skip_checks and check in SKIP_CHECKS:
                warnings.append(
                    "%s [accepted: storage_mayastor_skip_checks has %s, the addon runs with %s]"
                    % (message, check, SKIP_CHECKS[check])
                )
    return warnings


def storage_pending(engine, version, enabled_addons, classes, class_name, replicas=3, default=True, demo=None,
                    deployments=(), pool_disks=0):  # fmt: skip
    """What the role still has to do after its reads, by name; empty: the cluster is as asked and the role's
    enabling, checking and demo steps are skipped. `enabled_addons`: microk8s status's names (`core/mayastor` or
    `storage`); `classes`: the StorageClass objects; `demo`: the demo's inputs annotation when the demo is on (None:
    off); `deployments`: the demo's writer Deployment, when it exists; `pool_disks`: how many storage nodes have a
    pool disk (their DiskPools are applied on every run)."""
    pending = ["disk pools"] if engine == "mayastor" and pool_disks else []
    enabled = {str(a).rsplit("/", 1)[-1] for a in enabled_addons or []}
    if storage_addon(engine, version)["name"].rsplit("/", 1)[-1] not in enabled:
        pending.append("addon")
    by_name = {c["metadata"]["name"]: c for c in classes or []}
    if set(storage_addon_classes(engine, version)) - set(by_name):
        pending.append("addon classes")
    wanted = storage_class(engine, version, class_name, replicas, default)
    keep = class_name if wanted else "microk8s-hostpath"
    if wanted:
        have = by_name.get(class_name) or {}
        meta = have.get("metadata") or {}
        same = all(have.get(k) == wanted[k] for k in wanted if k not in ("metadata", "apiVersion", "kind"))
        same = same and all(
            (meta.get(part) or {}).get(k) == v
            for part in ("annotations", "labels")
            for k, v in wanted["metadata"][part].items()
        )
        if not same:
            pending.append("class")
    elif default and not _is_default(by_name.get(keep) or {}):
        pending.append("default class")
    if default and storage_other_defaults(list(by_name.values()), keep):
        pending.append("other default classes")
    if demo is not None:
        writer = next(iter(deployments or []), None) or {}
        annotations = (writer.get("metadata") or {}).get("annotations") or {}
        status = writer.get("status") or {}
        current = status.get("observedGeneration") == (writer.get("metadata") or {}).get("generation")
        if annotations.get(DEMO_ANNOTATION) != demo or not current or (status.get("readyReplicas") or 0) < 1:
            pending.append("demo")
    return pending


def storage_class(engine, version, name, replicas=3, default=True, pool_disk_nodes=()):
    """The replicated default StorageClass the role writes for `engine` (hostpath: none, the addon's own class is
    marked default)."""
    minor = _minor(version) or 0
    annotations = {"storageclass.kubernetes.io/is-default-class": "true" if default else "false"}
    body = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations, "labels": {"app.kubernetes.io/managed-by": "onprem"}},
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
    }
    if engine == "mayastor":
        body.update(
            provisioner="io.openebs.csi-mayastor",
            volumeBindingMode="WaitForFirstConsumer",
            parameters={"repl": str(replicas), "protocol": "nvmf", "ioTimeout": "60", "fsType": "ext4"},
        )
    elif engine == "openebs" and minor >= 24:
        # The jiva chart's default policy (openebs-jiva-default-policy) holds replicationFactor 3.
        body.update(
            provisioner="jiva.csi.openebs.io",
            volumeBindingMode="Immediate",
            parameters={"cas-type": "jiva", "policy": "openebs-jiva-default-policy"},
        )
    elif engine == "openebs":
        annotations["cas.openebs.io/config"] = '- name: ReplicaCount\n  value: "%d"\n' % replicas
        annotations["openebs.io/cas-type"] = "jiva"
        body.update(provisioner="openebs.io/provisioner-iscsi", volumeBindingMode="Immediate")
    else:
        return None
    return body


def storage_addon_classes(engine, version):
    """Names of the classes the engine's addon itself creates (checked after enabling)."""
    minor = _minor(version) or 0
    if engine == "mayastor":
        return ["mayastor", "mayastor-3"]
    if engine == "openebs":
        return ["openebs-hostpath", "openebs-jiva-csi-default" if minor >= 24 else "openebs-jiva-default"]
    return ["microk8s-hostpath"]


def _is_default(cls):
    annotations = (cls.get("metadata") or {}).get("annotations") or {}
    return annotations.get("storageclass.kubernetes.io/is-default-class") == "true"


def storage_other_defaults(classes, keep):
    """Names of the classes marked default other than `keep` (Kubernetes picks the newest when several are)."""
    return sorted(c["metadata"]["name"] for c in classes if _is_default(c) and c["metadata"]["name"] != keep)


def storage_claim_class_problem(classes, wanted=""):
    """Why a claim naming `wanted` (empty: no class, so the default one) could not be provisioned by the classes
    found, or "" when it can. `classes`: StorageClass objects."""
    names = sorted(c["metadata"]["name"] for c in classes)
    if wanted:
        return "" if wanted in names else "class %s does not exist (classes: %s)" % (wanted, ", ".join(names) or "none")
    if any(_is_default(c) for c in classes):
        return ""
    return "the cluster has no default class (classes: %s)" % (", ".join(names) or "none")


def storage_multi_replica_on_node_local(statefulsets, classes):
    """'ns/name (N replicas, class C)' of each StatefulSet with more than one replica whose claim templates use a
    node-local class (the default class when a template names none). `classes`: StorageClass objects."""
    by_name = {c["metadata"]["name"]: c.get("provisioner", "") for c in classes}
    default = next((c["metadata"]["name"] for c in classes if _is_default(c)), None)
    found = []
    for sts in statefulsets:
        spec = sts.get("spec") or {}
        replicas = spec.get("replicas", 1)
        if replicas is None or replicas <= 1:
            continue
        for template in spec.get("volumeClaimTemplates") or []:
            tspec = template.get("spec") or {}
            cls = tspec.get("storageClassName", default)
            if cls and by_name.get(cls) in NODE_LOCAL_PROVISIONERS:
                found.append(
                    "%s/%s (%d replicas, class %s)"
                    % (sts["metadata"].get("namespace", "default"), sts["metadata"]["name"], replicas, cls)
                )
                break
    return found


def storage_ready_pods_elsewhere(pods, node):
    """The pods Ready (condition Ready True), not being deleted, on another node than `node`."""
    ready = []
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp") or (pod.get("spec") or {}).get("nodeName") == node:
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready.append(pod)
    return ready


def storage_claim_users(pods, claim):
    """The Running pods that mount the claim `claim`."""
    return [
        pod
        for pod in pods
        if (pod.get("status") or {}).get("phase") == "Running"
        and any(
            (v.get("persistentVolumeClaim") or {}).get("claimName") == claim
            for v in (pod.get("spec") or {}).get("volumes") or []
        )
    ]


def storage_volume_nodes(volumes):
    """The nodes a volume's required node affinity names (a node-local volume's one node); empty when none."""
    nodes = []
    for volume in volumes:
        required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
        for term in required.get("nodeSelectorTerms") or []:
            for expression in term.get("matchExpressions") or []:
                if expression.get("key") == "kubernetes.io/hostname" and expression.get("operator") == "In":
                    nodes.extend(expression.get("values") or [])
    return nodes


class FilterModule:
    def filters(self):
        return {
            "storage_default_engine": storage_default_engine,
            "storage_addon": storage_addon,
            "storage_engine_problems": storage_engine_problems,
            "storage_node_facts": storage_node_facts,
            "storage_node_settings": storage_node_settings,
            "storage_nodes_facts": storage_nodes_facts,
            "storage_node_problems": storage_node_problems,
            "storage_node_warnings": storage_node_warnings,
            "storage_pending": storage_pending,
            "storage_class": storage_class,
            "storage_addon_classes": storage_addon_classes,
            "storage_multi_replica_on_node_local": storage_multi_replica_on_node_local,
            "storage_other_defaults": storage_other_defaults,
            "storage_claim_class_problem": storage_claim_class_problem,
            "storage_ready_pods_elsewhere": storage_ready_pods_elsewhere,
            "storage_claim_users": storage_claim_users,
            "storage_volume_nodes": storage_volume_nodes,
        }
