#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: node_info
short_description: Read in one go what preparing a MicroK8s node needs to know
version_added: "0.2.0"
description:
  - Reads the installed snaps (C(snap list)), the snap refresh hold, whether ufw is installed, the node's memory and
    clock, the owner and mode of the staging directory and each of its parents, and how the node resolves the
    other nodes' names. Changes nothing.
  - On request it also reads, in the same call, MicroK8s' own status, small files, distribution packages, services,
    the node's addresses and certificates' names, so a role plans its whole run from one answer.
  - The microk8s_node role plans from this one answer, so a re-run with nothing to do runs no other probe.
  - Once C(snap list) has answered, the reads that run commands (status, facts, packages, services and certificates,
    images, the C(kubectl) gets, C(microk8s config)) run side by side, so the slowest of them, not their sum, sets the
    read's time.
options:
  staging_dir:
    description: The staging directory whose owner and mode (and its parents') are reported; it may not exist.
    type: path
    required: true
  resolve:
    description: Host names to resolve to their first IPv4 address, as C(getent ahostsv4) would.
    type: list
    elements: str
    default: []
  resolve_block:
    description:
      - Also resolve every host name listed in the /etc/hosts block between this marker's BEGIN and END lines
        (blockinfile's V({mark}), for example V(# {mark} onprem.microk8s cluster nodes)), into RV(resolved).
      - Lets a node read that also gathers RV(ansible_facts) check the names other nodes' facts give, without a
        second read once the block is written.
    type: str
    default: ""
  facts:
    description:
      - Also return the host facts the collection's roles use, as M(ansible.builtin.setup) gathers them with
        O(ansible.builtin.setup#module:gather_subset=platform,network), in RV(ansible_facts); V(hostname),
        V(system), V(architecture), V(default_ipv4) (V(interface), V(address), V(gateway), V(netmask),
        V(network), V(prefix), V(broadcast), V(alias)), V(interfaces), V(all_ipv4_addresses).
      - One module run per node instead of two (setup and this read).
    type: bool
    default: false
  status:
    description:
      - Also read C(microk8s status --format yaml) (without waiting) when MicroK8s is installed; see RV(microk8s).
    type: bool
    default: false
  files:
    description:
      - Files whose owner, mode, SHA-1 and (up to 64 KiB) text are returned in RV(files). Never name a secret.
    type: list
    elements: path
    default: []
  packages:
    description: Distribution packages whose installed state C(dpkg-query) reports in RV(packages).
    type: list
    elements: str
    default: []
  services:
    description: systemd units whose state is returned in RV(services).
    type: list
    elements: str
    default: []
  addresses:
    description: Also return the addresses configured on the node (C(ip -o addr show)) in RV(addresses).
    type: bool
    default: false
  certificates:
    description: PEM certificates whose subject alternative names (C(openssl x509 -ext subjectAltName)) are returned.
    type: list
    elements: path
    default: []
  images:
    description:
      - Image names as containerd lists them (V(docker.io/library/hello:local)) whose digest and image ID (config
        digest, for this node's platform) MicroK8s' containerd (namespace C(k8s.io)) holds; see RV(images).
      - Compare them with the archive's (the M(onprem.microk8s.ctr_image_import) identity) before copying an archive.
    type: list
    elements: str
    default: []
  accounts:
    description: User accounts whose existence is returned in RV(accounts), looked up as C(getent passwd) does (NSS).
    type: list
    elements: str
    default: []
  groups:
    description: Groups whose members are returned in RV(groups), looked up as C(getent group) does (NSS).
    type: list
    elements: str
    default: []
  kubectl:
    description:
      - Argument lists for C(microk8s kubectl get), each run with C(-o json) when MicroK8s is installed; see
        RV(kubectl).
      - A read of the cluster in the same call as the node's, so a role plans from one answer. Never name Secrets.
      - Up to four gets run at the same time (and C(microk8s config) for O(api_server) beside them); the results keep
        the order of the lists.
    type: list
    elements: list
    default: []
  api_server:
    description:
      - Also return the API's address and CA as the admin kubeconfig of C(microk8s config) gives them, its server's
        host replaced by O(api_server_host) when set (as M(onprem.microk8s.admin_kubeconfig) writes it); see
        RV(api_server). The credential in that output is never read into the result.
    type: bool
    default: false
  api_server_host:
    description: The host the admin kubeconfig's server is pointed at (the API's virtual IP); empty keeps MicroK8s'.
    type: str
    default: ""
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.info_module
notes:
  - Runs C(snap) with the C locale, stdin closed and a timeout (the collection's runner).
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Read the node
  onprem.microk8s.node_info:
    staging_dir: /var/lib/onprem-microk8s
    resolve: [node2, node3]
  register: node
  become: true
"""

RETURN = r"""
ansible_facts:
  description: The host facts of O(facts) (set on the host, as setup's would be).
  returned: when O(facts=true)
  type: dict
  sample: {hostname: node1, system: Linux, architecture: x86_64, interfaces: [eth0, lo],
           all_ipv4_addresses: [10.77.0.11],
           default_ipv4: {interface: eth0, address: 10.77.0.11, gateway: 10.77.0.1, netmask: 255.255.255.0,
                          network: 10.77.0.0, prefix: "24", broadcast: 10.77.0.255, alias: eth0}}
snapd:
  description: Whether the C(snap) command exists.
  returned: always
  type: bool
  sample: true
snaps:
  description: The installed snaps by name, as C(snap list) prints them.
  returned: always
  type: dict
  sample: {"microk8s": {"name": "microk8s", "version": "v1.32.3", "revision": "7967", "tracking": "1.32/stable",
           "publisher": "canonical**", "notes": "classic"}}
refresh_hold:
  description: The value of C(snap get system refresh.hold); empty when unset.
  returned: always
  type: str
  sample: "2027-02-27T10:00:00Z"
ufw:
  description: Whether ufw is installed.
  returned: always
  type: bool
  sample: false
memory_mb:
  description: Total memory in MB (C(MemTotal) of C(/proc/meminfo)).
  returned: always
  type: int
  sample: 7853
clock:
  description: The node's clock, seconds since the epoch.
  returned: always
  type: float
  sample: 1795000000.5
staging:
  description: The staging directory, then each parent up to C(/), as C(lstat) sees them.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    uid:
      description: Owner's uid (null when missing).
      type: int
    mode:
      description: C(st_mode) (type and permission bits; null when missing).
      type: int
  sample: [{"path": "/var/lib/onprem-microk8s", "exists": false, "uid": null, "mode": null},
           {"path": "/var/lib", "exists": true, "uid": 0, "mode": 16877}]
resolved:
  description: Each name of O(resolve) and its first IPv4 address; empty when it does not resolve.
  returned: always
  type: dict
  sample: {"node2": "10.77.0.12"}
microk8s:
  description:
    - With O(status=true), what M(onprem.microk8s.microk8s_status) returns without waiting (state, ready,
      version, role, member, expected_voters, datastore, addons, enabled_addons, message).
    - Null when MicroK8s is not installed or O(status=false); C(state=error) when its status failed.
  returned: always
  type: dict
  sample: {"state": "running", "ready": true, "version": "v1.32.3", "role": "control-plane", "member": true}
files:
  description: Each file of O(files) - exists, uid, gid, mode, sha1 and content (text, null when larger than 64 KiB).
  returned: always
  type: dict
  sample: {"/etc/keepalived/keepalived.conf": {"exists": true, "uid": 0, "gid": 0, "mode": 33184, "sha1": "0a4d...",
           "content": "vrrp_instance ..."}}
packages:
  description: Each package of O(packages) and whether it is installed.
  returned: always
  type: dict
  sample: {"keepalived": true}
services:
  description: Each unit of O(services) - active and enabled.
  returned: always
  type: dict
  sample: {"keepalived": {"active": true, "enabled": true}}
addresses:
  description: With O(addresses=true), every address configured on the node; empty otherwise.
  returned: always
  type: list
  elements: str
  sample: ["127.0.0.1", "10.77.0.11", "10.77.0.10"]
images:
  description: Each name of O(images) - the digest containerd lists and its image ID; null when it is not there.
  returned: always
  type: dict
  sample: {"docker.io/library/hello:local": {"digest": "sha256:6d3e...", "config": "sha256:a1b2..."}}
certificates:
  description: Each certificate of O(certificates) - its IP and DNS subject alternative names (empty when unreadable).
  returned: always
  type: dict
  sample: {"/var/snap/microk8s/current/certs/server.crt": {"ip": ["10.77.0.11", "10.77.0.10"], "dns": ["kubernetes"]}}
accounts:
  description: Each name of O(accounts) and whether the account exists.
  returned: always
  type: dict
  sample: {"labadmin": true, "nobody-here": false}
groups:
  description: Each name of O(groups) - its gid and members; null when the group does not exist.
  returned: always
  type: dict
  sample: {"microk8s": {"gid": 998, "members": ["labadmin"]}, "snap_microk8s": null}
kubectl:
  description:
    - For each list of O(kubectl), in order - the arguments, the exit code and what the command printed (its JSON
      on stdout); rc null and nothing printed when MicroK8s is not installed.
  returned: always
  type: list
  elements: dict
  sample: [{"args": ["storageclasses"], "rc": 0, "stdout": "{\"items\": []}", "stderr": ""}]
api_server:
  description:
    - With O(api_server=true) on a control-plane node - the server URL and the CA of the admin kubeconfig (C(ca_data),
      base64 as in its C(certificate-authority-data)).
    - Null otherwise, and when C(microk8s config) printed no kubeconfig (MicroK8s missing, stopped or a worker).
  returned: always
  type: dict
  sample: {"server": "https://10.77.0.10:16443", "ca_data": "LS0tLS1CRUdJTi..."}
"""

import grp
import hashlib
import os
import platform as host_platform
import pwd
import socket
import stat
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils import _image_archive as archives
from ansible_collections.onprem.microk8s.plugins.module_utils import _kubeconfig as kubeconfigs
from ansible_collections.onprem.microk8s.plugins.module_utils import _node_facts as node_facts
from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._ctr import DEFAULT_NAMESPACE, Ctr
from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import (
    Microk8sError,
    Microk8sRunner,
    status_report,
)

#: Files larger than this are reported without their content (the sha1 still compares them).
MAX_CONTENT = 65536
HOSTS_FILE = "/etc/hosts"
PARALLEL_GETS = 4  # `microk8s kubectl get` runs at once in one read
READERS = 6  # the status, facts, system, images, gets and `microk8s config` reads


def staging_entries(path):
    """lstat of path and each of its parents up to /."""
    entries = []
    path = os.path.normpath(path)
    while True:
        try:
            st = os.lstat(path)
            entries.append({"path": path, "exists": True, "uid": st.st_uid, "mode": st.st_mode})
        except FileNotFoundError:
            entries.append({"path": path, "exists": False, "uid": None, "mode": None})
        parent = os.path.dirname(path)
        if parent == path:
            return entries
        path = parent


def memory_mb(meminfo="/proc/meminfo"):
    with open(meminfo) as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def first_ipv4(name):
    try:
        answers = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return ""
    return answers[0][4][0] if answers else ""


def file_entry(path):
    try:
        st = os.stat(path)
    except OSError:
        return {"exists": False, "uid": None, "gid": None, "mode": None, "sha1": None, "content": None}
    entry = {"exists": True, "uid": st.st_uid, "gid": st.st_gid, "mode": st.st_mode, "sha1": None, "content": None}
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha1()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                if st.st_size <= MAX_CONTENT:
                    entry["content"] = (entry["content"] or "") + chunk.decode("utf-8", errors="replace")
        entry["sha1"] = digest.hexdigest()
        if st.st_size <= MAX_CONTENT and entry["content"] is None:
            entry["content"] = ""
    return entry


def microk8s_state(runner, snap):
    """MicroK8s' status without waiting (null when not installed); a failed read is reported, not raised."""
    if not snap:
        return None
    try:
        runner.use_snap(snap)
        return status_report(runner, wait_ready=False)
    except Microk8sError as exc:
        return {
            "state": "error",
            "running": False,
            "ready": False,
            "version": snap.get("version"),
            "role": None,
            "high_availability": False,
            "member": False,
            "expected_voters": None,
            "datastore": {"voters": [], "standby": [], "spare": []},
            "addons": [],
            "enabled_addons": [],
            "message": exc.msg,
        }


def image_reads(runner, refs, installed):
    """{ref: {digest, config} or None}: what MicroK8s' containerd holds under each name (nothing without MicroK8s)."""
    if not refs:
        return {}
    try:
        ctr = Ctr(runner, DEFAULT_NAMESPACE)
        listed = ctr.images() if installed else {}
        platform = archives.parse_platform(host_platform.machine())
        return {
            ref: {"digest": listed[ref]["digest"], "config": ctr.config_digest(listed[ref]["digest"], platform)}
            if ref in listed
            else None
            for ref in refs
        }
    except Microk8sError:
        return dict.fromkeys(refs)


def host_facts(runner):
    """The facts setup's platform and network collectors give the roles (module_utils/_node_facts.py)."""
    try:
        interfaces = os.listdir("/sys/class/net")
    except OSError:
        interfaces = []
    return node_facts.host_facts(
        host_platform.node(),
        host_platform.system(),
        host_platform.machine(),
        interfaces,
        output(runner, "ip", ["-4", "route", "get", node_facts.ROUTE_PROBE]),
        output(runner, "ip", ["-o", "-4", "addr", "show"]),
    )


def block_names(marker):
    """The host names listed in the marked /etc/hosts block (none without the file or the block)."""
    try:
        with open(HOSTS_FILE, encoding="utf-8", errors="replace") as handle:
            return parsers.parse_hosts_block_names(handle.read(), marker)
    except OSError:
        return []


def output(runner, program, args):
    """stdout of a read-only command; empty when the program is missing."""
    try:
        return runner.run(args, program=program, check=False).stdout
    except Microk8sError:
        return ""


def system_reads(module, runner):
    params = module.params
    packages = {}
    if params["packages"]:
        text = output(
            runner, "dpkg-query", ["--show", "--showformat=${Package} ${db:Status-Status}\n", *params["packages"]]
        )
        packages = parsers.parse_dpkg_query(text, params["packages"])
    services = {
        unit: parsers.parse_systemctl_show(
            output(runner, "systemctl", ["show", "--property=ActiveState,UnitFileState", unit])
        )
        for unit in params["services"]
    }
    certificates = {
        path: parsers.parse_subject_alt_names(
            output(runner, "openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", path])
        )
        for path in params["certificates"]
    }
    return {
        "files": {path: file_entry(path) for path in params["files"]},
        "packages": packages,
        "services": services,
        "addresses": parsers.parse_ip_addresses(output(runner, "ip", ["-o", "addr", "show"]))
        if params["addresses"]
        else [],
        "certificates": certificates,
    }


def account_exists(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_entry(name):
    """{gid, members} of a group (through NSS, as `getent group`); None when there is no such group."""
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return None
    return {"gid": entry.gr_gid, "members": list(entry.gr_mem)}


def kubectl_gets(runner, gets, installed, workers=PARALLEL_GETS):
    """`microk8s kubectl get ARGS -o json` per argument list, up to `workers` side by side (kubectl's start-up is most
    of each get, and the API server answers them in parallel): {args, rc, stdout, stderr} in the order asked; rc
    null without MicroK8s. A get that runs out of time raises, as one run alone would."""

    def get(args):
        argv = ["kubectl", "get", *map(str, args), "-o", "json"]
        rc, out, err = runner.run(argv, check=False) if installed else (None, "", "")
        return {"args": args, "rc": rc, "stdout": out, "stderr": err}

    if not installed or len(gets) < 2:
        return [get(args) for args in gets]
    with ThreadPoolExecutor(max_workers=min(workers, len(gets))) as pool:
        return list(pool.map(get, gets))


def api_server(runner, installed, server_host):
    """{server, ca_data} of `microk8s config`'s kubeconfig, pointed at `server_host`; None when it printed none. Its
    output holds the admin credential: only the cluster's address and CA leave this function, never in an error."""
    if not installed:
        return None
    try:
        rc, out, _err = runner.run(["config"], check=False)
    except Microk8sError:
        return None
    return kubeconfigs.public_part(out, server_host) if rc == 0 else None


def snap_reads(runner):
    """The installed snaps (`snap list`) and the refresh hold (`snap get system refresh.hold`, empty when unset)."""
    rc, out, _err = runner.run(["list"], program="snap", check=False)
    snaps = parsers.parse_snap_list(out) if rc == 0 else {}
    rc, out, _err = runner.run(["get", "system", "refresh.hold"], program="snap", check=False)
    return snaps, out.strip() if rc == 0 else ""


def read(module):
    """Everything asked for, in one answer. Once `snap list` says whether MicroK8s is installed, the reads that run
    commands (status, facts, packages and services, images, gets, `microk8s config`) run side by side: on a node the
    slowest of them, not their sum, sets the read's time."""
    runner = Microk8sRunner(module, timeout=60)
    params = module.params
    names = list(params["resolve"]) + (block_names(params["resolve_block"]) if params["resolve_block"] else [])
    snapd = bool(module.get_bin_path("snap", opt_dirs=["/usr/bin", "/snap/bin"]))
    snaps, hold = snap_reads(runner) if snapd else ({}, "")
    installed = "microk8s" in snaps
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        status = pool.submit(microk8s_state, runner, snaps.get("microk8s")) if params["status"] else None
        facts = pool.submit(host_facts, runner) if params["facts"] else None
        system = pool.submit(system_reads, module, runner)
        images = pool.submit(image_reads, runner, params["images"], installed)
        server = pool.submit(api_server, runner, installed, params["api_server_host"]) if params["api_server"] else None
        gets = pool.submit(kubectl_gets, runner, params["kubectl"], installed)
        result = {
            "changed": False,
            "snapd": snapd,
            "snaps": snaps,
            "refresh_hold": hold,
            "ufw": bool(module.get_bin_path("ufw", opt_dirs=["/usr/sbin", "/sbin"])),
            "memory_mb": memory_mb(),
            "clock": time.time(),
            "staging": staging_entries(params["staging_dir"]),
            "resolved": {name: first_ipv4(name) for name in names},
            "accounts": {name: account_exists(name) for name in params["accounts"]},
            "groups": {name: group_entry(name) for name in params["groups"]},
        }
        result["microk8s"] = status.result() if status else None
        if facts:
            result["ansible_facts"] = facts.result()
        result.update(system.result())
        result["images"] = images.result()
        result["kubectl"] = gets.result()
        result["api_server"] = server.result() if server else None
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            staging_dir=dict(type="path", required=True),
            resolve=dict(type="list", elements="str", default=[]),
            resolve_block=dict(type="str", default=""),
            facts=dict(type="bool", default=False),
            status=dict(type="bool", default=False),
            files=dict(type="list", elements="path", default=[]),
            packages=dict(type="list", elements="str", default=[]),
            services=dict(type="list", elements="str", default=[]),
            addresses=dict(type="bool", default=False),
            certificates=dict(type="list", elements="path", default=[]),
            images=dict(type="list", elements="str", default=[]),
            accounts=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
            kubectl=dict(type="list", elements="list", default=[]),
            api_server=dict(type="bool", default=False),
            api_server_host=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**read(module))


if __name__ == "__main__":
    main()
