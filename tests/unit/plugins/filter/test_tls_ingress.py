# SPDX-License-Identifier: GPL-3.0-or-later
"""The tls_ingress role's pure helpers: its settings' problems (acme_http01's CGNAT preflight among them) and the
device trust bundle's formats, checked with the tools a device developer uses (a C compiler, openssl, an XML
parser)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.tls_ingress import (
    android_network_security_config,
    c_header,
    device_files,
    held,
    pem_to_der_b64,
    tls_ingress_problems,
)

BASE = {"mode": "local_ca", "domain": "home.arpa", "address": "", "devices": [], "apps": []}
HTTP01 = dict(
    BASE,
    mode="acme_http01",
    acme_server="https://acme-v02.api.letsencrypt.org/directory",
    acme_email="me@example.org",
    wan_address="81.2.69.160",
    wan_port80_open=True,
)


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
         "/CN=home.arpa root CA", "-days", "1", "-keyout", str(directory / "k"), "-out", str(directory / "c.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return (directory / "c.pem").read_text()


def test_the_defaults_pass():
    assert tls_ingress_problems(BASE) == []


def test_an_unknown_mode_is_refused_alone():
    assert tls_ingress_problems(dict(BASE, mode="letsencrypt")) == [
        "tls_ingress_mode must be one of local_ca, acme_http01, acme_dns01 (it is 'letsencrypt')"
    ]


def test_a_public_wan_with_port_80_open_passes_http01():
    assert tls_ingress_problems(HTTP01) == []


@pytest.mark.parametrize("address", ["100.64.0.1", "100.100.7.9", "100.127.255.254"])
def test_carrier_grade_nat_refuses_http01(address):
    problems = tls_ingress_problems(dict(HTTP01, wan_address=address))
    assert len(problems) == 1 and "is in 100.64.0.0/10" in problems[0] and "carrier-grade NAT" in problems[0]


@pytest.mark.parametrize("address", ["100.63.255.255", "100.128.0.1"])
def test_the_edges_of_the_cgnat_range_are_public(address):
    assert tls_ingress_problems(dict(HTTP01, wan_address=address)) == []


def test_http01_needs_port_80_stated_open_a_public_address_and_a_wan_address():
    assert "needs port 80 reachable from outside" in tls_ingress_problems(dict(HTTP01, wan_port80_open=False))[0]
    assert "is not a public address" in tls_ingress_problems(dict(HTTP01, wan_address="10.0.0.2"))[0]
    assert "needs tls_ingress_wan_address" in tls_ingress_problems(dict(HTTP01, wan_address=""))[0]
    assert "is not an IP address" in tls_ingress_problems(dict(HTTP01, wan_address="router.lan"))[0]
    # DNS-01 never needs the WAN side.
    dns01 = dict(HTTP01, mode="acme_dns01", wan_address="100.64.0.1", wan_port80_open=False,
                 rfc2136_nameserver="10.0.0.53:53", rfc2136_tsig_key_name="k", rfc2136_tsig_secret="c2VjcmV0",
                 rfc2136_tsig_algorithm="HMACSHA256")  # fmt: skip
    assert tls_ingress_problems(dns01) == []


def test_dns01_needs_its_server_and_key_and_acme_its_account():
    problems = tls_ingress_problems(dict(BASE, mode="acme_dns01", acme_server="http://x", acme_email="",
                                         rfc2136_tsig_algorithm="HMACSHA3"))  # fmt: skip
    assert problems == [
        "tls_ingress_acme_server must be an https:// ACME directory URL (it is 'http://x')",
        "tls_ingress_acme_email must be an e-mail address for the ACME account",
        "tls_ingress_mode acme_dns01 needs tls_ingress_rfc2136_nameserver",
        "tls_ingress_mode acme_dns01 needs tls_ingress_rfc2136_tsig_key_name",
        "tls_ingress_mode acme_dns01 needs tls_ingress_rfc2136_tsig_secret",
        "tls_ingress_rfc2136_tsig_algorithm must be one of HMACMD5, HMACSHA1, HMACSHA256, HMACSHA512",
    ]


def test_devices_domain_and_address_are_checked():
    problems = tls_ingress_problems(
        dict(BASE, domain="home", address="10.77.0.300",
             devices=[{"name": "Pi_1"}, {"name": "esp", "state": "lost"}, {"name": "esp"}])
    )  # fmt: skip
    assert problems == [
        "onprem_cluster_domain 'home' is not a DNS domain (e.g. home.arpa)",
        "tls_ingress_address '10.77.0.300' is not an IP address",
        "tls_ingress_devices: 'Pi_1' is not a lowercase DNS label",
        "tls_ingress_devices: esp's state must be present or revoked",
        "tls_ingress_devices: esp is listed twice",
    ]


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_the_c_header_compiles_and_holds_the_pem_byte_for_byte(ca_pem, tmp_path):
    (tmp_path / "ca_pem.h").write_text(c_header(ca_pem))
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "ca_pem.h"\nint main(void){fputs(ca_pem, stdout);}\n'
    )
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(tmp_path / "a"), str(tmp_path / "main.c")], check=True)
    printed = subprocess.run([str(tmp_path / "a")], check=True, capture_output=True, text=True).stdout
    assert printed == ca_pem.strip() + "\n"
    assert "const char *ca_pem =" in c_header(ca_pem)
    with pytest.raises(ValueError):
        c_header(ca_pem, "not-c")


def test_der_is_what_openssl_makes(ca_pem):
    der = subprocess.run(["openssl", "x509", "-outform", "der"], input=ca_pem.encode(), capture_output=True, check=True)
    assert base64.b64decode(pem_to_der_b64(ca_pem)) == der.stdout


def test_the_android_config_trusts_the_ca_for_the_domain_only():
    root = ET.fromstring(android_network_security_config("home.arpa").split("\n", 1)[1])
    [config] = root.findall("domain-config")
    domain = config.find("domain")
    assert (domain.text, domain.get("includeSubdomains")) == ("home.arpa", "true")
    assert [c.get("src") for c in config.find("trust-anchors")] == ["@raw/onprem_ca"]
    assert root.find("base-config") is None  # the rest of the internet keeps the system's trust


def test_device_files_are_each_present_devices_certificate_key_and_ca_once_its_secret_holds_them():
    def b64(text):
        return base64.b64encode(text.encode()).decode()

    held = {
        "device-pi1": {"tls.crt": b64("CRT1"), "tls.key": b64("KEY1"), "ca.crt": b64("CA")},
        "device-pi2": {},  # its Certificate not issued yet
        "device-old": {"tls.crt": b64("CRT0"), "tls.key": b64("KEY0"), "ca.crt": b64("CA")},  # not present any more
    }
    files = device_files(held, [{"name": "pi1"}, {"name": "pi2"}, {"name": "pi3"}], "tls/home")
    assert files == [
        {"path": "tls/home/devices/pi1.crt", "content": "CRT1"},
        {"path": "tls/home/devices/pi1.key", "content": "KEY1"},
        {"path": "tls/home/devices/pi1.ca.crt", "content": "CA"},
    ]


def test_held_maps_each_wanted_secret_to_its_data_and_an_unissued_one_to_nothing():
    secrets = [
        {"metadata": {"name": "device-pi1"}, "data": {"tls.crt": "Y3J0"}},
        {"metadata": {"name": "device-auth"}, "data": {"ca.crt": "Y2E="}},  # in the namespace, not wanted
        {"metadata": {"name": "onprem-device-ca"}},  # a Secret without data yet
    ]
    assert held(secrets, ["device-pi1", "device-pi2", "onprem-device-ca"]) == {
        "device-pi1": {"tls.crt": "Y3J0"},
        "device-pi2": {},
        "onprem-device-ca": {},
    }
