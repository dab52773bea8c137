# SPDX-License-Identifier: GPL-3.0-or-later
"""The validation errors the real API server answers with 422 Invalid, for the fields of the kinds in use.

`errors(resource, obj)` -> [(field, reason, detail)]: reason is the cause type (FieldValueRequired,
FieldValueInvalid, FieldValueNotSupported) and detail the text after the field in kubectl's message.
"""

from __future__ import annotations

import re

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
        for number, port in enumerate(container.get("ports", [])):
            if not 0 < int(port.get("containerPort", 0)) < 65536:
                found.append(port_error(f"{where}.ports[{number}].containerPort", port.get("containerPort", 0)))
    return found


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
    return found


CHECKS = {"pods": pod_errors, "deployments": controller_errors, "replicasets": controller_errors,
          "services": service_errors}  # fmt: skip
