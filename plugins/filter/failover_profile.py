# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of the failover_profile role: Go durations, the flag relations, and the args-file plan.

MicroK8s' args files (`$SNAP_DATA/args/<component>`) hold one `--flag=value` per line. The plan says, per flag,
which line a file should carry (`state: present`) or that the flag's line goes (`state: absent`); the role applies
it with ansible.builtin.lineinfile, so a file already in shape is left untouched.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

# The lines of MicroK8s' default-args for the flags the profile sets (1.20..HEAD: the controller manager and the
# scheduler ship 60s/30s leader election; the other flags are absent, i.e. Kubernetes' own defaults).
MICROK8S_DEFAULTS = {
    "kube-controller-manager": {"--leader-elect-lease-duration": "60s", "--leader-elect-renew-deadline": "30s"},
    "kube-scheduler": {"--leader-elect-lease-duration": "60s", "--leader-elect-renew-deadline": "30s"},
}


def go_duration_seconds(value):
    """`16s`, `1m30s`, `500ms` -> seconds (float); a bare number is seconds. ValueError when unparsable."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not _DURATION.match(text):
        raise ValueError("%r is not a duration such as 16s, 1m30s or 500ms" % (value,))
    return sum(float(number) * _UNIT[unit] for number, unit in _PART.findall(text))


def failover_profile_problems(timings):
    """Problems with the profile's timings (dict of the role's values), in words a user can act on."""
    problems, seconds = [], {}
    durations = ("node_monitor_grace_period", "node_monitor_period", "node_status_update_frequency",
                 "leader_elect_lease_duration", "leader_elect_renew_deadline", "leader_elect_retry_period")  # fmt: skip
    for name in durations:
        try:
            seconds[name] = go_duration_seconds(timings[name])
        except (KeyError, ValueError) as exc:
            problems.append("failover_profile_%s: %s" % (name, exc))
    for name in ("not_ready_toleration_seconds", "unreachable_toleration_seconds"):
        value = timings.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append("failover_profile_%s must be a whole number of seconds >= 0, not %r" % (name, value))
    lease = timings.get("node_lease_duration_seconds")
    if not isinstance(lease, int) or isinstance(lease, bool) or lease < 1:
        problems.append("failover_profile_node_lease_duration_seconds must be a whole number of seconds >= 1, not %r"
                        % (lease,))  # fmt: skip
    if problems:
        return problems
    # The node lifecycle controller hears from a healthy kubelet when it renews its node Lease, every quarter of
    # nodeLeaseDurationSeconds (the kubelet posts its status only on a change or every 5 min): the grace period must
    # span several renewals, or healthy nodes turn NotReady between two of them.
    renewal = lease / 4.0
    if renewal * 3 > seconds["node_monitor_grace_period"]:
        problems.append(
            "failover_profile_node_lease_duration_seconds (%s: a node Lease renewal every %gs) must let the kubelet "
            "renew at least 3 times within failover_profile_node_monitor_grace_period (%s), or healthy nodes turn "
            "NotReady between renewals" % (lease, renewal, timings["node_monitor_grace_period"])
        )
    rules = [
        ("node_status_update_frequency", "node_monitor_grace_period",
         "the kubelet must post its status several times within the grace period"),
        ("node_monitor_period", "node_monitor_grace_period", "the controller must look more often than the grace"),
        ("leader_elect_renew_deadline", "leader_elect_lease_duration", "the renew deadline must be below the lease"),
        ("leader_elect_retry_period", "leader_elect_renew_deadline", "the retry period must be below the deadline"),
    ]  # fmt: skip
    for small, large, why in rules:
        if not seconds[small] < seconds[large]:
            problems.append(
                "failover_profile_%s (%s) must be shorter than failover_profile_%s (%s): %s"
                % (small, timings[small], large, timings[large], why)
            )
    return problems


def failover_profile_flags(timings, control_plane=True, kubelet_config=None):
    """The profile as {args file: {flag: value}}; the kubelet's on every node, the rest on control planes only.
    `kubelet_config`: the path of the KubeletConfiguration file the profile writes (the kubelet's `--config`)."""
    flags = {"kubelet": {"--node-status-update-frequency": str(timings["node_status_update_frequency"])}}
    if kubelet_config:
        flags["kubelet"]["--config"] = str(kubelet_config)
    if control_plane:
        leader = {
            "--leader-elect-lease-duration": str(timings["leader_elect_lease_duration"]),
            "--leader-elect-renew-deadline": str(timings["leader_elect_renew_deadline"]),
            "--leader-elect-retry-period": str(timings["leader_elect_retry_period"]),
        }
        flags["kube-controller-manager"] = {
            "--node-monitor-grace-period": str(timings["node_monitor_grace_period"]),
            "--node-monitor-period": str(timings["node_monitor_period"]),
            **leader,
        }
        flags["kube-scheduler"] = dict(leader)
        flags["kube-apiserver"] = {
            "--default-not-ready-toleration-seconds": str(timings["not_ready_toleration_seconds"]),
            "--default-unreachable-toleration-seconds": str(timings["unreachable_toleration_seconds"]),
        }
    return flags


def failover_profile_kubelet_config(timings):
    """The KubeletConfiguration file the profile names with the kubelet's `--config`: only what no kubelet flag can
    set (every other field keeps its default, and the kubelet's flags still win over the file)."""
    return (
        "# Written by onprem.microk8s.failover_profile: the kubelet renews its node Lease (the heartbeat the node\n"
        "# lifecycle controller watches) every quarter of nodeLeaseDurationSeconds.\n"
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        "nodeLeaseDurationSeconds: %d\n" % int(timings["node_lease_duration_seconds"])
    )


def failover_profile_foreign_config(kubelet_args, ours):
    """The `--config` line of the kubelet's args that names another file than the profile's ("" when there is none):
    the profile will not replace a user's own kubelet configuration."""
    line = _line_of(kubelet_args, "--config")
    if line is None:
        return ""
    value = re.split(r"[=\s]", line, maxsplit=1)[1].strip().strip("\"'") if re.search(r"[=\s]", line) else ""
    return "" if value == str(ours) else line


def _line_of(text, flag):
    for line in str(text).splitlines():
        if re.match(r"^%s(=|\s|$)" % re.escape(flag), line.strip()):
            return line.strip()
    return None


def failover_profile_record(contents, flags):
    """What the files say now for each flag the profile sets: {file: {flag: line or None}} (kept for the revert)."""
    return {name: {flag: _line_of(contents.get(name, ""), flag) for flag in wanted} for name, wanted in flags.items()}


def failover_profile_plan(flags, state="present", record=None):
    """lineinfile items [{file, flag, regexp, line, state}]: the profile's lines, or the recorded/default lines back."""
    items = []
    for name in sorted(flags):
        for flag in sorted(flags[name]):
            regexp = r"^\s*%s(=|\s|$)" % re.escape(flag)
            if state == "present":
                line = "%s=%s" % (flag, flags[name][flag])
            elif record is not None:
                line = (record.get(name) or {}).get(flag)
            else:
                default = MICROK8S_DEFAULTS.get(name, {}).get(flag)
                line = "%s=%s" % (flag, default) if default else None
            items.append({"file": name, "flag": flag, "regexp": regexp, "line": line,
                          "state": "present" if line else "absent"})  # fmt: skip
    return items


# The taints a lost node gets (Ready False: not-ready; Ready Unknown, e.g. powered off: unreachable), in the order the
# DefaultTolerationSeconds admission adds their tolerations.
NODE_LOSS_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def node_loss_tolerations(not_ready_seconds, unreachable_seconds=None):
    """The NoExecute tolerations of a lost node's taints for a pod spec: the pod stays bound to a NotReady (not-ready)
    or unreachable node that many seconds, then is evicted and replaced elsewhere. `unreachable_seconds` defaults to
    `not_ready_seconds`. Whole seconds >= 0 (kube-apiserver's `--default-*-toleration-seconds` are int64)."""
    seconds = [not_ready_seconds, not_ready_seconds if unreachable_seconds is None else unreachable_seconds]
    for value in seconds:
        if isinstance(value, bool) or not re.fullmatch(r"\d+", str(value).strip()):
            raise ValueError("toleration seconds must be whole seconds >= 0, not %r" % (value,))
    return [{"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": int(str(value).strip())}
            for taint, value in zip(NODE_LOSS_TAINTS, seconds)]  # fmt: skip


class FilterModule:
    def filters(self):
        return {
            "go_duration_seconds": go_duration_seconds,
            "failover_profile_problems": failover_profile_problems,
            "failover_profile_flags": failover_profile_flags,
            "failover_profile_record": failover_profile_record,
            "failover_profile_plan": failover_profile_plan,
            "failover_profile_kubelet_config": failover_profile_kubelet_config,
            "failover_profile_foreign_config": failover_profile_foreign_config,
            "node_loss_tolerations": node_loss_tolerations,
        }
