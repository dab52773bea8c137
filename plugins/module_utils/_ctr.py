# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: `microk8s ctr` in one namespace (list images, read content, import), shared by the
# ctr_image_import module and node_info's image read.
from __future__ import annotations

import re

from ansible_collections.onprem.microk8s.plugins.module_utils import _image_archive as archives
from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers

DEFAULT_NAMESPACE = "k8s.io"
_NOT_RUNNING = (parsers.STOPPED, "failed to dial", "connection refused")
PLATFORM_HINT = (
    " If the archive is multi-platform without this node's platform, set platform (e.g. linux/arm64) or "
    "all_platforms: true."
)


class Ctr:
    """`microk8s ctr` in one namespace: list images, read content, import archives."""

    def __init__(self, runner, namespace):
        self.runner = runner
        self.prefix = ["ctr"] if namespace == DEFAULT_NAMESPACE else ["ctr", "--namespace", namespace]

    def display(self, args):
        return self.runner.display("microk8s", [*self.prefix, *args])

    def run(self, args, check=True):
        result = self.runner.run([*self.prefix, *args], check=False)
        if check and result.rc != 0:
            raise result.error(explain(result.cmd, result.stdout, result.stderr))
        return result.rc, result.stdout

    def images(self):
        return parsers.parse_ctr_images(self.run(["images", "ls"])[1])

    def config_digest(self, digest, platform):
        """The image ID behind a listed digest (an index: its manifest for platform); None if content is missing."""
        rc, blob = self.run(["content", "get", digest], check=False)
        try:
            if rc != 0:
                return None
            if not archives.is_index(blob):
                return parsers.manifest_config_digest(blob)
            manifest = archives.platform_manifest(blob, platform)
        except ValueError:
            return None
        return manifest and self.config_digest(manifest, platform)


def explain(command, out, err):
    """Say what failed and what to do about it."""
    text = "%s\n%s" % (out or "", err or "")
    if any(marker in text for marker in _NOT_RUNNING):
        return "MicroK8s (its containerd) is not running on this node: run microk8s start, then retry"
    if parsers.NO_PERMISSION in text:
        return "microk8s ctr needs root: run the task with become: true"
    hint = PLATFORM_HINT if re.search(r"not found|no match for platform|filtered out", text) else ""
    return "%s failed: %s.%s" % (command, text.strip(), hint)
