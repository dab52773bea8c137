# SPDX-License-Identifier: GPL-3.0-or-later
"""Names in the converged lab (roles/cluster_names, issue 11): apps at <app>.home.arpa.

- From client1 (the outside machine) with its resolver pointed at the role's DNS address (a LoadBalancer Service),
  hello.home.arpa resolves to the ingress' LoadBalancer address; other names of the domain do not resolve.
- The dns addon's Corefile holds the role's server block with that address (the double runs no CoreDNS, so a pod's
  own lookup through it cannot be checked here; on real MicroK8s CoreDNS reloads the block).
- A second run changes nothing.
- UDP and TCP 53 answer on the DNS address from client1 (a query of each, by hand: client1 has no dig): on 1.24+ one
  LoadBalancer Service carries both; on 1.20-1.23, where kube-apiserver refuses mixed protocols, two Services (UDP,
  TCP) share the address through MetalLB's allow-shared-ip (run the lab with `--profile 1.23` to check that side).
- HTTP-01 against the lab's pebble on client1: an ACME ClusterIssuer (applied with kubectl, the fields tls_ingress'
  templates use) issues hello.home.arpa through the ingress within 60 s.

Until the tls_ingress role's Service exists, the test makes the ingress' LoadBalancer Service itself (labelled
onprem.microk8s/component=ingress, selecting the ingress addon's pods).
"""

from __future__ import annotations

import base64
import json
import pathlib
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from conftest import REPO, changed, failure_messages, node, site

sys.path.insert(0, str(REPO / "tests" / "lab"))

from images import dns as dns_image
from labkit import acme_lab, plan

DOMAIN = "home.arpa"
CLIENT = plan.CLIENT_NAME
INGRESS_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "onprem-ingress-lb",
        "namespace": "ingress",
        "labels": {"onprem.microk8s/component": "ingress"},
    },
    "spec": {
        "type": "LoadBalancer",
        "selector": {"name": "nginx-ingress-microk8s"},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443, "protocol": "TCP"}],
    },
}


def kubectl(*args, stdin=None, check=True):
    done = subprocess.run(
        ["lxc", "exec", "node1", "--", "/snap/bin/microk8s", "kubectl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def get(kind, name, namespace=None):
    args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
    out = kubectl(*args, check=False)
    return json.loads(out) if out.strip() else None


def wait(what, probe, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout} s")


def lb_address(service):
    return ((service or {}).get("status", {}).get("loadBalancer", {}).get("ingress") or [{}])[0].get("ip")


@pytest.fixture(scope="module")
def ingress_ip(lab):
    labelled = json.loads(kubectl("get", "services", "-A", "-l", "onprem.microk8s/component=ingress", "-o", "json"))
    if not labelled["items"]:
        kubectl("apply", "-f", "-", stdin=json.dumps(INGRESS_SERVICE))
    return wait(
        "the ingress' LoadBalancer address",
        lambda: next(
            (
                lb_address(s)
                for s in json.loads(
                    kubectl("get", "services", "-A", "-l", "onprem.microk8s/component=ingress", "-o", "json")
                )["items"]
                if lb_address(s)
            ),
            None,
        ),
        60,
    )


@pytest.fixture(scope="module")
def names(lab, ingress_ip, tmp_path_factory):
    archive = dns_image.build(None, REPO / "tests" / "lab" / ".build" / "images", dns_image.REF)
    tmp = tmp_path_factory.mktemp("names")
    extravars = {"cluster_names_image_archive": str(archive)}
    started = time.monotonic()
    run, out = site(tmp, playbook="playbooks/cluster_names.yml", extravars=extravars)
    assert run.status == "successful", failure_messages(run) or out[-3000:]
    first = time.monotonic() - started
    again, out2 = site(tmp, playbook="playbooks/cluster_names.yml", extravars=extravars)
    assert again.status == "successful", failure_messages(again) or out2[-3000:]
    checked, out3 = site(tmp, playbook="playbooks/cluster_names.yml", extravars=extravars, cmdline="--check")
    assert checked.status == "successful", failure_messages(checked) or out3[-3000:]
    print(
        f"cluster_names: first run {first:.0f} s, second run changed={changed(again)}, check changed={changed(checked)}"
    )
    found = json.loads(
        kubectl("get", "services", "-n", "onprem-names", "-l", "app.kubernetes.io/name=onprem-names-dns", "-o", "json")
    )["items"]
    addresses = {lb_address(s) for s in found}
    return {
        "second_changed": changed(again),
        "check_changed": changed(checked),
        "dns_ip": addresses.pop() if len(addresses) == 1 else None,
        "services": {
            s["metadata"]["name"]: {
                "ports": sorted((p.get("name"), p.get("protocol")) for p in s["spec"]["ports"]),
                "key": (s["metadata"].get("annotations") or {}).get("metallb.universe.tf/allow-shared-ip"),
            }
            for s in found
        },
    }


def minor():
    version = json.loads(kubectl("version", "-o", "json"))["serverVersion"]
    return int(version["minor"].rstrip("+"))


# A DNS query by hand on client1 (python3 only): an A query for NAME over UDP or TCP to ADDRESS:53; prints the
# answer's address, or the rcode when there is none.
QUERY = r"""
import socket, struct, sys
name, address, proto = sys.argv[1:4]
question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
packet = struct.pack("!HHHHHH", 0x5151, 0x0100, 1, 0, 0, 0) + question
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.sendto(packet, (address, 53))
    reply = s.recv(512)
else:
    s = socket.create_connection((address, 53), timeout=3); s.sendall(struct.pack("!H", len(packet)) + packet)
    size = struct.unpack("!H", s.recv(2))[0]; reply = b""
    while len(reply) < size:
        reply += s.recv(size - len(reply))
answers, rcode = struct.unpack("!H", reply[6:8])[0], reply[3] & 15
print(socket.inet_ntoa(reply[-4:]) if answers else "rcode=%d" % rcode)
"""


def test_client1_resolves_the_app_to_the_ingress_address_through_the_role_dns(names, ingress_ip):
    assert names["dns_ip"], "the LAN DNS Service has no LoadBalancer address"
    saved = node(CLIENT, "cat", "/etc/resolv.conf").stdout
    try:
        node(
            CLIENT,
            "sh",
            "-c",
            f"printf 'nameserver {names['dns_ip']}\\noptions timeout:2 attempts:2\\n' > /etc/resolv.conf",
        )
        found = node(CLIENT, "getent", "ahostsv4", f"hello.{DOMAIN}").stdout.split()
        assert found[0] == ingress_ip, found
        assert node(CLIENT, "getent", "hosts", f"nothing-here.{DOMAIN}", check=False).returncode == 2
        assert node(CLIENT, "getent", "hosts", "example.org", check=False).returncode == 2  # no upstream
    finally:
        subprocess.run(
            ["lxc", "exec", CLIENT, "--", "sh", "-c", "cat > /etc/resolv.conf"],
            input=saved,
            text=True,
            check=False,
            timeout=30,
        )


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_client1_gets_the_answer_over_udp_and_tcp(names, ingress_ip, proto):
    assert names["dns_ip"], names["services"]
    answers = [
        node(CLIENT, "python3", "-c", QUERY, f"hello.{DOMAIN}", names["dns_ip"], proto).stdout.strip()
        for _n in range(5)
    ]
    assert answers == [ingress_ip] * 5, answers
    other = node(CLIENT, "python3", "-c", QUERY, f"nothing-here.{DOMAIN}", names["dns_ip"], proto).stdout.strip()
    assert other == "rcode=3", other  # NXDOMAIN


def test_the_corefile_names_the_app_for_pods(names, ingress_ip):
    corefile = get("configmap", "coredns", "kube-system")["data"]["Corefile"]
    block = corefile.split("# BEGIN onprem.microk8s cluster_names", 1)[1].split("# END onprem.microk8s cluster_names")[
        0
    ]
    assert f"{DOMAIN}:53 {{" in block and f"{ingress_ip} hello.{DOMAIN}" in block
    assert corefile.startswith(".:53 {")  # the addon's own server block kept


def test_a_second_run_and_check_mode_change_nothing(names):
    assert names["second_changed"] == 0
    assert names["check_changed"] == 0
    if minor() >= 24:
        # Re-applying UDP and TCP on port 53 must leave both (a strategic merge keyed by port alone would fold TCP
        # into the UDP entry: kube-apiserver refuses that, kubernetes.core.k8s then replaces the list by a merge patch).
        assert names["services"] == {"onprem-names-dns": {"ports": [("dns", "UDP"), ("dns-tcp", "TCP")], "key": None}}
    else:  # mixed protocols refused: one Service per protocol, one address (checked in the fixture), one sharing key
        assert names["services"] == {
            "onprem-names-dns-udp": {"ports": [("dns", "UDP")], "key": "onprem-names-dns"},
            "onprem-names-dns-tcp": {"ports": [("dns-tcp", "TCP")], "key": "onprem-names-dns"},
        }, names["services"]


def client_file(path):
    return node(CLIENT, "cat", path).stdout


def dns_update(name, address):
    """A TSIG-signed RFC 2136 update to the lab DNS on client1 (as the user's own DNS would take it)."""
    import dns.query
    import dns.tsig
    import dns.tsigkeyring
    import dns.update

    ring = dns.tsigkeyring.from_text(
        {acme_lab.TSIG_NAME: (dns.tsig.HMAC_SHA256, client_file(f"{acme_lab.HOME}/tsig.key").strip())}
    )
    update = dns.update.UpdateMessage(
        DOMAIN + ".", keyring=ring, keyname=acme_lab.TSIG_NAME, keyalgorithm=dns.tsig.HMAC_SHA256
    )
    update.replace(name + ".", 60, "A", address)
    reply = dns.query.tcp(update, str(plan.CLIENT_ADDRESS), port=53, timeout=10)
    assert reply.rcode() == 0, reply


def test_http01_issuance_from_the_lab_pebble_through_the_ingress(lab, ingress_ip):
    if minor() < 25:
        pytest.skip("the cert-manager addon exists from MicroK8s 1.25")
    done = node("node1", "/snap/bin/microk8s", "enable", "cert-manager", check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    host = f"acme-hello.{DOMAIN}"
    dns_update(host, str(plan.machines(1)[0].address))  # the ingress listens on every node (hostPort)
    ca = client_file(f"{acme_lab.HOME}/ca.pem")
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "lab-pebble"},
        "spec": {
            "acme": {
                "server": f"https://{plan.CLIENT_ADDRESS}:{acme_lab.ACME_PORT}/dir",
                "email": "admin@home.arpa",
                "caBundle": base64.b64encode(ca.encode()).decode(),
                "privateKeySecretRef": {"name": "lab-pebble-account"},
                "solvers": [{"http01": {"ingress": {"class": "public"}}}],
            }
        },
    }
    cert = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "acme-hello", "namespace": "default"},
        "spec": {
            "secretName": "acme-hello-tls",
            "dnsNames": [host],
            "issuerRef": {"name": "lab-pebble", "kind": "ClusterIssuer"},
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(issuer))
    started = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps(cert))

    def ready():
        found = get("certificate", "acme-hello", "default") or {}
        conditions = {c["type"]: c for c in found.get("status", {}).get("conditions", [])}
        if conditions.get("Issuing", {}).get("reason") == "Failed":
            raise AssertionError(f"issuance failed: {conditions['Issuing']['message']}")
        return conditions.get("Ready", {}).get("status") == "True"

    wait("the ACME Certificate Ready", ready, 60)
    print(f"ACME HTTP-01 certificate Ready {time.monotonic() - started:.1f} s after apply")
    chain = base64.b64decode(get("secret", "acme-hello-tls", "default")["data"]["tls.crt"]).decode()
    context = ssl.create_default_context(cadata=ca)
    root_url = f"https://{plan.CLIENT_ADDRESS}:{acme_lab.MANAGEMENT_PORT}/roots/0"
    with urllib.request.urlopen(root_url, context=context, timeout=10) as answer:
        root = answer.read().decode()
    leaf = chain.split("-----END CERTIFICATE-----", 1)[0] + "-----END CERTIFICATE-----\n"
    with tempfile.TemporaryDirectory() as work:
        base = pathlib.Path(work)
        (base / "root.pem").write_text(root)
        (base / "chain.pem").write_text(chain)
        (base / "leaf.pem").write_text(leaf)
        check = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(base / "root.pem"),
                "-untrusted",
                str(base / "chain.pem"),
                "-verify_hostname",
                host,
                str(base / "leaf.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert check.returncode == 0, check.stdout + check.stderr
