# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the cluster_names role: the CoreDNS server block for the cluster's domain, its place in the dns
addon's Corefile (between marks, so a re-run finds it in place), the names' problems and the records for a
router. Pure functions: no I/O."""

from __future__ import annotations

import ipaddress
import re

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MARK = "# {mark} onprem.microk8s cluster_names"


def names_problems(domain, apps, address=""):
    """What is wrong with the domain, the app names and the requested DNS address (empty list: nothing)."""
    problems = []
    labels = str(domain or "").rstrip(".").split(".")
    if not domain or len(str(domain)) > 253 or not all(LABEL.match(label) for label in labels):
        problems.append(f"cluster_names_domain {domain!r} is not a DNS name (lower-case labels a-z, 0-9, '-')")
    if not apps:
        problems.append("cluster_names_apps is empty: name at least one app")
    for app in apps or []:
        if not LABEL.match(str(app)):
            problems.append(f"cluster_names_apps: {app!r} is not a DNS label (a-z, 0-9, '-', at most 63)")
    if address:
        try:
            ipaddress.IPv4Address(str(address))
        except ValueError:
            problems.append(f"cluster_names_dns_address {address!r} is not an IPv4 address")
    return problems


def app_names(apps, domain):
    return [f"{app}.{str(domain).rstrip('.')}" for app in apps or []]


def coredns_block(domain, apps, address):
    """A CoreDNS server block answering the apps' names with the ingress address (the `hosts` plugin); other names
    of the domain get NXDOMAIN from it, nothing of the domain is forwarded upstream."""
    zone = str(domain).rstrip(".")
    lines = [f"{zone}:53 {{", "    errors", "    hosts {"]
    lines += [f"        {address} {name}" for name in app_names(apps, domain)]
    lines += ["    }", "    cache 30", "}"]
    return "\n".join(lines) + "\n"


def corefile_with_block(corefile, block):
    """The Corefile with `block` between the role's BEGIN/END marks: replaced where the marks are, appended when
    they are not (removed when block is empty). Everything else stays as it was."""
    text = corefile or ""
    begin, end = MARK.replace("{mark}", "BEGIN"), MARK.replace("{mark}", "END")
    pattern = re.compile(r"\n?" + re.escape(begin) + r"\n.*?" + re.escape(end) + r"\n?", re.S)
    body = "" if not block else f"{begin}\n{block if block.endswith(chr(10)) else block + chr(10)}{end}\n"
    if pattern.search(text):
        return pattern.sub(lambda _m: ("\n" + body) if body else "\n", text, count=1)
    if not body:
        return text
    return text + ("" if text.endswith("\n") or not text else "\n") + body


def router_records(domain, apps, address):
    """The records to give a router's local DNS (zone-file lines and dnsmasq's form)."""
    names = app_names(apps, domain)
    return [f"{name}. 300 IN A {address}" for name in names] + [f"host-record={name},{address}" for name in names]


def dnsmasq_args(domain, apps, address):
    """The arguments of the LAN DNS server (dnsmasq): the apps' names, NXDOMAIN for the rest of the domain, nothing
    forwarded (no upstream: not an open resolver), logs on stdout, in the foreground."""
    zone = str(domain).rstrip(".")
    args = ["--keep-in-foreground", "--no-resolv", "--no-hosts", "--log-facility=-", "--user=root", "--port=53",
            "--local-ttl=60", "--pid-file=", f"--local=/{zone}/"]  # fmt: skip
    args += [f"--host-record={name},{address}" for name in app_names(apps, domain)]
    return args


DNS_SERVICE = "onprem-names-dns"
SHARING_KEY = "onprem-names-dns"
LAYOUTS = ("auto", "mixed", "split")
# Kubernetes accepts a LoadBalancer Service with UDP and TCP from 1.24 (MixedProtocolLBService: alpha and off
# 1.20-1.23, beta and on 1.24, GA 1.26).
MIXED_SINCE = 24


def _minor(version):
    match = re.match(r"^v?1\.(\d+)(?:\.|$)", str(version or ""))
    return int(match.group(1)) if match else None


def dns_services_plan(existing, version, wanted="auto", address=""):
    """How the LAN DNS server is offered on this version: one Service with UDP and TCP 53 where the API server
    accepts mixed protocols (1.24+), else two Services (UDP, TCP) sharing one MetalLB address by the
    allow-shared-ip key. `existing`: the role's Services now (dicts with metadata.name and status); the returned
    `stale` ones belong to the other layout (an upgrade 1.23 -> 1.24) and go; `address`: the requested one, else the
    address the stale Services held (kept across the switch), else empty (MetalLB picks)."""
    minor = _minor(version)
    problems = []
    if wanted not in LAYOUTS:
        problems.append(f"cluster_names_lan_dns_services {wanted!r} is not one of {', '.join(LAYOUTS)}")
    if minor is None:
        problems.append(f"cannot tell the Kubernetes version from {version!r} (is MicroK8s installed?)")
    elif wanted == "mixed" and minor < MIXED_SINCE:
        problems.append(
            f"cluster_names_lan_dns_services: mixed needs Kubernetes 1.{MIXED_SINCE}+: MicroK8s {version} refuses a "
            "LoadBalancer Service with both UDP and TCP (the MixedProtocolLBService feature gate is off before 1.24); "
            "use auto (two Services, UDP and TCP, sharing one MetalLB address)"
        )
    mixed = wanted == "mixed" or (wanted == "auto" and minor is not None and minor >= MIXED_SINCE)
    if mixed:
        services = [{"name": DNS_SERVICE, "protocols": ["UDP", "TCP"], "sharing_key": ""}]
    else:
        services = [{"name": f"{DNS_SERVICE}-{p.lower()}", "protocols": [p], "sharing_key": SHARING_KEY}
                    for p in ("UDP", "TCP")]  # fmt: skip
    names = [s["name"] for s in services]
    stale = [s for s in existing or [] if s.get("metadata", {}).get("name") not in names]
    held = [
        ingress.get("ip")
        for s in stale
        for ingress in (s.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        if ingress.get("ip")
    ]
    return {
        "layout": "mixed" if mixed else "split",
        "services": services,
        "stale": sorted(s["metadata"]["name"] for s in stale),
        "address": str(address or "") or (held[0] if held else ""),
        "problems": problems,
    }


class FilterModule:
    def filters(self):
        return {
            "cluster_names_problems": names_problems,
            "cluster_names_coredns_block": coredns_block,
            "cluster_names_corefile": corefile_with_block,
            "cluster_names_router_records": router_records,
            "cluster_names_dnsmasq_args": dnsmasq_args,
            "cluster_names_dns_services_plan": dns_services_plan,
        }
