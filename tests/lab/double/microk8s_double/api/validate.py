# SPDX-License-Identifier: GPL-3.0-or-later
"""The validation errors the real API server answers with 422 Invalid, for the fields of the kinds in use.

`errors(resource, obj)` -> [(field, reason, detail)]: reason is the cause type (FieldValueRequired,
FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate)
and detail the text after the field in kubectl's message.
"""

from __future__ import annotations

import ipaddress
import json
import re

import zoneinfo

from .. import cronschedule

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAMED = ("namespaces", "services")  # names that must be DNS-1123 labels
PATH_NAMED = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")  # path segment names (`system:x`)
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
REQUIRED = ("FieldValueRequired", "Required value")


def errors(resource: str, obj: dict) -> list[tuple[str, str, str]]:
    found = name_errors(resource, obj.get("metadata", {}))
    found += CHECKS.get(resource, lambda _obj: [])(obj)
    return found


def name_errors(resource: str, meta: dict) -> list[tuple[str, str, str]]:
    name = meta.get("name", "")
    if not name:
        return [("metadata.name", *REQUIRED)]
    if resource in PATH_NAMED:  # path.ValidatePathSegmentName
        bad = {".": "may not be '.'", "..": "may not be '..'"}.get(name)
        bad = bad or next((f"may not contain '{c}'" for c in "/%" if c in name), None)
        return [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {bad}')] if bad else []
    label = resource in LABEL_NAMED
    pattern, limit = (DNS_LABEL, 63) if label else (DNS_SUBDOMAIN, 253)
    if len(name) > limit or not pattern.match(name):
        what = "RFC 1123 label" if label else "RFC 1123 subdomain"
        text = (f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric characters, '
                "'-' or '.', and must start and end with an alphanumeric character")  # fmt: skip
        return [("metadata.name", "FieldValueInvalid", text)]
    return []


def pod_spec_errors(spec: dict, field: str) -> list[tuple[str, str, str]]:
    containers = spec.get("containers") or []
    if not containers:
        return [(f"{field}.containers", *REQUIRED)]
    found = []
    for index, container in enumerate(containers):
        where = f"{field}.containers[{index}]"
        found += [(f"{where}.{key}", *REQUIRED) for key in ("name", "image") if not container.get(key)]
        names = set()
        for number, port in enumerate(container.get("ports", [])):
            if not 0 < int(port.get("containerPort", 0)) < 65536:
                found.append(port_error(f"{where}.ports[{number}].containerPort", port.get("containerPort", 0)))
            if port.get("name") and port["name"] in names:  # validateContainerPorts
                found.append(duplicate(f"{where}.ports[{number}].name", f'"{port["name"]}"'))
            names.add(port.get("name"))
    return found


def duplicate(field: str, shown: str) -> tuple[str, str, str]:
    """field.Duplicate: the value as Go's %#v shows it (strings quoted)."""
    return field, "FieldValueDuplicate", f"Duplicate value: {shown}"


def port_error(field: str, value: object) -> tuple[str, str, str]:
    return field, "FieldValueInvalid", f"Invalid value: {value}: must be between 1 and 65535, inclusive"


def pod_errors(obj: dict) -> list[tuple[str, str, str]]:
    return pod_spec_errors(obj.get("spec", {}), "spec")


def controller_errors(obj: dict) -> list[tuple[str, str, str]]:
    """Deployments and ReplicaSets: a non-empty selector that matches the template's labels, a valid template."""
    spec = obj.get("spec", {})
    selector = spec.get("selector") or {}
    labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
    found = []
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        found.append(("spec.selector", *REQUIRED))
    elif any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        text = f"Invalid value: {labels_text(labels)}: `selector` does not match template `labels`"
        found.append(("spec.template.metadata.labels", "FieldValueInvalid", text))
    if int(spec.get("replicas", 1)) < 0:
        found.append(("spec.replicas", "FieldValueInvalid",
                      f"Invalid value: {spec['replicas']}: must be greater than or equal to 0"))  # fmt: skip
    return found + pod_spec_errors(spec.get("template", {}).get("spec", {}), "spec.template.spec")


def restart_policy_errors(spec: dict, field: str, allowed: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """A controller's pod template (`spec`: the object's spec holding `template`) restarting as its kind requires."""
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy", "Always")
    if policy in allowed:
        return []
    supported = ", ".join(f'"{value}"' for value in allowed)
    detail = f'Unsupported value: "{policy}": supported values: {supported}'
    return [(f"{field}.template.spec.restartPolicy", "FieldValueNotSupported", detail)]


def stateful_set_errors(obj: dict) -> list[tuple[str, str, str]]:
    """ValidateStatefulSet: a controller's checks, and pods that always restart."""
    return controller_errors(obj) + restart_policy_errors(obj.get("spec") or {}, "spec", ("Always",))


def job_errors(obj: dict) -> list[tuple[str, str, str]]:
    """ValidateJob: a controller's checks (after the generated selector), and pods that do not restart forever."""
    return controller_errors(obj) + restart_policy_errors(obj.get("spec") or {}, "spec", ("OnFailure", "Never"))


def cron_job_errors(obj: dict) -> list[tuple[str, str, str]]:
    """ValidateCronJob: a schedule robfig/cron parses (no TZ= prefix), a known time zone, a valid job template."""
    spec, found = obj.get("spec") or {}, []
    schedule = spec.get("schedule", "")
    if not schedule:
        found.append(("spec.schedule", *REQUIRED))
    elif "TZ" in schedule:
        found.append(("spec.schedule", "FieldValueInvalid", f'Invalid value: "{schedule}": cannot use TZ or CRON_TZ in'
                      " schedule, use timeZone field instead"))  # fmt: skip
    else:
        try:
            cronschedule.parse(schedule)
        except cronschedule.ScheduleError as error:
            found.append(("spec.schedule", "FieldValueInvalid", f'Invalid value: "{schedule}": {error}'))
    zone = spec.get("timeZone")
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            found.append(("spec.timeZone", "FieldValueInvalid", f'Invalid value: "{zone}": unknown time zone {zone}'))
    template = (spec.get("jobTemplate") or {}).get("spec") or {}
    return found + restart_policy_errors(template, "spec.jobTemplate.spec", ("OnFailure", "Never"))


def stateful_set_mutable(minor: int) -> tuple[str, ...]:
    """The spec fields an update may change: minReadySeconds from 1.22, persistentVolumeClaimRetentionPolicy from
    1.23, ordinals from 1.26 (revisionHistoryLimit only after 1.32, past the double's profiles)."""
    return (
        ("replicas", *(("ordinals",) if minor >= 26 else ()), "template", "updateStrategy")
        + (("persistentVolumeClaimRetentionPolicy",) if minor >= 23 else ())
        + (("minReadySeconds",) if minor >= 22 else ())
    )


def stateful_set_update_errors(obj: dict, old: dict | None, minor: int = 99) -> list[tuple[str, str, str]]:
    """ValidateStatefulSetUpdate: only some spec fields may change, named in the message as the release names them."""
    if old is None:
        return []
    mutable = stateful_set_mutable(minor)
    frozen = [{k: v for k, v in (o.get("spec") or {}).items() if k not in mutable} for o in (obj, old)]
    if frozen[0] == frozen[1]:
        return []
    quoted = [f"'{name}'" for name in mutable]
    listed = ", ".join(quoted[:-1]) + (", and " if minor < 22 else " and ") + quoted[-1]
    text = f"Forbidden: updates to statefulset spec for fields other than {listed} are forbidden"
    return [("spec", "FieldValueForbidden", text)]


def labels_text(labels: dict) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


def service_errors(obj: dict) -> list[tuple[str, str, str]]:
    spec = obj.get("spec", {})
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        quoted = ", ".join(f'"{t}"' for t in SERVICE_TYPES)
        return [("spec.type", "FieldValueNotSupported", f'Unsupported value: "{kind}": supported values: {quoted}')]
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        return [("spec.ports", *REQUIRED)]
    found = []
    for index, port in enumerate(ports):
        if not 0 < int(port.get("port", 0)) < 65536:
            found.append(port_error(f"spec.ports[{index}].port", port.get("port", 0)))
        if len(ports) > 1 and not port.get("name"):
            found.append((f"spec.ports[{index}].name", *REQUIRED))
        elif port.get("name") and port["name"] in [p.get("name") for p in ports[:index]]:
            found.append(duplicate(f"spec.ports[{index}].name", f'"{port["name"]}"'))
    # ValidateService: no two ports with the same (protocol, nodePort), nor the same (protocol, port)
    node_ports = [(p.get("protocol", "TCP"), p.get("nodePort")) for p in ports]
    for index, key in enumerate(node_ports):
        if key[1] and key in node_ports[:index]:
            found.append(duplicate(f"spec.ports[{index}].nodePort", str(key[1])))
    numbers = [(p.get("protocol", "TCP"), p.get("port")) for p in ports]
    for index, (protocol, number) in enumerate(numbers):
        if (protocol, number) in numbers[:index]:
            shown = (f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), Port:{number}, '
                     'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')  # fmt: skip
            found.append(duplicate(f"spec.ports[{index}]", shown))
    return found


def go_service_ports(ports: list[dict]) -> str:
    """The ports as the API server's message prints them (Go's %#v of []core.ServicePort)."""
    shown = []
    for port in ports:
        target = port.get("targetPort", port.get("port"))
        target_text = (f'Type:1, IntVal:0, StrVal:"{target}"' if isinstance(target, str)
                       else f'Type:0, IntVal:{target}, StrVal:""')  # fmt: skip
        shown.append(f'core.ServicePort{{Name:"{port.get("name", "")}", Protocol:"{port.get("protocol", "TCP")}", '
                     f"AppProtocol:(*string)(nil), Port:{port.get('port')}, TargetPort:intstr.IntOrString{{"
                     f"{target_text}}}, NodePort:{port.get('nodePort', 0)}}}")  # fmt: skip
    return "[]core.ServicePort{" + ", ".join(shown) + "}"


def has_mixed_protocols(service: dict | None) -> bool:
    return len({p.get("protocol", "TCP") for p in ((service or {}).get("spec") or {}).get("ports") or []}) > 1


def mixed_protocol_errors(service: dict, old: dict | None) -> list[tuple[str, str, str]]:
    """validateMixedProtocolLBService, while the MixedProtocolLBService gate is off (1.20-1.23 by default): a
    LoadBalancer Service may not mix protocols, unless the stored one already did (an update keeps what exists)."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    if not has_mixed_protocols(service) or has_mixed_protocols(old):
        return []
    ports = (service.get("spec") or {}).get("ports") or []
    detail = (
        f"Invalid value: {go_service_ports(ports)}: may not contain more than 1 protocol when type is 'LoadBalancer'"
    )
    return [("spec.ports", "FieldValueInvalid", detail)]


def csr_errors(obj: dict) -> list[tuple[str, str, str]]:
    from ..auth import csr  # certificates.k8s.io: the authentication side's module

    return csr.errors(obj)


def selector_errors(selector: dict | None, field: str) -> list[tuple[str, str, str]]:
    """ValidateLabelSelector's operator checks (values required for In/NotIn, forbidden for Exists/DoesNotExist)."""
    found = []
    for index, expression in enumerate((selector or {}).get("matchExpressions") or []):
        where, operator = f"{field}.matchExpressions[{index}]", expression.get("operator")
        if operator in ("In", "NotIn") and not expression.get("values"):
            found.append((f"{where}.values", "FieldValueRequired",
                          "Required value: must be specified when `operator` is 'In' or 'NotIn'"))  # fmt: skip
        elif operator in ("Exists", "DoesNotExist") and expression.get("values"):
            found.append((f"{where}.values", "FieldValueForbidden",
                          "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))  # fmt: skip
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            found.append((f"{where}.operator", "FieldValueInvalid",
                          f'Invalid value: "{operator}": not a valid selector operator'))  # fmt: skip
    return found


def policy_port_errors(port: dict, field: str) -> list[tuple[str, str, str]]:
    """ValidateNetworkPolicyPort (pkg/apis/networking/validation)."""
    found = []
    protocol, number, end = port.get("protocol", "TCP"), port.get("port"), port.get("endPort")
    if protocol not in ("TCP", "UDP", "SCTP"):
        found.append((f"{field}.protocol", "FieldValueNotSupported",
                      f'Unsupported value: "{protocol}": supported values: "TCP", "UDP", "SCTP"'))  # fmt: skip
    if isinstance(number, int):
        if not 0 < number < 65536:
            found.append(port_error(f"{field}.port", number))
        if end is not None and end < number:
            found.append((f"{field}.endPort", "FieldValueInvalid",
                          f"Invalid value: {end}: must be greater than or equal to `port`"))  # fmt: skip
        if end is not None and not 0 < end < 65536:
            found.append(port_error(f"{field}.endPort", end))
    elif number is not None:
        if end is not None:
            found.append((f"{field}.endPort", "FieldValueInvalid",
                          f"Invalid value: {end}: may not be specified when `port` is non-numeric"))  # fmt: skip
        found += [(f"{field}.port", "FieldValueInvalid", f'Invalid value: "{number}": {text}')
                  for text in port_name_problems(str(number))]  # fmt: skip
    elif end is not None:
        found.append((f"{field}.endPort", "FieldValueInvalid",
                      f"Invalid value: {end}: may not be specified when `port` is not specified"))  # fmt: skip
    return found


def port_name_problems(name: str) -> list[str]:
    """apimachinery's IsValidPortName (IANA_SVC_NAME)."""
    checks = [
        (len(name) > 15, "must be no more than 15 characters"),
        (not re.match(r"^[-a-z0-9]+$", name), "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        (not re.search(r"[a-z]", name), "must contain at least one letter (a-z)"),
        ("--" in name, "must not contain consecutive hyphens"),
        (name.startswith("-") or name.endswith("-"), "must not begin or end with a hyphen"),
    ]
    return [text for failed, text in checks if failed]


def cidr_error(field: str, value: str) -> list[tuple[str, str, str]]:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [
            (
                field,
                "FieldValueInvalid",
                f'Invalid value: "{value}": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
            )
        ]
    return []


def policy_peer_errors(peer: dict, field: str) -> list[tuple[str, str, str]]:
    """ValidateNetworkPolicyPeer and ValidateIPBlock."""
    kinds = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    found = [e for k in kinds if k != "ipBlock" for e in selector_errors(peer[k], f"{field}.{k}")]
    if not kinds:
        return [(field, "FieldValueRequired", "Required value: must specify a peer")]
    if len(kinds) > 1 and "ipBlock" in kinds:
        return [(field, "FieldValueForbidden", "Forbidden: may not specify both ipBlock and another peer")]
    block = peer.get("ipBlock")
    if block is not None:
        cidr = block.get("cidr") or ""
        if not cidr:
            return [(f"{field}.ipBlock.cidr", *REQUIRED)]
        found += cidr_error(f"{field}.ipBlock.cidr", cidr)
        for index, text in enumerate(block.get("except") or []):
            where = f"{field}.ipBlock.except[{index}]"
            bad = cidr_error(where, text)
            if not found and not bad:
                outer, inner = ipaddress.ip_network(cidr, strict=False), ipaddress.ip_network(text, strict=False)
                if inner.version != outer.version or not inner.subnet_of(outer) or inner.prefixlen <= outer.prefixlen:
                    bad = [(where, "FieldValueInvalid", f'Invalid value: "{text}": must be a strict subset of `cidr`')]
            found += bad
    return found


def network_policy_errors(obj: dict) -> list[tuple[str, str, str]]:
    """ValidateNetworkPolicySpec: selectors, each rule's ports and peers, policyTypes."""
    spec = obj.get("spec", {})
    found = selector_errors(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or []):
            where = f"spec.{direction}[{index}]"
            for number, port in enumerate((rule or {}).get("ports") or []):
                found += policy_port_errors(port, f"{where}.ports[{number}]")
            for number, peer in enumerate((rule or {}).get(peers) or []):
                found += policy_peer_errors(peer or {}, f"{where}.{peers}[{number}]")
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        return [*found, ("spec.policyTypes", "FieldValueInvalid", "Invalid value: " + json.dumps(types)
                         + ": may not specify more than two policyTypes")]  # fmt: skip
    for index, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            found.append((f"spec.policyTypes[{index}]", "FieldValueNotSupported",
                          f'Unsupported value: "{kind}": supported values: "Ingress", "Egress"'))  # fmt: skip
    return found


CHECKS = {"pods": pod_errors, "deployments": controller_errors, "replicasets": controller_errors,
          "statefulsets": stateful_set_errors, "jobs": job_errors, "cronjobs": cron_job_errors,
          "services": service_errors, "networkpolicies": network_policy_errors,
          "certificatesigningrequests": csr_errors}  # fmt: skip
