# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's SSH key pair and known_hosts file, and the inventory the collection runs against."""

from __future__ import annotations

import json
import pathlib

from . import image, plan
from .shell import run


def ensure_key(key: pathlib.Path) -> str:
    """Create the lab's ed25519 key pair once; return the public key line."""
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "onprem-lab", "-f", str(key)])
    return key.with_name(key.name + ".pub").read_text()


def render_inventory(
    machines: list[plan.Machine],
    key: pathlib.Path,
    known_hosts: pathlib.Path,
    snap_files: dict[str, pathlib.Path],
    profile: str,
    app_image: pathlib.Path | None = None,
    inference: dict | None = None,
) -> str:
    """hosts.yml with the groups of inventories/home; key and offline-install variables under all.vars.

    inference (offload.prepare(): image_archive, models): the inference service is enabled with that image archive
    and those models, as a user would set them after building the image and training the model; without it the
    service stays off (the role's default).

    Ansible logs in as the image's non-root administrator and becomes root with sudo, as on the users' PCs. The
    user and `ansible_become` are set on the lab's groups, not on `all`: `all`'s variables also reach the
    controller's implicit localhost, which must not try sudo.
    """
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    ssh_args = f"-o StrictHostKeyChecking=no -o UserKnownHostsFile={known_hosts}"
    lines = [
        "---",
        "# Written by tests/lab/lab.py up; do not edit, re-run `make lab-up` instead.",
        "# Static lab settings (MetalLB range ...) live in group_vars/.",
        "all:",
        "  vars:",
        f"    ansible_ssh_private_key_file: {q(str(key))}",
        f"    ansible_ssh_common_args: {q(ssh_args)}",
        "    ansible_python_interpreter: /usr/bin/python3",
        f"    lab_double_profile: {q(profile)}",
        f"    microk8s_node_channel: {q(profile + '/stable')}",
    ]
    lines += [f"    microk8s_node_{name}: {q(str(path))}" for name, path in sorted(snap_files.items())]
    if app_image:
        lines.append(f"    hello_app_image_archive: {q(str(app_image))}")
    if inference:
        lines += [
            "    inference_service_enabled: true",
            f"    inference_service_image_archive: {q(str(inference['image_archive']))}",
            f"    inference_service_models: {q(inference['models'])}",  # a JSON list is a YAML flow sequence
        ]
    lines.append("  children:")
    for group in ("masters", "workers", "clients"):
        members = [machine for machine in machines if machine.group == group]
        lines += [
            f"    {group}:",
            "      vars:",
            f"        ansible_user: {image.ADMIN_USER}",
            "        ansible_become: true",
        ]
        lines += ["      hosts:" + ("" if members else " {}")]
        lines += [f"        {machine.name}:\n          ansible_host: {machine.address}" for machine in members]
    return "\n".join(lines) + "\n"
