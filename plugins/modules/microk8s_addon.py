#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: microk8s_addon
short_description: Enable or disable MicroK8s addons
version_added: "0.1.0"
description:
  - Reads the addons' state from C(microk8s status --format yaml --wait-ready), then runs C(microk8s enable) or
    C(microk8s disable) for each addon that is not in the wanted state, one addon per command, and reads the status
    again after each to check that the addon got there (the exit code of C(enable) is not reliable).
  - Arguments are passed in the space form (C(microk8s enable metallb 10.77.0.240-10.77.0.250)), never the
    C(addon:arg) form, which breaks IPv6 values.
  - An addon that is already in the wanted state is left alone, so O(args) are applied when an addon is enabled
    only. The status does not show an enabled addon's arguments; to change them, disable the addon and enable it
    again (two tasks).
options:
  name:
    description:
      - The addon, for example V(dns), V(metallb), or V(repo/name) such as V(community/openebs) (MicroK8s 1.24+).
      - Enabling an addon of the C(community) repository while that repository is off enables V(community) first.
    type: str
  state:
    description: Whether O(name) should be enabled or disabled.
    type: str
    choices: [enabled, disabled]
    default: enabled
  args:
    description:
      - Arguments for the addon's enable or disable script, one list item per argument, for example
        V(["10.77.0.240-10.77.0.250"]) for metallb (several ranges comma-separated in one item) or
        V(["1.1.1.1,8.8.8.8"]) for dns.
      - V(metallb) must be given a range when it is enabled - without one it asks for it on a terminal.
      - Disabling V(hostpath-storage) (or V(storage)) asks whether to delete the volumes' data under
        C(/var/snap/microk8s/common/default-storage). Pass V(["destroy-storage"]) to delete it; otherwise the question
        fails (no terminal), the data is kept and the module warns.
      - Disabling V(ha-cluster) needs V(["--force"]); it resets the datastore.
    type: list
    elements: str
    default: []
  addons:
    description:
      - Several addons in one task, changed in this order.
      - Mutually exclusive with O(name), O(state) and O(args).
    type: list
    elements: dict
    suboptions:
      name:
        description: As O(name).
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [enabled, disabled]
        default: enabled
      args:
        description: As O(args).
        type: list
        elements: str
        default: []
  timeout:
    description: Seconds to wait for the node to be ready, and that each enable or disable command may run.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details:
      - Whether an addon of the C(community) repository exists is only known once the repository is on, so in check
        mode such an addon is assumed to exist.
  diff_mode:
    support: full
  idempotent:
    support: full
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.actiongroup_microk8s
notes:
  - Run it on a control-plane node; addons are cluster-wide. It fails on a worker, stopped or not ready node.
  - MicroK8s 1.20 to 1.36. V(repo/name) needs 1.24+. From 1.24 a bare name is looked up in every repository.
    V(openebs) is built in on 1.21 to 1.23 and is V(community/openebs) from 1.24; it needs C(iscsid) enabled on
    every node (C(apt install open-iscsi && systemctl enable --now iscsid)), otherwise MicroK8s prints a notice and
    exits 0 without enabling it - the module reports that as a failure.
  - From 1.27 V(dns) is enabled by default.
seealso:
  - module: onprem.microk8s.microk8s_status
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Enable MetalLB with the address range of the home LAN
  onprem.microk8s.microk8s_addon:
    name: metallb
    args: ["10.77.0.240-10.77.0.250"]
  become: true

- name: Cluster addons in one task
  onprem.microk8s.microk8s_addon:
    addons:
      - name: dns
      - name: ingress
      - name: community/openebs
      - name: hostpath-storage
        state: disabled
        args: [destroy-storage]
  become: true
"""

RETURN = r"""
addons:
  description: The final state of each requested addon, in the order given.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The name as requested.
      type: str
    state:
      description: V(enabled) or V(disabled).
      type: str
  sample: [{"name": "metallb", "state": "enabled"}]
changed_addons:
  description: The addons that changed (or would, in check mode), in the order they were changed.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The addon.
      type: str
    from:
      description: State before.
      type: str
    to:
      description: State after.
      type: str
  sample: [{"name": "community", "from": "disabled", "to": "enabled"}, {"name": "community/openebs",
           "from": "disabled", "to": "enabled"}]
commands:
  description: The enable/disable commands run (in check mode, that would run), as argument lists.
  returned: success
  type: list
  elements: list
  sample: [["microk8s", "enable", "metallb", "10.77.0.240-10.77.0.250"]]
msg:
  description: What was done, in words.
  returned: success
  type: str
  sample: "enabled community (needed by community/openebs); enabled community/openebs"
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import Microk8sError, run_module, supports

#: MicroK8s' answer for an addon already in that state; addon scripts print it for the addons they depend on too.
ALREADY = r"Addon (\S+/)?%s is already %sd"
STORAGE = ("hostpath-storage", "storage")
NOT_READY = {
    "not_running": "it did not become ready within the timeout",
    "stopped": "it is stopped: start it first (snap start microk8s)",
    "worker": "this is a worker node: run the task on a control-plane node",
}
#: Known failure texts of addon scripts -> what to do.
ADVICE = (
    (
        "iscsid is not available or enabled",
        "install and enable iscsid on every node first: apt install open-iscsi && systemctl enable --now iscsid",
    ),
    (
        "please use the '--force' flag",
        "disabling ha-cluster resets the datastore: pass args ['--force'] if you mean it",
    ),
    ("is not a valid IP Range", "give metallb ranges as START-END or CIDR, several comma-separated in one item"),
    ("is not a valid and reachable IP address", "dns upstream servers must be IP addresses this node can reach"),
)


def bare(name):
    return name.rsplit("/", 1)[-1]


def validate(requests, version, timeout):
    if timeout < 1:
        raise Microk8sError("timeout must be at least 1 second (microk8s reads 0 as wait forever)")
    seen = set()
    for request in requests:
        name, args = request["name"], request["args"]
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*(/[a-z0-9][a-z0-9.-]*)?", name):
            raise Microk8sError("addon name %r is not an addon name: give arguments in args, not as name:arg" % name)
        if "/" in name and not supports(version, (1, 24)):
            raise Microk8sError(
                "%s: repo/name needs MicroK8s 1.24+, this node runs %d.%d" % (name, version[0], version[1])
            )
        if bare(name) in seen:
            raise Microk8sError("addon %s is listed twice" % bare(name))
        seen.add(bare(name))
        if "-h" in args or "--help" in args:
            raise Microk8sError("%s: --help in args shows a help text and changes nothing; remove it" % name)


def plan(requests, status):
    """[{name, from, to, args, needed_by}] for every request, with `community` enabled first where needed."""
    entries, planned = [], {}
    for request in requests:
        name = request["name"]
        current = planned.get(bare(name)) or parsers.addon_state(status, name)
        community_on = (planned.get("community") or _state(status, "community")) == "enabled"
        if current is None and name.startswith("community/") and not community_on:
            current = "disabled"  # its repository is off; the addon is known once the repository is on
            if request["state"] == "enabled":
                entries.append(_entry("community", "disabled", "enabled", [], name))
                planned["community"] = "enabled"
        elif current is None:
            raise unknown(name, status)
        repositories = [a["repository"] for a in status["addons"] if a["name"] == name]
        if len(repositories) > 1:
            raise Microk8sError(
                "%s is in several repositories (%s): name it repo/%s" % (name, ", ".join(repositories), name)
            )
        if bare(name) == "metallb" and current != request["state"] == "enabled" and len(request["args"]) != 1:
            raise Microk8sError("metallb needs exactly one args item, its ranges, e.g. ['10.77.0.240-10.77.0.250']")
        entries.append(_entry(name, current, request["state"], request["args"], None))
        planned[bare(name)] = request["state"]
    return entries


def _entry(name, before, after, args, needed_by):
    return {"name": name, "from": before, "to": after, "args": args, "needed_by": needed_by}


def _state(status, name):
    return parsers.addon_state(status, name) or "disabled"


def unknown(name, status):
    names = ", ".join(sorted(parsers.qualified_name(a) for a in status["addons"]))
    hint = ""
    if parsers.addon_state(status, "core/community") == "disabled":
        hint = " (the community repository is off: name its addons community/<name> and it is enabled first)"
    return Microk8sError("unknown addon %s; this node has: %s%s" % (name, names, hint))


def ready_status(runner, timeout, after=""):
    status = runner.status(wait_ready=True, timeout=timeout)
    if status["state"] != "running":
        reason = NOT_READY.get(status["state"], "MicroK8s said")
        raise Microk8sError("cannot change addons%s: %s: %s" % (after, reason, status["message"]))
    return status


def command(entry):
    return [entry["to"][:-1], entry["name"], *entry["args"]]


def apply(runner, entry, timeout):
    """Run one enable/disable; return the status after it, or None when MicroK8s said it was already done."""
    args = command(entry)
    action, name = args[:2]
    result = runner.run(args, check=False)
    rc, out, err = result
    text = "%s\n%s" % (out, err)
    if re.search(ALREADY % (re.escape(bare(name)), action), text):
        return None
    keeps_data = action == "disable" and bare(name) in STORAGE and "destroy-storage" not in entry["args"]
    context = result.context
    if rc != 0 and not (keeps_data and "Storage removed" in text):
        raise Microk8sError("microk8s %s %s failed: %s" % (action, name, advice(text)), **context)
    status = ready_status(runner, timeout, " after microk8s %s %s" % (action, name))
    reached = parsers.addon_state(status, name)
    if reached != entry["to"]:
        message = "microk8s %s %s exited %s but %s is %s: %s" % (action, name, rc, name, reached, advice(text))
        raise Microk8sError(message, **context)
    if keeps_data:
        runner.module.warn(
            "%s disabled; its volumes' data under /var/snap/microk8s/common/default-storage was kept "
            "(add destroy-storage to args to delete it)" % name
        )
    return status


def advice(text):
    for marker, what_to_do in ADVICE:
        if marker in text:
            return what_to_do
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def manage(module):
    def work(runner):
        params = module.params
        requests = params["addons"] or [{"name": params["name"], "state": params["state"], "args": params["args"]}]
        validate(requests, runner.version(), params["timeout"])
        status = ready_status(runner, params["timeout"])
        entries = plan(requests, status)
        done = []
        for entry in (e for e in entries if e["from"] != e["to"]):
            if not module.check_mode:
                current = parsers.addon_state(status, entry["name"])  # an earlier step may have changed it
                if current is None:
                    raise unknown(entry["name"], status)
                if current == entry["to"]:
                    continue
                after = apply(runner, entry, params["timeout"])
                if after is None:
                    continue
                status = after
            done.append(entry)
        result = {
            "changed": bool(done),
            "addons": [{"name": r["name"], "state": r["state"]} for r in requests],
            "changed_addons": [{k: e[k] for k in ("name", "from", "to")} for e in done],
            "commands": [["microk8s", *command(e)] for e in done],
            "msg": "; ".join(describe(e) for e in done) or "all addons already as wanted",
        }
        if module._diff:
            result["diff"] = {"before": {}, "after": {e["name"]: e["to"] for e in entries}}
            for entry in entries:
                result["diff"]["before"].setdefault(entry["name"], entry["from"])
        return result

    return work


def describe(entry):
    needed_by = " (needed by %s)" % entry["needed_by"] if entry["needed_by"] else ""
    return "%s %s%s" % (entry["to"], entry["name"], needed_by)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
            args=dict(type="list", elements="str", default=[]),
            addons=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
                    args=dict(type="list", elements="str", default=[]),
                ),
            ),
            timeout=dict(type="int", default=300),
        ),
        mutually_exclusive=[("name", "addons"), ("state", "addons"), ("args", "addons")],
        required_one_of=[("name", "addons")],
        supports_check_mode=True,
    )
    run_module(module, manage(module))


if __name__ == "__main__":
    main()
