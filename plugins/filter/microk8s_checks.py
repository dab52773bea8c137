# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure checks of MicroK8s settings and of what a node reported (the node_info module), run in preflight before
anything changes. Facts follow shared/docs/microk8s-cli-contract.md."""

from __future__ import annotations

import re
import stat

#: The MicroK8s tracks this collection knows (1.20 to 1.36).
FIRST_MINOR = 20
LAST_MINOR = 36
_CHANNEL = re.compile(
    r"^1\.(?P<minor>\d+)(?P<strict>-strict)?/(?P<risk>stable|candidate|beta|edge)(?P<branch>/[a-z0-9][a-z0-9-]*)?$"
)
ARCHITECTURES = ("x86_64", "aarch64", "s390x", "ppc64le")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_OLD = {"dns", "rbac", "dashboard", "ingress", "storage", "registry", "metrics-server", "istio", "knative", "gpu"}
_OLD |= {"prometheus", "fluentd", "jaeger", "linkerd", "cilium", "multus", "helm", "helm3", "kubeflow", "metallb"}
_OLD |= {"host-access", "ambassador", "ha-cluster", "portainer", "traefik", "keda"}
#: Built-in addons of 1.20-1.23 (microk8s-resources/wrappers/addon-lists.yaml of each release branch).
_21 = _OLD | {"openfaas", "openebs"}
BUILT_IN = {20: _OLD, 21: _21, 22: _21 | {"kata"}, 23: _21 | {"kata", "dashboard-ingress", "inaccel"}}

#: 1.24+: name -> (first minor, last minor) in canonical/microk8s-core-addons (branches 1.24-1.35, main = 1.36).
CORE = {
    name: (24, 36)
    for name in [
        "community",
        "dns",
        "gpu",
        "ha-cluster",
        "helm",
        "helm3",
        "host-access",
        "hostpath-storage",
        "ingress",
        "mayastor",
        "metallb",
        "metrics-server",
        "prometheus",
        "rbac",
        "registry",
        "storage",
    ]
}
CORE.update({"dashboard": (24, 35), "cert-manager": (25, 36), "kube-ovn": (25, 36), "observability": (25, 36)})
CORE.update({"minio": (26, 36), "cis-hardening": (28, 36), "rook-ceph": (28, 36), "nvidia": (29, 36)})

#: 1.24+: name -> (first, last) in canonical/microk8s-community-addons (branches 1.24-1.35, main = 1.36).
COMMUNITY = {
    name: (24, 36)
    for name in [
        "argocd",
        "cilium",
        "dashboard-ingress",
        "fluentd",
        "inaccel",
        "istio",
        "jaeger",
        "kata",
        "keda",
        "knative",
        "linkerd",
        "multus",
        "openebs",
        "openfaas",
        "portainer",
        "traefik",
    ]
}
COMMUNITY.update({"starboard": (24, 25), "nfs": (25, 36), "osm-edge": (25, 36), "gopaddle-lite": (26, 27)})
COMMUNITY.update({"kwasm": (26, 36), "ondat": (26, 28), "sosivio": (26, 36), "trivy": (26, 36)})
COMMUNITY.update({"easyhaproxy": (27, 36), "parking": (27, 36), "shifu": (27, 36), "gopaddle": (28, 36)})
COMMUNITY.update({"kubearmor": (28, 36), "microcks": (28, 36), "cloudnative-pg": (29, 36), "falco": (29, 36)})
COMMUNITY.update({"ngrok": (29, 36), "stunner": (30, 36), "sriov-device-plugin": (31, 36), "amd": (34, 36)})
COMMUNITY.update({"forgejo": (35, 36)})


def channel_minor(channel):
    """28 for `1.28/stable` or `1.28-strict/edge`; None when channel is not a MicroK8s track/risk."""
    match = _CHANNEL.match(str(channel or "").strip())
    return int(match.group("minor")) if match else None


def channel_problems(channel, variable="microk8s_node_channel"):
    """Problems with a snap channel (given as `variable`): not `1.xx/risk` (or `1.xx-strict/risk`), or a track this
    collection does not know."""
    match = _CHANNEL.match(str(channel or "").strip())
    if not match:
        return [
            "%s %r is not a MicroK8s channel: write the full TRACK/RISK, e.g. 1.32/stable or "
            "1.32-strict/stable (risk: stable, candidate, beta or edge)" % (variable, channel)
        ]
    minor = int(match.group("minor"))
    if not FIRST_MINOR <= minor <= LAST_MINOR:
        return ["%s %s: this collection knows MicroK8s 1.%d to 1.%d" % (variable, channel, FIRST_MINOR, LAST_MINOR)]
    return []


def offline_install_problems(files, missing=(), allow_dangerous=False, prefix="microk8s_node_"):
    """Problems with the files of an offline install, named by their variables (`prefix` + snap_file, assert_file,
    base_snap_file, base_assert_file, allow_dangerous): files missing on the controller (`missing`, found by the
    caller), and a .snap without its .assert unless --dangerous was opted into."""
    problems = ["%s does not exist on the controller" % path for path in missing or []]
    unasserted = [
        files[snap]
        for snap, signature in (("snap_file", "assert_file"), ("base_snap_file", "base_assert_file"))
        if files.get(snap) and not files.get(signature)
    ]
    if unasserted and not _truthy(allow_dangerous):
        problems.append(
            "no .assert file for %s: snapd would install it with --dangerous (no signature check, never refreshed). "
            "Give %sassert_file / %sbase_assert_file (from snap download), or set %sallow_dangerous=true if you "
            "trust the file" % (", ".join(unasserted), prefix, prefix, prefix)
        )
    return problems


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _known(table, name, minor):
    first, last = table.get(name, (0, -1))
    return first <= minor <= last


def addon_problems(addons, channel):
    """Problems with addon entries ({name, state, args} or names) for the MicroK8s of channel: not a known addon
    of that version, `repo/name` before 1.24, an unknown repository, or arguments written into the name."""
    minor = channel_minor(channel)
    if minor is None:
        return []  # channel_problems reports the channel itself
    problems = []
    for entry in addons or []:
        name = str(entry.get("name", "") if isinstance(entry, dict) else entry).strip()
        repo, _slash, bare = name.rpartition("/")
        if ":" in name or " " in name:
            problems.append("addon %r: give arguments in args (a list), not in the name" % name)
        elif not _NAME.match(bare) or (repo and not _NAME.match(repo)):
            problems.append("addon %r is not an addon name (NAME or REPOSITORY/NAME, lower case)" % name)
        elif minor < 24:
            if repo:
                problems.append(
                    "addon %s: MicroK8s 1.%d has no addon repositories (1.24+); write %s" % (name, minor, bare)
                )
            elif bare not in BUILT_IN.get(minor, ()):
                problems.append("addon %s is not a MicroK8s 1.%d addon" % (name, minor))
        elif repo not in ("", "core", "community"):
            problems.append(
                "addon %s: repository %s is not one MicroK8s ships (core, community); this collection adds no "
                "repositories" % (name, repo)
            )
        elif repo == "community":
            if not _known(COMMUNITY, bare, minor):
                problems.append("addon %s is not in the community repository of MicroK8s 1.%d" % (name, minor))
        elif not _known(CORE, bare, minor):
            hint = " (it is community/%s)" % bare if _known(COMMUNITY, bare, minor) and not repo else ""
            problems.append("addon %s is not a core addon of MicroK8s 1.%d%s" % (name, minor, hint))
    return problems


def staging_dir_problems(entries, path):
    """Problems with the staging directory and its parents, from node_info's `staging` list (the directory first,
    then each parent up to /): anything but root-owned, not group/world-writable, real directories is refused,
    because whoever can write there can swap a staged .snap or image archive (installed as root)."""
    problems = []
    if not str(path or "").startswith("/"):
        return ["onprem_staging_dir %r is not an absolute path" % (path,)]
    for entry in entries or []:
        if not entry.get("exists"):
            continue
        mode = int(entry.get("mode", 0))
        where = (
            "the staging directory %s" % entry["path"]
            if entry["path"] == path
            else "%s (a parent of %s)"
            % (
                entry["path"],
                path,
            )
        )
        if stat.S_ISLNK(mode):
            problems.append("%s is a symbolic link: use a real directory" % where)
        elif not stat.S_ISDIR(mode):
            problems.append("%s is not a directory" % where)
        if entry.get("uid") != 0:
            problems.append("%s belongs to uid %s, not root" % (where, entry.get("uid")))
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            problems.append("%s is writable by group or others (mode %04o)" % (where, stat.S_IMODE(mode)))
    if problems:
        problems.append(
            "nothing was installed: remove or fix it (root-owned, mode 0700, parents root-owned and not "
            "group/world-writable), or choose another onprem_staging_dir"
        )
    return problems


def node_problems(info, checks):
    """What stops this node before any change, from the node_info result and the role's settings (checks:
    channel, offline, min_memory_mb, max_clock_skew, controller_clock, staging_dir, resolve (name -> expected
    address; empty when /etc/hosts is to be written first))."""
    problems = []
    host = checks.get("host", "this node")
    system, machine = checks.get("system", "Linux"), checks.get("architecture", "x86_64")
    if system != "Linux" or machine not in ARCHITECTURES:
        problems.append(
            "%s cannot run MicroK8s: %s on %s (need Linux on %s)" % (host, system, machine, "/".join(ARCHITECTURES))
        )
    if not info.get("snapd"):
        problems.append("%s has no snapd (snap command): install snapd first (apt install snapd)" % host)
    memory = int(info.get("memory_mb") or 0)
    if memory < int(checks.get("min_memory_mb", 0)):
        problems.append(
            "%s has %d MB of memory, MicroK8s needs at least %s MB" % (host, memory, checks["min_memory_mb"])
        )
    skew = float(info.get("clock", 0)) - float(checks.get("controller_clock", 0))
    if abs(skew) > float(checks.get("max_clock_skew", 30)):
        problems.append(
            "%s's clock is %d s off the controller's (limit %s s): certificates and tokens need synchronised clocks. "
            "Enable NTP (timedatectl set-ntp true) and re-run" % (host, skew, checks.get("max_clock_skew"))
        )
    problems += ["%s: %s" % (host, p) for p in staging_dir_problems(info.get("staging"), checks.get("staging_dir"))]
    installed = (info.get("snaps") or {}).get("microk8s")
    if installed:
        problems += _channel_change(host, installed, checks)
    problems += resolution_problems(info.get("resolved"), checks.get("resolve"), host)
    return problems


def resolution_problems(resolved, expected, host="this node"):
    """Names that this node resolves to another address than the node's (or not at all)."""
    problems = []
    for name, address in sorted((expected or {}).items()):
        found = (resolved or {}).get(name) or "nothing"
        if found != address:
            problems.append(
                "%s resolves %s to %s, not %s: the cluster agent refuses joins from such nodes. Fix DNS or "
                "/etc/hosts, or set microk8s_node_manage_etc_hosts=true" % (host, name, found, address)
            )
    return problems


def _channel_change(host, installed, checks):
    """site.yml never moves an installed node to another channel (community.general.snap would refresh it, on
    every node at once): that is playbooks/upgrade.yml's job, one node at a time."""
    channel = str(checks.get("channel", ""))
    tracking = installed.get("tracking", "-")
    if checks.get("offline") or tracking in ("", "-"):
        # a local .snap tracks no channel: compare the installed version with the channel's track
        match = re.match(r"v?1\.(\d+)\.", installed.get("version", ""))
        same = match is None or channel_minor(channel) is None or int(match.group(1)) == channel_minor(channel)
        now = "MicroK8s %s" % installed.get("version")
    else:
        same = tracking in (channel, "latest/" + channel)
        now = "MicroK8s tracking %s" % tracking
    if same:
        return []
    return [
        "%s runs %s, the inventory asks for %s: site.yml never changes an installed node's channel or version. "
        "Upgrade with playbooks/upgrade.yml (one node at a time), or set microk8s_node_channel to what is "
        "installed" % (host, now, channel)
    ]


class FilterModule:
    def filters(self):
        return {
            "channel_problems": channel_problems,
            "offline_install_problems": offline_install_problems,
            "addon_problems": addon_problems,
            "node_problems": node_problems,
            "resolution_problems": resolution_problems,
            "staging_dir_problems": staging_dir_problems,
        }
