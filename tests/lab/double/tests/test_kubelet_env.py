# SPDX-License-Identifier: GPL-3.0-or-later
"""A container's command and environment: image defaults, Kubernetes overrides, service links, references."""

from __future__ import annotations

import base64

import pytest
from microk8s_double.kubelet import env

IMAGE = {"Entrypoint": ["/entry"], "Cmd": ["serve", "--port=8080"], "Env": ["PATH=/bin", "MODE=image"]}
POD = {
    "metadata": {"name": "hello-x", "namespace": "web", "uid": "u1", "labels": {"app": "hello"}},
    "spec": {"nodeName": "node1"},
    "status": {"podIP": "10.1.5.7", "hostIP": "10.77.0.11"},
}
OBJECTS = {
    ("configmaps", "web", "cfg"): {"data": {"COLOR": "blue", "SIZE": "L"}},
    ("secrets", "web", "creds"): {"data": {"TOKEN": base64.b64encode(b"s3cret").decode()}},
}


def lookup(kind, namespace, name):
    return OBJECTS.get((kind, namespace, name))


@pytest.mark.parametrize(
    ("container", "argv"),
    [
        ({}, ["/entry", "serve", "--port=8080"]),
        ({"args": ["check"]}, ["/entry", "check"]),
        ({"command": ["/bin/sh"], "args": ["-c", "echo $(MODE)"]}, ["/bin/sh", "-c", "echo image"]),
        ({"command": ["/bin/sh"]}, ["/bin/sh"]),
        ({"args": ["$$(MODE)", "$(UNKNOWN)"]}, ["/entry", "$(MODE)", "$(UNKNOWN)"]),
    ],
)
def test_command_follows_kubernetes_over_the_image(container, argv):
    assert env.command(container, IMAGE, {"MODE": "image"}) == argv


def test_environment_layers_image_services_and_container():
    db_ports = [{"name": "sql", "port": 5432, "protocol": "TCP"}]
    services = [
        {"metadata": {"name": "my-db", "namespace": "web"}, "spec": {"clusterIP": "10.152.183.20", "ports": db_ports}},
        {"metadata": {"name": "headless", "namespace": "web"}, "spec": {"clusterIP": "None", "ports": []}},
    ]
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "MODE", "value": "pod"},
            {"name": "URL", "value": "http://$(MY_DB_SERVICE_HOST):$(MY_DB_SERVICE_PORT)/$(MODE)"},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
        ],
    }
    variables = env.environment(POD, container, IMAGE["Env"], services, lookup)
    assert variables["PATH"] == "/bin"
    assert variables["MODE"] == "pod"
    assert variables["URL"] == "http://10.152.183.20:5432/pod"
    assert variables["MY_DB_PORT"] == "tcp://10.152.183.20:5432"
    assert variables["MY_DB_PORT_5432_TCP_ADDR"] == "10.152.183.20"
    assert variables["MY_DB_SERVICE_PORT_SQL"] == "5432"
    assert not any(k.startswith("HEADLESS") for k in variables)
    assert (variables["CFG_COLOR"], variables["IP"], variables["APP"], variables["TOKEN"]) == (
        "blue", "10.1.5.7", "hello", "s3cret"
    )  # fmt: skip


def test_service_links_can_be_turned_off():
    pod = dict(POD, spec={"enableServiceLinks": False})
    services = [{"metadata": {"name": "db"}, "spec": {"clusterIP": "10.152.183.9", "ports": [{"port": 1}]}}]
    assert "DB_SERVICE_HOST" not in env.environment(pod, {}, [], services, lookup)


def test_missing_references_stop_the_container_unless_optional():
    with pytest.raises(env.ConfigError, match='configmap "nope" not found'):
        env.environment(POD, {"envFrom": [{"configMapRef": {"name": "nope"}}]}, [], [], lookup)
    with pytest.raises(env.ConfigError, match="couldn't find key MISSING in ConfigMap web/cfg"):
        ref = {"configMapKeyRef": {"name": "cfg", "key": "MISSING"}}
        env.environment(POD, {"env": [{"name": "X", "valueFrom": ref}]}, [], [], lookup)
    optional = {"envFrom": [{"secretRef": {"name": "nope", "optional": True}}]}
    assert env.environment(POD, optional, [], [], lookup) == {}
