# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes flags the double takes its failover timings from: `$SNAP_DATA/args/<component>`, the files real
MicroK8s' kubelite reads (one flag per line, `#` comments, quotes dropped, `${SNAP_DATA}` expanded), read once when
kubelite starts, as the real one does (`snap restart microk8s.daemon-kubelite` or `microk8s stop/start` applies an
edit). A flag missing from its file has the Kubernetes default of the profile's version; a file missing altogether
counts as empty. A value that does not parse stops kubelite with the error pflag prints, as the real one exits.

    timings = kubeargs.load(node)
    timings.node_monitor_grace_period   # kube-controller-manager --node-monitor-grace-period, seconds
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .node import Node

UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
PART = re.compile(r"(\d*(?:\.\d*)?)([^\d.]*)")


class ArgsError(ValueError):
    """An args file value kubelite would refuse (the message is pflag's)."""


def duration(text: str) -> float:
    """Go's time.ParseDuration in seconds: `40s`, `1m0s`, `500ms`, `1h30m`, `0`."""
    rest = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if rest == "0":
        return 0.0
    if not rest:
        raise ArgsError(f'time: invalid duration "{text}"')
    total, position = 0.0, 0
    while position < len(rest):
        match = PART.match(rest, position)
        number, unit = match.group(1), match.group(2)
        if not number or number == ".":
            raise ArgsError(f'time: invalid duration "{text}"')
        if not unit:
            raise ArgsError(f'time: missing unit in duration "{text}"')
        if unit not in UNITS:
            raise ArgsError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * UNITS[unit]
        position = match.end()
    return sign * total


def read(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    """kubelite's ReadArgsFromFile: the words of every non-comment line, quotes removed, variables expanded."""
    if not path.is_file():
        return []
    env = os.environ if environ is None else environ
    words = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.replace('"', "").replace("'", "")
        words += [expand(part, env) for part in line.split(" ")]
    return words


def expand(word: str, env) -> str:
    """os.ExpandEnv: `$VAR` and `${VAR}`, unset ones empty."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), word)


def flags(words: list[str]) -> dict[str, str]:
    """`--name=value` and `--name value` as pflag reads them; a bare `--name` is a boolean `true`; the last wins."""
    found: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("--"):
            continue
        name, equals, value = word[2:].partition("=")
        if not equals:
            following = words[index] if index < len(words) else ""
            if following and not following.startswith("-"):
                value, index = following, index + 1
            else:
                value = "true"
        found[name] = value
    return found


@dataclass(frozen=True)
class Timings:
    """Seconds, each from its flag (component file in brackets)."""

    node_monitor_period: float  # --node-monitor-period (kube-controller-manager)
    node_monitor_grace_period: float  # --node-monitor-grace-period (kube-controller-manager)
    lease_duration: float  # --leader-elect-lease-duration (kube-controller-manager)
    renew_deadline: float  # --leader-elect-renew-deadline (kube-controller-manager)
    retry_period: float  # --leader-elect-retry-period (kube-controller-manager)
    node_status_update_frequency: float  # --node-status-update-frequency (kubelet)
    not_ready_toleration: int  # --default-not-ready-toleration-seconds (kube-apiserver)
    unreachable_toleration: int  # --default-unreachable-toleration-seconds (kube-apiserver)
    # kubelet, only in the KubeletConfiguration file that `--config` names (no flag exists for them):
    node_lease_duration: int = 40  # nodeLeaseDurationSeconds: the node Lease is renewed every quarter of it
    node_status_report_frequency: float = 300.0  # nodeStatusReportFrequency: an unchanged status is posted this often

    @property
    def heartbeat_interval(self) -> float:
        """How often the node lifecycle controller hears from a healthy kubelet: the node Lease's renewal (every
        nodeLeaseDurationSeconds * 0.25, 10 s by default) or the status report, whichever comes first. Not
        `--node-status-update-frequency`: that is how often the kubelet computes its status, which it posts only
        when it changed or every nodeStatusReportFrequency (5m when the flag, not the file, sets the update
        frequency: the kubelet defaults its configuration before it parses the flags)."""
        return min(self.node_lease_duration * 0.25, self.node_status_report_frequency)


def defaults(minor: int) -> dict[str, str]:
    """The upstream defaults of the flags above (Kubernetes 1.32 raised the grace period from 40s to 50s)."""
    return {
        "node-monitor-period": "5s",
        "node-monitor-grace-period": "50s" if minor >= 32 else "40s",
        "leader-elect-lease-duration": "15s",
        "leader-elect-renew-deadline": "10s",
        "leader-elect-retry-period": "2s",
        "node-status-update-frequency": "10s",
        "default-not-ready-toleration-seconds": "300",
        "default-unreachable-toleration-seconds": "300",
    }


def component_words(node: Node, name: str) -> list[str]:
    env = dict(os.environ, SNAP=str(node.paths.snap), SNAP_DATA=str(node.paths.snap_data))
    env["SNAP_COMMON"] = str(node.paths.snap_common)
    return read(node.paths.args(name), env)


def component(node: Node, name: str) -> dict[str, str]:
    return flags(component_words(node, name))


def kubelet_config(node: Node, kubelet_flags: dict[str, str]) -> dict[str, str]:
    """The top-level `key: value` lines of the KubeletConfiguration file `--config` names ({} without one). A named
    file that does not exist stops the kubelet, as the real one's "failed to load Kubelet config file"."""
    path = kubelet_flags.get("config")
    if not path:
        return {}
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ArgsError(f"failed to load Kubelet config file {path}, error {error}") from None
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([A-Za-z]\w*):\s*(.*?)\s*", line)
        if match:
            found[match.group(1)] = match.group(2).strip("'\"")
    return found


def from_kubelet_config(fields: dict[str, str]) -> dict:
    """nodeLeaseDurationSeconds and nodeStatusReportFrequency (its default: the file's nodeStatusUpdateFrequency
    when the file sets one, else 5m, as the kubelet's defaulting does)."""
    chosen = {}
    if "nodeLeaseDurationSeconds" in fields:
        value = fields["nodeLeaseDurationSeconds"]
        if not re.fullmatch(r"\d+", value) or int(value) <= 0:
            raise ArgsError(f"invalid configuration: nodeLeaseDurationSeconds must be greater than 0, not {value}")
        chosen["node_lease_duration"] = int(value)
    report = fields.get("nodeStatusReportFrequency") or fields.get("nodeStatusUpdateFrequency")
    if report:
        chosen["node_status_report_frequency"] = duration(report)
    return chosen


def load(node: Node) -> Timings:
    """The timings of this node's args files now (kubelite calls it once at start)."""
    given = dict(defaults(node.profile.minor))
    given.update(pick(component(node, "kube-controller-manager"), given, "node-monitor", "leader-elect-"))
    kubelet = component(node, "kubelet")
    from_file = from_kubelet_config(kubelet_config(node, kubelet))
    given.update(pick(kubelet, given, "node-status-update-frequency"))
    given.update(pick(component(node, "kube-apiserver"), given, "default-"))
    seconds = {name: parse_flag(name, value) for name, value in given.items()}
    timings = Timings(
        node_monitor_period=seconds["node-monitor-period"],
        node_monitor_grace_period=seconds["node-monitor-grace-period"],
        lease_duration=seconds["leader-elect-lease-duration"],
        renew_deadline=seconds["leader-elect-renew-deadline"],
        retry_period=seconds["leader-elect-retry-period"],
        node_status_update_frequency=seconds["node-status-update-frequency"],
        not_ready_toleration=int(seconds["default-not-ready-toleration-seconds"]),
        unreachable_toleration=int(seconds["default-unreachable-toleration-seconds"]),
        **from_file,
    )
    check(timings)
    return timings


def pick(found: dict[str, str], known: dict[str, str], *prefixes: str) -> dict[str, str]:
    return {k: v for k, v in found.items() if k in known and k.startswith(prefixes)}


# Feature gates the double models, with the version that turned each on by default and the version that locked it
# on (setting it false is then refused). MixedProtocolLBService (KEP-1435): alpha 1.20 (off), beta 1.24 (on), GA
# 1.26 (locked), removed 1.28 (then an unrecognized gate).
GATES = {"MixedProtocolLBService": (24, 26, 28)}


def feature_gates(words: list[str]) -> dict[str, bool]:
    """Every `--feature-gates` of a component's words, merged as the component's featureGate.Set does (each
    occurrence adds to the earlier ones; a gate named twice: the last wins). A value that is not a boolean stops the
    component with its error; gates the double does not model are kept as given."""
    found: dict[str, bool] = {}
    values = [w.partition("=")[2] for w in words if w.startswith("--feature-gates=")]
    values += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--feature-gates"]
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, equals, text = item.partition("=")
            if not equals:
                raise ArgsError(f'invalid argument "{value}" for "--feature-gates" flag: missing bool value for {name}')
            if text.lower() not in ("1", "t", "true", "0", "f", "false"):
                raise ArgsError(f'invalid argument "{value}" for "--feature-gates" flag: invalid value of {item}, '
                                f'err: strconv.ParseBool: parsing "{text}": invalid syntax')  # fmt: skip
            found[name] = text.lower() in ("1", "t", "true")
    return found


def gate_enabled(minor: int, given: dict[str, bool], name: str) -> bool:
    """Whether a modelled gate is on for this version and these `--feature-gates`: its default unless given; from
    the version that locked it, setting it false stops the component; once removed, naming it does."""
    on_by_default, locked, removed = GATES[name]
    if name in given and minor >= removed:
        raise ArgsError(f"unrecognized feature gate: {name}")
    if minor >= locked:
        if given.get(name) is False:
            raise ArgsError(f"cannot set feature gate {name} to false, feature is locked to true")
        return True
    return given.get(name, minor >= on_by_default)


def apiserver_gate(node: Node, name: str) -> bool:
    """A kube-apiserver feature gate of this node's args file now (kube-apiserver reads it once at start)."""
    return gate_enabled(node.profile.minor, feature_gates(component_words(node, "kube-apiserver")), name)


def parse_flag(name: str, value: str) -> float:
    try:
        if name.endswith("-seconds"):
            if not re.fullmatch(r"[+-]?\d+", value):
                raise ArgsError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
            return float(int(value))
        return duration(value)
    except ArgsError as error:
        raise ArgsError(f'invalid argument "{value}" for "--{name}" flag: {error}') from None


def check(timings: Timings) -> None:
    """What kube-controller-manager's leader election and the double's loops refuse."""
    if timings.lease_duration <= timings.renew_deadline:
        raise ArgsError("leaseDuration must be greater than renewDeadline")
    if timings.renew_deadline <= timings.retry_period * 1.2:
        raise ArgsError("renewDeadline must be greater than retryPeriod*JitterFactor")
    for name in ("node_monitor_period", "node_status_update_frequency", "retry_period"):
        if getattr(timings, name) <= 0:
            raise ArgsError(f"{name.replace('_', '-')} must be positive")
