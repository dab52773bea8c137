# SPDX-License-Identifier: GPL-3.0-or-later
"""The server certificate from csr.conf.template and `microk8s refresh-certs --cert server.crt` per version
(canonical/microk8s `actions/common/utils.sh` render_csr_conf/gen_server_cert, `scripts/wrappers/refresh*certs.py`)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading

import pytest
from microk8s_double import certs

VIP = "10.77.0.10"


def alt_names(node) -> list[str]:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(node.data / "certs" / "server.crt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name.strip() for line in out.splitlines()[1:] for name in line.split(",") if name.strip()]


def add_to_template(node, line: str) -> None:
    template = node.data / "certs" / "csr.conf.template"
    template.write_text(template.read_text().replace("#MOREIPS", f"{line}\n#MOREIPS"))


def handshake(node, server_hostname: str) -> None:
    """A TLS handshake with the node's server certificate, verified against its CA as a client of the VIP would."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(node.data / "certs" / "server.crt", node.data / "certs" / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _address = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(node.data / "certs" / "ca.crt"))
    try:
        raw = socket.create_connection(listener.getsockname(), timeout=10)
        with raw, client_ctx.wrap_socket(raw, server_hostname=server_hostname):
            pass
    finally:
        thread.join(10)
        listener.close()


def test_install_copies_the_template_and_signs_from_it(node):
    template = (node.data / "certs" / "csr.conf.template").read_text()
    assert template == certs.CSR_CONF_TEMPLATE
    assert "#MOREIPS" in template and "[ alt_names ]" in template
    # hostname -I (stand-in) = 127.0.0.1 10.77.0.9 fd00::9, rendered as IP.3.. after the template's IP.1, IP.2
    conf = (node.data / "certs" / "csr.conf").read_text()
    assert "IP.3 = 127.0.0.1\nIP.4 = 10.77.0.9\nIP.5 = fd00::9\n" in conf
    names = alt_names(node)
    assert {"DNS:kubernetes", "DNS:kubernetes.default.svc.cluster.local", "IP Address:10.152.183.1"} <= set(names)
    assert "IP Address:10.77.0.9" in names
    assert f"IP Address:{VIP}" not in names


@pytest.mark.parametrize("version", ["1.22", "1.24", "1.28", "1.32"])
def test_refresh_server_cert_adds_template_lines(make_node, version):
    node = make_node(version)
    key_before = (node.data / "certs" / "server.key").read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(node, VIP)
    add_to_template(node, f"IP.9 = {VIP}")

    result = node.run("refresh-certs", "--cert", "server.crt")

    assert result.rc == 0, result
    assert result.out.splitlines() == [
        f"Taking a backup of the current certificates under {node.data}/certs-backup/",
        "Creating new certificates",
        "Restarting service kubelite.",
        "Restarting service cluster-agent.",
    ]
    assert f"IP Address:{VIP}" in alt_names(node)
    assert (node.data / "certs" / "server.key").read_bytes() == key_before  # the key is kept, only the cert is new
    assert (node.data / "certs-backup" / "certs" / "server.crt").exists()
    assert node.stand_in_log()[-2:] == [
        "snapctl restart microk8s.daemon-kubelite",
        "snapctl restart microk8s.daemon-cluster-agent",
    ]
    handshake(node, VIP)  # verifies against the cluster CA through the VIP now
    handshake(node, "127.0.0.1")


def test_refresh_on_1_21_signs_the_old_csr_conf(make_node):
    """1.21's reproduce_server_cert runs gen_server_cert without refresh_csr_conf: template edits do not count."""
    node = make_node("1.21")
    add_to_template(node, f"IP.9 = {VIP}")
    assert node.run("refresh-certs", "--cert", "server.crt").rc == 0
    assert f"IP Address:{VIP}" not in alt_names(node)


def test_1_20_has_no_cert_option(make_node):
    node = make_node("1.20")
    result = node.run("refresh-certs", "--cert", "server.crt")
    assert result.rc == 2
    assert result.err.splitlines()[-1] == "Error: No such option: --cert"
    assert node.stand_in_log() == []


def test_refresh_certs_argument_errors(make_node):
    node = make_node("1.28")
    missing = node.run("refresh-certs")
    assert missing.rc == 3
    assert missing.out.splitlines()[0] == "Please use the '--cert' flag to select the certificate you need refreshed."
    bad = node.run("refresh-certs", "--cert", "nope.crt")
    assert bad.rc == 2
    assert "'nope.crt' is not one of 'ca.crt', 'server.crt', 'front-proxy-client.crt'." in bad.err
    both = node.run("refresh-certs", "-c", "-e", "server.crt")
    assert (both.rc, both.out) == (2, "Please select only one of the options -c, -u or -e.\n")
    assert node.stand_in_log() == []


def test_worker_refuses_with_rc_0(make_node):
    node = make_node("1.28")
    node.lock("clustered.lock").touch()
    before = (node.data / "certs" / "server.crt").read_bytes()
    result = node.run("refresh-certs", "--cert", "server.crt")
    assert result.rc == 0
    assert result.out.startswith("This MicroK8s deployment is acting as a node in a cluster.")
    assert (node.data / "certs" / "server.crt").read_bytes() == before


def test_render_skips_ids_the_template_uses():
    template = "IP.1 = 127.0.0.1\nIP.2 = 10.152.183.1\nIP.3 = 10.77.0.10\n#MOREIPS\n"
    assert certs.render_csr_conf(template, ["10.77.0.11"]) == template.replace("#MOREIPS", "IP.4 = 10.77.0.11")
    assert certs.render_csr_conf(template, []) == template.replace("#MOREIPS", "")
    assert certs.render_csr_conf(template, ["127.0.0.1"]) == template.replace("#MOREIPS", "")
