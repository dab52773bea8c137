# SPDX-License-Identifier: GPL-3.0-or-later
"""What a container runs with: the command (Kubernetes `command`/`args` over the image's Entrypoint/Cmd), the
environment (image Env, then service links, then the container's env/envFrom, `$(VAR)` expanded as the kubelet
does) and the working directory."""

from __future__ import annotations

import base64
import re
from typing import Callable

# (kind, namespace, name) -> the ConfigMap or Secret, None when missing
Lookup = Callable[[str, str, str], "dict | None"]
SINGULAR = {"configmaps": "configmap", "secrets": "secret"}
KINDS = {"configmaps": "ConfigMap", "secrets": "Secret"}
REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, variables: dict) -> str:
    """`$(VAR)` from variables (left as is when unknown), `$$` is a literal `$`."""
    return REFERENCE.sub(lambda m: "$" if m.group(0) == "$$" else variables.get(m.group(1), m.group(0)), text)


def command(container: dict, image_config: dict, variables: dict) -> list[str]:
    entrypoint, cmd = image_config.get("Entrypoint") or [], image_config.get("Cmd") or []
    if container.get("command"):
        argv = container["command"] + (container.get("args") or [])
    elif container.get("args"):
        argv = entrypoint + container["args"]
    else:
        argv = entrypoint + cmd
    return [expand(arg, variables) for arg in argv]


def service_links(services: list[dict]) -> dict:
    """docker-link style variables for each service with a cluster IP (kubelet's getServiceEnvVarMap)."""
    variables = {}
    for service in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = service.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        variables[f"{prefix}_SERVICE_HOST"] = ip
        variables[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                variables[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        first = ports[0]
        variables[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for port in ports:
            protocol = port.get("protocol", "TCP")
            base = f"{prefix}_PORT_{port['port']}_{protocol}"
            variables[base] = f"{protocol.lower()}://{ip}:{port['port']}"
            variables[f"{base}_PROTO"] = protocol.lower()
            variables[f"{base}_PORT"] = str(port["port"])
            variables[f"{base}_ADDR"] = ip
    return variables


def field_value(pod: dict, path: str) -> str:
    meta, status = pod["metadata"], pod.get("status") or {}
    annotations = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if annotations:
        return (meta.get(annotations.group(1)) or {}).get(annotations.group(2), "")
    values = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
    }
    return values.get(path, "")


class ConfigError(Exception):
    """A referenced ConfigMap/Secret or key is missing: the container waits in CreateContainerConfigError."""


def source_data(kind: str, namespace: str, ref: dict, lookup: Lookup) -> dict:
    obj = lookup(kind, namespace, ref["name"])
    if obj is None:
        if ref.get("optional"):
            return {}
        raise ConfigError(f'{SINGULAR[kind]} "{ref["name"]}" not found')
    if kind == "secrets":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def environment(pod: dict, container: dict, image_env: list[str], services: list[dict], lookup: Lookup) -> dict:
    namespace = pod["metadata"]["namespace"]
    variables = dict(item.split("=", 1) for item in image_env if "=" in item)
    variables.update(service_links(services) if pod["spec"].get("enableServiceLinks", True) else {})
    for source in container.get("envFrom") or []:
        kind = "secrets" if source.get("secretRef") else "configmaps"
        ref = source.get("secretRef") or source["configMapRef"]
        for key, value in source_data(kind, namespace, ref, lookup).items():
            variables[source.get("prefix", "") + key] = value
    for item in container.get("env") or []:
        variables[item["name"]] = env_value(pod, item, variables, lookup)
    return variables


def env_value(pod: dict, item: dict, variables: dict, lookup: Lookup) -> str:
    source = item.get("valueFrom")
    if not source:
        return expand(item.get("value", ""), variables)
    if source.get("fieldRef"):
        return field_value(pod, source["fieldRef"]["fieldPath"])
    for key, kind in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
        ref = source.get(key)
        if ref:
            data = source_data(kind, pod["metadata"]["namespace"], ref, lookup)
            if ref["key"] not in data and not ref.get("optional"):
                where = f"{pod['metadata']['namespace']}/{ref['name']}"
                raise ConfigError(f"couldn't find key {ref['key']} in {KINDS[kind]} {where}")
            return data.get(ref["key"], "")
    return ""
