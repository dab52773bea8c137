# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of the tls_ingress role: its settings' problems (the acme_http01 preflight among them) and the
device trust bundle's formats (a C header for ESP32/ESP8266 sketches, an Android network_security_config)."""

from __future__ import annotations

import base64
import ipaddress
import re

MODES = ("local_ca", "acme_http01", "acme_dns01")
TSIG_ALGORITHMS = ("HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)


def _is_domain(name):
    labels = str(name).rstrip(".").split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


def wan_problems(mode, wan_address, port80_open):
    """Why ACME HTTP-01 cannot work from here: the CA must reach http://<name>/.well-known/acme-challenge/ on port 80
    of the site's public address. Carrier-grade NAT (RFC 6598, 100.64.0.0/10) means the router's WAN address is not
    public and no port forward can help; port 80 must be confirmed open from outside."""
    if mode != "acme_http01":
        return []
    if not wan_address:
        return [
            "tls_ingress_mode acme_http01 needs tls_ingress_wan_address (the router's WAN address, as the router's "
            "status page shows it)"
        ]
    try:
        address = ipaddress.ip_address(str(wan_address))
    except ValueError:
        return ["tls_ingress_wan_address '%s' is not an IP address" % wan_address]
    problems = []
    if address.version == 4 and address in CGNAT:
        problems.append(
            "tls_ingress_wan_address %s is in 100.64.0.0/10: the provider's carrier-grade NAT sits in front of the "
            "router, so no port forward can make port 80 reachable and ACME HTTP-01 cannot pass; use acme_dns01 or "
            "local_ca, or an outbound tunnel (README)" % address
        )
    elif address.is_private or address.is_loopback or address.is_unspecified or address.is_link_local:
        problems.append(
            "tls_ingress_wan_address %s is not a public address: ACME HTTP-01 needs the name to point at a public "
            "address whose port 80 reaches the ingress" % address
        )
    if not port80_open:
        problems.append(
            "acme_http01 needs port 80 reachable from outside: forward TCP 80 (and 443) on the router to the ingress "
            "address, check it from outside your network, then set tls_ingress_wan_port80_open: true"
        )
    return problems


def tls_ingress_problems(settings):
    """Everything wrong with the role's settings, as sentences (empty: fine). `settings` holds the role's variables
    without their `tls_ingress_` prefix, plus `domain` (onprem_cluster_domain)."""
    s = dict(settings)
    mode = s.get("mode")
    problems = []
    if mode not in MODES:
        return ["tls_ingress_mode must be one of %s (it is '%s')" % (", ".join(MODES), mode)]
    if not _is_domain(s.get("domain", "")):
        problems.append("onprem_cluster_domain '%s' is not a DNS domain (e.g. home.arpa)" % s.get("domain"))
    address = s.get("address") or ""
    if address:
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            problems.append("tls_ingress_address '%s' is not an IP address" % address)
    if mode.startswith("acme_"):
        server = str(s.get("acme_server") or "")
        if not server.startswith("https://"):
            problems.append("tls_ingress_acme_server must be an https:// ACME directory URL (it is '%s')" % server)
        if "@" not in str(s.get("acme_email") or ""):
            problems.append("tls_ingress_acme_email must be an e-mail address for the ACME account")
        if s.get("acme_ca_bundle") and not _PEM.search(str(s["acme_ca_bundle"])):
            problems.append("tls_ingress_acme_ca_bundle must hold PEM certificates")
    if mode == "acme_dns01":
        for key in ("rfc2136_nameserver", "rfc2136_tsig_key_name", "rfc2136_tsig_secret"):
            if not s.get(key):
                problems.append("tls_ingress_mode acme_dns01 needs tls_ingress_%s" % key)
        if s.get("rfc2136_tsig_algorithm") not in TSIG_ALGORITHMS:
            problems.append("tls_ingress_rfc2136_tsig_algorithm must be one of %s" % ", ".join(TSIG_ALGORITHMS))
    problems += wan_problems(mode, s.get("wan_address"), s.get("wan_port80_open"))
    names = []
    for device in s.get("devices") or []:
        name = str((device or {}).get("name", ""))
        if not _LABEL.match(name):
            problems.append("tls_ingress_devices: '%s' is not a lowercase DNS label" % name)
        if (device or {}).get("state", "present") not in ("present", "revoked"):
            problems.append("tls_ingress_devices: %s's state must be present or revoked" % name)
        if name in names:
            problems.append("tls_ingress_devices: %s is listed twice" % name)
        names.append(name)
    for app in s.get("apps") or []:
        if not _LABEL.match(str((app or {}).get("name", ""))):
            problems.append("tls_ingress_apps: '%s' is not a lowercase DNS label" % (app or {}).get("name"))
    return problems


def pem_to_der_b64(pem):
    """The first certificate of a PEM text as base64 DER (for ansible.builtin.copy's content via b64decode)."""
    found = _PEM.search(str(pem))
    if not found:
        raise ValueError("no PEM certificate found")
    der = base64.b64decode("".join(found.group(1).split()))
    return base64.b64encode(der).decode("ascii")


def c_header(pem, variable="ca_pem"):
    """A C header holding the PEM as one string constant, for WiFiClientSecure.setCACert() (ESP32) or
    BearSSL::X509List (ESP8266)."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable):
        raise ValueError("not a C identifier: %s" % variable)
    lines = [line for line in str(pem).strip().splitlines() if line.strip()]
    guard = variable.upper() + "_H"
    body = "\n".join('    "%s\\n"' % line.strip() for line in lines)
    return (
        "/* The cluster's root CA (onprem.microk8s tls_ingress). ESP32: client.setCACert(%s);\n"
        " * ESP8266: BearSSL::X509List cert(%s); client.setTrustAnchors(&cert); */\n"
        "#ifndef %s\n#define %s\n\nconst char *%s =\n%s;\n\n#endif\n"
        % (variable, variable, guard, guard, variable, body)
    )


def android_network_security_config(domain, raw_name="onprem_ca"):
    """res/xml/network_security_config.xml trusting the CA (res/raw/<raw_name>, the DER or PEM file) for the
    cluster's domain and its subdomains only, never for the rest of the internet."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<!-- Put the CA file at res/raw/%s.crt and reference this file from AndroidManifest.xml:\n"
        '     <application android:networkSecurityConfig="@xml/network_security_config" ...> -->\n'
        "<network-security-config>\n"
        "    <domain-config>\n"
        '        <domain includeSubdomains="true">%s</domain>\n'
        "        <trust-anchors>\n"
        '            <certificates src="@raw/%s" />\n'
        "        </trust-anchors>\n"
        "    </domain-config>\n"
        "</network-security-config>\n" % (raw_name, domain, raw_name)
    )


def held(secrets, names):
    """Secret name -> its data for each of `names`, from a list of Secrets (k8s_info resources); an empty dict for a
    name no Secret has yet (a certificate not issued)."""
    data = {s["metadata"]["name"]: s.get("data") or {} for s in secrets or []}
    return {name: data.get(name, {}) for name in names}


DEVICE_FILES = (("tls.crt", "crt"), ("tls.key", "key"), ("ca.crt", "ca.crt"))


def device_files(held, present, directory):
    """The controller's files of each present device whose Secret holds its certificate yet: `<name>.crt`, `.key` and
    `.ca.crt` under `<directory>/devices`, for onprem.microk8s.controller_files. `held`: Secret name -> its data."""
    files = []
    for device in present:
        data = held.get("device-%s" % device["name"]) or {}
        if "tls.crt" not in data:
            continue
        for key, ext in DEVICE_FILES:
            path = "%s/devices/%s.%s" % (directory, device["name"], ext)
            files.append({"path": path, "content": base64.b64decode(data[key]).decode()})
    return files


def crl_current(crl_pem, issuer_cn, revoked_pems):
    """Whether a CRL (PEM; empty: none yet) names `issuer_cn` as its issuer and lists exactly the serials of the
    revoked certificates (PEMs): then it need not be signed again. Read with cryptography, not community.crypto's
    x509_crl_info filter, which warns on every run with cryptography 42+ (naive datetimes)."""
    if not crl_pem:
        return False
    # Imported here, not at the top: Ansible imports every filter file of the collection in each task's worker
    # process to find one filter by name, and cryptography.x509 was most of that import time (about 20 ms a task).
    try:  # community.crypto's dependency on the controller
        from cryptography import x509
        from cryptography.x509.oid import NameOID
    except ImportError as error:
        raise ValueError(f"tls_ingress_crl_current needs the cryptography package: {error}") from error
    try:
        crl = x509.load_pem_x509_crl(crl_pem.encode())
    except ValueError:
        return False  # not a CRL: sign it again
    issuer = [attribute.value for attribute in crl.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)]
    listed = sorted(revoked.serial_number for revoked in crl)
    wanted = sorted(x509.load_pem_x509_certificate(pem.encode()).serial_number for pem in revoked_pems)
    return issuer == [issuer_cn] and listed == wanted


class FilterModule:
    def filters(self):
        return {
            "tls_ingress_problems": tls_ingress_problems,
            "tls_ingress_der": pem_to_der_b64,
            "tls_ingress_c_header": c_header,
            "tls_ingress_android_config": android_network_security_config,
            "tls_ingress_device_files": device_files,
            "tls_ingress_held": held,
            "tls_ingress_crl_current": crl_current,
        }
