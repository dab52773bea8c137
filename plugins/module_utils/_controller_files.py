# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: the argument spec of controller_files, shared by its action plugin (which validates
# with it) and its documentation stub (which validate-modules compares with its DOCUMENTATION); and the atomic write
# of a file on the controller, shared by that action and the image archive reads' cache.
from __future__ import annotations

import os
import tempfile

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


def write_atomically(path, data, mode):
    """Write `data` (bytes) to `path` with `mode`: a temporary file of that mode in the same directory, renamed over
    it, so that a reader sees the old file or the new one, never a part."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
