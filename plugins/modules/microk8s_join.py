#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: microk8s_join
short_description: Join this MicroK8s node to a cluster, or make it leave
version_added: "0.1.0"
description:
  - Joins the node it runs on to a MicroK8s cluster with C(microk8s join), as a control-plane node or as a worker,
    then checks that the node really is a member (an exit code of 0 alone does not prove it).
  - A node that is already a member in the wanted role is left alone. One that is a member in the other role fails
    (make it leave first).
  - With O(state=absent) the node leaves its cluster (C(microk8s leave)). A control-plane node is reset to an empty
    single-node cluster. Afterwards run C(microk8s remove-node <name>) on a remaining control-plane node (see
    RV(remove_node_hint)).
options:
  url:
    description:
      - The join URL C(MASTER:PORT/TOKEN[/FINGERPRINT]), as RV(onprem.microk8s.microk8s_token#module:join_url)
        returns it.
      - Mutually exclusive with O(master), O(token) and O(fingerprint).
    type: str
  master:
    description:
      - Address of a control-plane node of the cluster. From MicroK8s 1.29 it must be an IPv4 address (the CLI
        rejects host names with C(Invalid connection)).
    type: str
  token:
    description: The join token (at least 32 characters) registered on O(master). Required with O(master).
    type: str
  port:
    description: The cluster agent port on O(master). Ignored with O(url).
    type: int
    default: 25000
  fingerprint:
    description:
      - The cluster certificate fingerprint (at least 12 hexadecimal characters) to verify O(master) with.
      - Not used on MicroK8s 1.20, which has no fingerprints.
    type: str
  worker:
    description: Join as a worker node that runs no control plane and no datastore (MicroK8s 1.23 and newer).
    type: bool
    default: false
  skip_verify:
    description: Do not verify the cluster's certificate against the fingerprint (MicroK8s 1.21 and newer).
    type: bool
    default: false
  state:
    description: V(present) joins the cluster, V(absent) leaves it.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Seconds C(microk8s join) or C(microk8s leave) may take.
    type: int
    default: 300
  ready_timeout:
    description: Seconds to wait for C(microk8s status --wait-ready) before and after the join.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.actiongroup_microk8s
notes:
  - Membership is read from C(microk8s status --format yaml) on this node; a control-plane node is a member when
    the datastore lists more than one node, a worker node when status says it acts as a node in a cluster.
  - Join control-plane nodes one at a time. High availability needs three control-plane nodes.
  - The token and the URL are never part of the module's output, also not in errors.
  - MicroK8s 1.20 takes only C(MASTER:PORT/TOKEN); a fingerprint is dropped there.
seealso:
  - module: onprem.microk8s.microk8s_token
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Join as a control-plane node with the URL from microk8s_token
  onprem.microk8s.microk8s_join:
    url: "{{ __microk8s_token.join_url }}"
  no_log: true

- name: Join as a worker with a pre-shared token
  onprem.microk8s.microk8s_join:
    master: 10.77.0.11
    token: "{{ vault_microk8s_join_token }}"
    worker: true

- name: Leave the cluster
  onprem.microk8s.microk8s_join:
    state: absent
  register: __microk8s_leave

- name: Remove the node from the cluster's view
  ansible.builtin.command: "microk8s remove-node {{ __microk8s_leave.node_name }}"
  delegate_to: "{{ groups['masters'][0] }}"
  when: __microk8s_leave is changed
  changed_when: true
"""

RETURN = r"""
joined:
  description: Whether this node is a member of a cluster when the module ends (predicted in check mode).
  returned: always
  type: bool
  sample: true
role:
  description: The node's role in the cluster; null when it is not a member.
  returned: always
  type: str
  sample: control-plane
datastore:
  description: The dqlite members this node sees (C(address) is C(IP:19001)). Empty on worker nodes.
  returned: always
  type: dict
  contains:
    voters:
      description: Voting members.
      type: list
      elements: str
    standby:
      description: Standby members.
      type: list
      elements: str
    spare:
      description: Spare members (also the second control-plane node of a two-node cluster).
      type: list
      elements: str
  sample: {voters: [10.77.0.11:19001], standby: [], spare: [10.77.0.12:19001]}
node_name:
  description: This node's Kubernetes node name (its host name in lower case).
  returned: when O(state=absent)
  type: str
  sample: pc2
remove_node_hint:
  description: What to run on a remaining control-plane node after leaving.
  returned: when O(state=absent) and the node left
  type: str
  sample: run `microk8s remove-node pc2` on a remaining control-plane node
"""

import ipaddress
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import Microk8sError, run_module, supports

ROLES = {True: "worker", False: "control-plane"}
NOT_CLUSTERED = ("not acting as a node in a cluster", "Not in clustering mode")
STATUS_FAILURES = {
    "stopped": "MicroK8s is stopped on this node: start it (microk8s start) first",
    "no_permission": "run the module as root (become: true)",
}


def join_target(params, version):
    """The join URL parts from url or master/token/port/fingerprint, validated as the CLI of this version would."""
    url = params["url"] or "%s:%s/%s" % (params["master"], params["port"], params["token"])
    if params["fingerprint"]:
        url += "/" + params["fingerprint"]
    parts = parsers.parse_join_url(url)
    problems = url_problems(parts, version)
    if params["worker"] and not supports(version, (1, 23)):
        problems.append("worker nodes need MicroK8s 1.23 or newer")
    if params["skip_verify"] and not supports(version, (1, 21)):
        problems.append("skip_verify needs MicroK8s 1.21 or newer")
    if problems:
        raise Microk8sError("cannot join with MicroK8s %d.%d: %s" % (version[0], version[1], "; ".join(problems)))
    return parts


def url_problems(parts, version):
    if not parts or parts["host"].startswith("["):
        return ["the join URL must look like MASTER:PORT/TOKEN[/FINGERPRINT] with an IPv4 address or host name"]
    problems = []
    if not 1 <= parts["port"] <= 65535:
        problems.append("port %s is not within 1-65535" % parts["port"])
    if len(parts["token"]) < 32:
        problems.append("the token has %d characters, at least 32 are needed" % len(parts["token"]))
    if parts["fingerprint"] and len(parts["fingerprint"]) < 12:
        problems.append("the fingerprint has %d characters, at least 12 are needed" % len(parts["fingerprint"]))
    if supports(version, (1, 29)) and not is_ipv4(parts["host"]):
        problems.append("from MicroK8s 1.29 the master must be an IPv4 address, not %s" % parts["host"])
    return problems


def is_ipv4(host):
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def cli_url(parts, version):
    """What `microk8s join` takes: 1.20 knows no fingerprint."""
    url = "%s:%s/%s" % (parts["host"], parts["port"], parts["token"])
    if parts["fingerprint"] and supports(version, (1, 21)):
        url += "/" + parts["fingerprint"]
    return url


def membership(runner, timeout):
    """(role or None, status) of this node, read from `microk8s status`."""
    status = runner.status(wait_ready=True, timeout=timeout)
    if status["state"] in STATUS_FAILURES:
        raise Microk8sError(STATUS_FAILURES[status["state"]], stdout=status["message"])
    if status["state"] == "worker":
        return "worker", status
    if sum(len(nodes) for nodes in status["datastore"].values()) > 1:
        return "control-plane", status
    return None, status


def check_joinable(status, worker):
    if status["state"] == "low_memory" and not worker:
        raise Microk8sError("this node has too little RAM for the control plane: join it with worker: true")
    if status["state"] == "not_running":
        raise Microk8sError("MicroK8s is not ready on this node, so it cannot join: %s" % status["message"])


def join(runner, params, parts, version):
    args = ["join", cli_url(parts, version)]
    args += ["--worker"] if params["worker"] else []
    args += ["--skip-verify"] if params["skip_verify"] else []
    result = runner.run(args, check=False)
    rc, out, err = result
    if not parsers.join_succeeded(rc, out):
        kind, advice = parsers.classify_join_failure(rc, out, err)
        raise result.error("join failed (%s): %s" % (kind, advice))
    role, status = membership(runner, params["ready_timeout"])
    if role != ROLES[params["worker"]]:
        raise Microk8sError(
            "microk8s join ended with exit code 0 but status does not show this node as a %s member of a cluster"
            % ROLES[params["worker"]],
            stdout=out,
            stderr=err,
        )
    return status


def leave(runner):
    """Run `microk8s leave`; False when microk8s says the node is not in a cluster."""
    result = runner.run(["leave"], check=False)
    rc, out, err = result
    if rc == 0:
        return True
    if any(text in out + err for text in NOT_CLUSTERED):
        return False
    advice = "see its output"
    if "holds the only copy" in out + err:
        advice = "this node holds the only copy of the datastore: add control-plane nodes first, or remove MicroK8s"
    raise result.error("microk8s leave failed: %s" % advice)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", no_log=True),
            master=dict(type="str"),
            token=dict(type="str", no_log=True),
            port=dict(type="int", default=25000),
            fingerprint=dict(type="str"),
            worker=dict(type="bool", default=False),
            skip_verify=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            timeout=dict(type="int", default=300),
            ready_timeout=dict(type="int", default=300),
        ),
        mutually_exclusive=[("url", "master"), ("url", "token"), ("url", "fingerprint")],
        required_together=[("master", "token")],
        required_if=[("state", "present", ("url", "master"), True)],
        supports_check_mode=True,
    )
    params = module.params

    def work(runner):
        if params["state"] == "absent":
            return make_absent(module, runner)
        return make_present(module, runner)

    run_module(module, work)


def planned(module, before, after, status):
    """The result for moving this node from role `before` to role `after` (None = not in a cluster)."""
    result = dict(changed=before != after, joined=after is not None, role=after, datastore=status["datastore"])
    if module._diff:
        result["diff"] = dict(before=dict(role=before), after=dict(role=after))
    return result


def make_present(module, runner):
    params = module.params
    version = runner.version()
    wanted = ROLES[params["worker"]]
    parts = join_target(params, version)
    runner.hide(parts["token"])
    role, status = membership(runner, params["ready_timeout"])
    if role and role != wanted:
        raise Microk8sError("this node is already a %s member of a cluster: make it leave first" % role)
    result = planned(module, role, wanted, status)
    if role:
        warn_if_other_cluster(module, status, parts["host"])
        return result
    check_joinable(status, params["worker"])
    if not module.check_mode:
        result["datastore"] = join(runner, params, parts, version)["datastore"]
    return result


def make_absent(module, runner):
    runner.version()  # fails early when MicroK8s is not installed
    role, status = membership(runner, module.params["ready_timeout"])
    result = planned(module, role, None, status)
    result["node_name"] = socket.gethostname().lower()
    if not role or module.check_mode:
        return result
    if leave(runner):
        result["remove_node_hint"] = (
            "run `microk8s remove-node %s` on a remaining control-plane node" % (result["node_name"])
        )
    else:
        result.update(planned(module, None, None, status))
    return result


def warn_if_other_cluster(module, status, master):
    """A member that does not list the master among its datastore nodes may be in another cluster."""
    hosts = [address.rsplit(":", 1)[0] for nodes in status["datastore"].values() for address in nodes]
    if hosts and master not in hosts:
        module.warn(
            "this node is already in a cluster whose datastore nodes are %s; if %s belongs to another cluster, "
            "make this node leave first (state: absent)" % (", ".join(hosts), master)
        )


if __name__ == "__main__":
    main()
