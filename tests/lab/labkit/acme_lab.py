# SPDX-License-Identifier: GPL-3.0-or-later
"""The outside world's ACME and DNS on client1 (test tooling, nothing of it is in the product):

- pebble, Let's Encrypt's test ACME server (the host's Debian package binary, a static Go program), directory at
  https://<client1>:14000/dir on a TLS certificate of a lab CA (/opt/lab-acme/ca.pem), HTTP-01 validation on port 80
  and DNS lookups through the lab DNS (`-dnsserver`), as Let's Encrypt validates through the Internet's DNS.
- the lab DNS server (labkit/labdns.py with dnspython) on <client1>:53, authoritative for the cluster's domain
  (home.arpa) and accepting RFC 2136 updates signed with the TSIG key `acme-update` (hmac-sha256, the secret in
  /opt/lab-acme/tsig.key): cert-manager's rfc2136 solver and the tests add records with it.

Both run as systemd units on client1 and are made again on each `lab.py up` (the CA and key stay once made)."""

from __future__ import annotations

import pathlib
import subprocess
import tempfile

from .nodes import push_file as push
from .nodes import push_text
from .shell import LabError, run

PEBBLE = pathlib.Path("/usr/bin/pebble")
LABDNS = pathlib.Path(__file__).with_name("labdns.py")
HOME = "/opt/lab-acme"
ZONE = "home.arpa"
TSIG_NAME = "acme-update"
ACME_PORT = 14000
MANAGEMENT_PORT = 15000


def pebble_config() -> str:
    return (
        '{"pebble": {"listenAddress": "0.0.0.0:%d", "managementListenAddress": "0.0.0.0:%d",'
        ' "certificate": "%s/tls.pem", "privateKey": "%s/tls.key", "httpPort": 80, "tlsPort": 443,'
        ' "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n'
    ) % (ACME_PORT, MANAGEMENT_PORT, HOME, HOME)


def units(address: str) -> dict[str, str]:
    dns = f"""[Unit]
Description=Lab DNS server for {ZONE} (RFC 2136 updates with TSIG)
After=network-online.target

[Service]
Environment=PYTHONPATH={HOME}/lib
ExecStart=/usr/bin/python3 {HOME}/labdns.py --listen {address}:53 --zone {ZONE} \\
    --tsig-file {TSIG_NAME}:hmac-sha256:{HOME}/tsig.key --log /var/log/lab-dns.log
Restart=always

[Install]
WantedBy=multi-user.target
"""
    pebble = f"""[Unit]
Description=pebble, a test ACME server
After=lab-dns.service

[Service]
Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
ExecStart=/usr/local/bin/pebble -config {HOME}/pebble.json -dnsserver {address}:53
Restart=always

[Install]
WantedBy=multi-user.target
"""
    return {"/etc/systemd/system/lab-dns.service": dns, "/etc/systemd/system/lab-pebble.service": pebble}


# The CA and the TLS certificate of pebble's directory, and the TSIG secret: made on client1, once.
SECRETS_SCRIPT = f"""set -e
cd {HOME}
umask 077
[ -s tsig.key ] || openssl rand -base64 32 > tsig.key
if [ ! -s tls.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj '/CN=lab ACME CA' \\
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=client1' -keyout tls.key \\
    -out tls.csr 2>/dev/null
  printf 'subjectAltName=DNS:client1,DNS:localhost,IP:%s\\n' "$1" > ext
  openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile ext -out tls.pem \\
    2>/dev/null
fi
chmod 0644 ca.pem
"""


def dnspython_dir() -> pathlib.Path:
    try:
        import dns  # only lab.py up needs it
    except ImportError as error:
        raise LabError("dnspython is missing in the controller's venv (requirements.txt)") from error
    return pathlib.Path(dns.__file__).parent


def provision(container: str, address: str) -> None:
    """pebble and the lab DNS on client1, started (restarted when already there)."""
    if not PEBBLE.exists():
        raise LabError(f"{PEBBLE} is missing on this host: apt-get install -y pebble")
    run(["lxc", "exec", container, "--", "mkdir", "-p", f"{HOME}/lib"], timeout=60)
    with tempfile.TemporaryDirectory() as work:
        bundle = pathlib.Path(work) / "dns.tar"
        subprocess.run(["tar", "-C", str(dnspython_dir().parent), "--exclude=__pycache__", "-cf", str(bundle), "dns"],
                       check=True)  # fmt: skip
        push(container, bundle, f"{HOME}/dns.tar", "0644")
    run(["lxc", "exec", container, "--", "tar", "-C", f"{HOME}/lib", "-xf", f"{HOME}/dns.tar"], timeout=60)
    # a re-run finds pebble running: its binary cannot be written over ("text file busy"), but replaced by a rename
    push(container, PEBBLE, "/usr/local/bin/pebble.new", "0755")
    run(["lxc", "exec", container, "--", "mv", "-f", "/usr/local/bin/pebble.new", "/usr/local/bin/pebble"], timeout=60)
    push(container, LABDNS, f"{HOME}/labdns.py", "0755")
    push_text(container, f"{HOME}/pebble.json", pebble_config())
    push_text(container, f"{HOME}/secrets.sh", SECRETS_SCRIPT)
    run(["lxc", "exec", container, "--", "sh", f"{HOME}/secrets.sh", address], timeout=60)
    for path, text in units(address).items():
        push_text(container, path, text)
    run(["lxc", "exec", container, "--", "systemctl", "daemon-reload"], timeout=60)
    run(["lxc", "exec", container, "--", "systemctl", "enable", "--now", "lab-dns.service", "lab-pebble.service"],
        timeout=60)  # fmt: skip
    run(["lxc", "exec", container, "--", "systemctl", "restart", "lab-dns.service", "lab-pebble.service"], timeout=60)
