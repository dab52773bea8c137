# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab inventory's tls_ingress_apps: the inference service is published by name (mutual TLS) only when it is on,
so a lab without it (CI) sees the same apps as before."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = pathlib.Path(__file__).resolve().parents[3]
HELLO = {"name": "hello-devices", "service": "hello", "port": 8081, "client_auth": True}


def apps(**facts):
    """The committed expression rendered as Ansible renders it (inventory files are trusted templates)."""
    group_vars = yaml.safe_load((REPO / "inventories/lab/group_vars/all.yml").read_text())
    return Templar(loader=DataLoader(), variables=facts).template(trust_as_template(group_vars["tls_ingress_apps"]))


@pytest.mark.parametrize("facts", [{}, {"inference_service_enabled": False}])
def test_without_the_inference_service_only_hello_devices_is_published(facts):
    assert apps(**facts) == [HELLO]


def test_with_the_inference_service_it_is_published_with_device_certificates():
    assert apps(inference_service_enabled=True) == [
        HELLO,
        {"name": "inference", "namespace": "default", "service": "inference", "port": 8080, "client_auth": True},
    ]
    custom = apps(inference_service_enabled=True, inference_service_name="ai", inference_service_port=9000)
    assert custom[1]["service"] == "ai" and custom[1]["port"] == 9000
