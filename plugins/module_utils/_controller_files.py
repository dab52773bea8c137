# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: the argument spec of controller_files, shared by its action plugin (which validates
# with it) and its documentation stub (which validate-modules compares with its DOCUMENTATION).
from __future__ import annotations

SPEC = {
    "directories": {"type": "list", "elements": "path", "default": []},
    "files": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "path": {"type": "path", "required": True},
            "content": {"type": "str"},
            "content_base64": {"type": "str"},
            "mode": {"type": "str", "default": "0600"},
        },
        "mutually_exclusive": [["content", "content_base64"]],
        "required_one_of": [["content", "content_base64"]],
    },
}
