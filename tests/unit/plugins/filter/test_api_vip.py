# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pathlib

import jinja2
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.onprem.microk8s.plugins.filter.api_vip import csr_ip_line

NODES = ["10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14"]
METALLB = "10.77.0.240-10.77.0.250"
TEMPLATE = pathlib.Path(__file__).parents[4] / "roles" / "api_vip" / "templates" / "keepalived.conf.j2"
CSR = "[ alt_names ]\nDNS.1 = kubernetes\nIP.1 = 127.0.0.1\nIP.2 = 10.152.183.1\n#MOREIPS\n"


def test_csr_line_takes_the_next_id_then_keeps_it():
    assert csr_ip_line(CSR, "10.77.0.10") == "IP.3 = 10.77.0.10"
    with_vip = CSR.replace("#MOREIPS", "IP.3 = 10.77.0.10\n#MOREIPS")
    assert csr_ip_line(with_vip, "10.77.0.10") == "IP.3 = 10.77.0.10"  # same line: lineinfile changes nothing
    assert csr_ip_line(with_vip, "10.77.0.9") == "IP.4 = 10.77.0.9"


def render(**overrides):
    values = {
        "ansible_managed": "managed",
        "inventory_hostname": "node1",
        "onprem_api_vip": "10.77.0.10",
        "api_vip_apiserver_port": 16443,
        "api_vip_check_interval": 2,
        "api_vip_check_fall": 2,
        "api_vip_check_rise": 2,
        "api_vip_virtual_router_id": 51,
        "api_vip_advert_int": 1,
        "api_vip_preempt": False,
        "_api_vip_interface": "eth0",
        "_api_vip_address": "10.77.0.11",
        "_api_vip_peers": ["10.77.0.12", "10.77.0.13"],
        "_api_vip_priority": 150,
    }
    values.update(overrides)
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)  # Ansible's template settings
    env.filters["bool"] = boolean
    return env.from_string(TEMPLATE.read_text()).render(**values)


def test_keepalived_config_unicast_health_checked():
    conf = render()
    assert "unicast_src_ip 10.77.0.11" in conf
    assert "unicast_peer {\n        10.77.0.12\n        10.77.0.13\n    }" in conf
    assert "10.77.0.10/32 dev eth0" in conf
    assert "https://127.0.0.1:16443/livez" in conf
    assert "track_script {\n        onprem_apiserver\n    }" in conf
    assert "nopreempt" in conf and "state BACKUP" in conf
    assert "weight" not in conf  # a failing check puts the node in FAULT: it drops the VIP whatever its priority
    assert "nopreempt" not in render(api_vip_preempt=True)
    assert "nopreempt" not in render(api_vip_preempt="true")  # -e api_vip_preempt=true is a string
