# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: the admin kubeconfig `microk8s config` prints, pointed at the address clients use, and
# the part of it that is no secret (the API's address and CA), for the admin_kubeconfig action and node_info.
from __future__ import annotations

import base64
import binascii
import re

SERVER = re.compile(r"(?m)^(\s*server:\s*https://)[^:/\s]+")
SERVER_URL = re.compile(r"(?m)^\s*server:\s*(\S+)\s*$")
CA_DATA = re.compile(r"(?m)^\s*certificate-authority-data:\s*(\S+)\s*$")


def is_kubeconfig(text: str) -> bool:
    return "apiVersion" in text and "clusters:" in text


def pointed_at(text: str, server_host: str) -> str:
    """The kubeconfig with its server's host replaced by `server_host` (the port kept); unchanged when empty."""
    return SERVER.sub(lambda found: found.group(1) + server_host, text) if server_host else text


def public_part(text: str, server_host: str) -> dict | None:
    """{server, ca_data} of the kubeconfig's first cluster, its server pointed at `server_host` as the admin
    kubeconfig is; None when the text is no kubeconfig. Nothing of its user (the credential) is read. The CA stays
    base64 as the kubeconfig carries it: no PEM in a -vvv log, where a certificate is taken for a leak."""
    if not is_kubeconfig(text or ""):
        return None
    server, ca_data = SERVER_URL.search(pointed_at(text, server_host)), CA_DATA.search(text)
    ca = ca_data.group(1) if ca_data else ""
    try:
        base64.b64decode(ca, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        ca = ""
    return {"server": server.group(1) if server else "", "ca_data": ca}
