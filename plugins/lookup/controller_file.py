# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a file on the controller is and holds (exists, regular, size, SHA-256, its bytes as base64), in the task's
own process.

`stat` and `slurp` delegated to localhost give the same answers, but each is a module run: a Python process of its
own (0.4 to 0.5 s each on the lab), on every run, for files the role only reads. `ansible.builtin.file` reads in
process but only text: a model artifact is binary. It never writes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: controller_file
author:
  - onprem.microk8s contributors (!UNKNOWN)
short_description: Whether a file exists on the controller, its size and SHA-256 and (optionally) its bytes
description:
  - For each path on the controller, what C(ansible.builtin.stat) with C(checksum_algorithm=sha256) reports of it
    (exists, isreg, size, checksum) and, with O(content), its bytes base64-encoded as C(ansible.builtin.slurp) returns
    them.
  - A missing path is reported with C(exists=false), never an error; a path that is there but cannot be read is an
    error naming it.
  - A relative path is taken from the current directory, as a module run on the controller would.
options:
  _terms:
    description: Paths on the controller.
    required: true
    type: list
    elements: path
  checksum:
    description: Add the SHA-256 of a regular file's bytes (hex) as C(checksum).
    type: bool
    default: false
  content:
    description: Add a regular file's bytes, base64-encoded, as C(content).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check the model artifact exists, with its SHA-256
  ansible.builtin.assert:
    that: query('onprem.microk8s.controller_file', artifact, checksum=true)[0].exists
"""

RETURN = r"""
_list:
  description: One entry per path, in order.
  type: list
  elements: dict
  contains:
    path:
      description: The path as given (user home expanded).
      type: str
    exists:
      description: Whether the path exists (a broken symbolic link does not).
      type: bool
    isreg:
      description: Whether it is a regular file (after symbolic links).
      type: bool
    size:
      description: Its size in bytes, when it exists.
      type: int
    checksum:
      description: SHA-256 of its bytes (hex), for a regular file with O(checksum).
      type: str
    content:
      description: Its bytes, base64-encoded, for a regular file with O(content).
      type: str
"""

import base64
import hashlib
import os
import stat

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def describe(path, checksum=False, content=False):
    """stat's and slurp's answer for one controller path (pure apart from reading the file)."""
    path = os.path.expanduser(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {"path": path, "exists": False, "isreg": False}
    except OSError as error:
        raise AnsibleLookupError("cannot read %s on the controller: %s" % (path, error.strerror)) from None
    found = {"path": path, "exists": True, "isreg": stat.S_ISREG(info.st_mode), "size": info.st_size}
    if found["isreg"] and (checksum or content):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise AnsibleLookupError("cannot read %s on the controller: %s" % (path, error.strerror)) from None
        if checksum:
            found["checksum"] = hashlib.sha256(data).hexdigest()
        if content:
            found["content"] = base64.b64encode(data).decode("ascii")
    return found


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [describe(str(path), self.get_option("checksum"), self.get_option("content")) for path in terms]
