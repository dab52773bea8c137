# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure plans for the no-op path: from what a node reported (node_info), say what a task would change, so the roles
skip the tasks (and their round trips to the node) that would change nothing."""

from __future__ import annotations

import os
import re


def _bare(name):
    return str(name).rsplit("/", 1)[-1]


def addons_to_change(status, addons):
    """Names of the requested addons ([{name, state}]) not in their wanted state in a status (microk8s_status or
    node_info's `microk8s`); an addon the status does not list counts as to change, so the module decides."""
    listed = {}
    for addon in (status or {}).get("addons") or []:
        listed["%s/%s" % (addon.get("repository"), addon["name"])] = addon["status"]
        listed.setdefault(addon["name"], addon["status"])
    pending = []
    for request in addons or []:
        name = request["name"]
        wanted = request.get("state") or "enabled"
        current = listed.get(name) if "/" in name else listed.get("core/" + name, listed.get(name))
        if current is None and "/" in name:
            current = listed.get(_bare(name))  # 1.20-1.23: no repositories
        if current != wanted:
            pending.append(name)
    return pending


def block_in_place(content, block, marker="# {mark} ANSIBLE MANAGED BLOCK"):
    """Whether ansible.builtin.blockinfile (default BEGIN/END marks) would leave a file with this content as it is."""
    if content is None:
        return False
    begin, end = marker.replace("{mark}", "BEGIN") + "\n", marker.replace("{mark}", "END") + "\n"
    body = block if block.endswith("\n") else block + "\n"
    lines = content.splitlines(True)
    if lines.count(begin) != 1 or lines.count(end) != 1:
        return False
    return ("\n" + begin + body + end) in ("\n" + content)


def lineinfile_pending(items, contents):
    """The items ({file, regexp, line, state}) ansible.builtin.lineinfile would change, given {file: content}: a
    present line is in place when exactly one line matches regexp and it is `line` (newline-terminated); an absent one
    when no line matches. A file not read (content null) counts as to change."""
    pending = []
    for item in items or []:
        content = (contents or {}).get(item["file"])
        if content is None:
            pending.append(item)
            continue
        pattern = re.compile(item["regexp"])
        matches = [raw for raw in content.splitlines(True) if pattern.search(raw)]
        if item.get("state", "present") == "absent":
            in_place = not matches
        else:
            in_place = len(matches) == 1 and matches[0] == item["line"] + "\n"
        if not in_place:
            pending.append(item)
    return pending


def image_archive(path):
    """What an image archive on the controller holds: {format, compression, images: [{ref, digest, config}]} (the
    identity ctr_image_import compares: the manifest or index digest of an OCI archive, the image ID otherwise).
    Remembered per file version in the controller user's cache ($XDG_CACHE_HOME or ~/.cache, onprem-microk8s/)."""
    # Imported here, not at the top: Ansible imports every filter file of the collection in each task's worker
    # process to find one filter by name, and the archive readers' imports (tarfile, lzma, bz2) are most of this
    # file's import time. Only the hello_app and inference roles' archive reads need them.
    from ansible_collections.onprem.microk8s.plugins.module_utils import _image_archive as archives

    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        return archives.read_archive_cached(path, os.path.join(cache_home, "onprem-microk8s", "image-archives.json"))
    except archives.ArchiveError as exc:
        # ValueError, not AnsibleFilterError: importing ansible.errors here would make module unit tests in the same
        # process take the controller's warning path. Ansible shows the message either way.
        raise ValueError("on the controller: %s" % exc) from exc


def images_to_import(archive, node_images):
    """Names of the archive's images a node's containerd lacks or holds with another identity, given node_info's
    `images` ({ref: {digest, config} or null}): empty when the archive need not be copied nor imported."""
    pending = []
    for image in archive["images"]:
        held = (node_images or {}).get(image["ref"])
        current = None if not held else held["digest"] if archive["format"] == "oci" else held["config"]
        if current is None or current != (image["digest"] or image["config"]):
            pending.append(image["ref"])
    return pending


class FilterModule:
    def filters(self):
        return {
            "addons_to_change": addons_to_change,
            "block_in_place": block_in_place,
            "lineinfile_pending": lineinfile_pending,
            "image_archive": image_archive,
            "images_to_import": images_to_import,
        }
