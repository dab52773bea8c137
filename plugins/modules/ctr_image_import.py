#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ctr_image_import
short_description: Import an image archive into MicroK8s' containerd on this node, only when it is missing
version_added: "0.1.0"
description:
  - Reads the image names and identities inside an image archive on the node, compares them with what MicroK8s'
    containerd lists (C(microk8s ctr images ls)) and runs C(microk8s ctr image import) only when a name is missing
    or points to another image.
  - Accepts a docker-archive (C(docker save), C(podman save), C(buildah push ... docker-archive:)) or an OCI layout
    tar (C(oci-layout), C(index.json), C(blobs/)). When an archive holds both (docker 25 and later), containerd uses
    the OCI layout, and so does this module.
  - Identity is compared as containerd keeps it. OCI archives - the manifest or index digest named in C(index.json)
    against the C(DIGEST) column. Docker-archives - the image ID (config digest) against the config of the manifest
    containerd lists (C(microk8s ctr content get); for a multi-platform index the manifest of O(platform), or of the
    node's own platform), because containerd writes its own manifest for a docker-archive.
  - Archives compressed with gzip, bzip2 or xz are decompressed into Ansible's temporary directory on the node
    first, since C(ctr image import) reads plain tar only. zstd is not supported.
options:
  src:
    description:
      - Path of the image archive on the managed node (copy it there first, for example with M(ansible.builtin.copy)).
    type: path
    required: true
  namespace:
    description:
      - containerd namespace to import into. Kubernetes (the CRI plugin) only sees C(k8s.io).
      - C(microk8s ctr) already passes C(--namespace k8s.io); for another namespace the module adds a second
        C(--namespace), and ctr's flag parser keeps the last one.
    type: str
    default: k8s.io
  platform:
    description:
      - Import, and compare, only this platform of a multi-platform archive, for example C(linux/arm64) or C(amd64).
      - Without it ctr imports the node's own platform.
    type: str
  all_platforms:
    description:
      - Import the content of every platform in the archive.
    type: bool
    default: false
  force:
    description:
      - Import even when every image in the archive is already present with the same identity.
    type: bool
    default: false
  timeout:
    description:
      - Seconds each command may run; the import of a large archive needs more.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details:
      - Reads the archive and the node's image list; runs no import.
  diff_mode:
    support: full
  idempotent:
    support: full
    details:
      - Unless O(force=true).
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.actiongroup_microk8s
notes:
  - Works the same on MicroK8s 1.20 to 1.36, which all ship C(microk8s ctr); the module does not branch on the version.
  - The import reaches this node only. Run the task on every node that may schedule the image.
    C(microk8s images import) (1.25+) pushes to every node, but it exits 0 even when a node failed, so this module
    does not use it.
  - containerd records docker-archive names normalised (C(hello:local) becomes C(docker.io/library/hello:local), as
    Kubernetes looks it up) but OCI names exactly as the archive spells them. The module warns about OCI names that
    Kubernetes would look up under another name.
  - Run it with C(become) - C(microk8s ctr) needs root.
seealso:
  - module: onprem.microk8s.microk8s_status
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Copy the application image to every node
  ansible.builtin.copy:
    src: hello.tar
    dest: /var/tmp/hello.tar
    mode: "0644"

- name: Import it into MicroK8s' containerd, unless it is already there
  onprem.microk8s.ctr_image_import:
    src: /var/tmp/hello.tar
  become: true

- name: Import both platforms of a multi-platform archive
  onprem.microk8s.ctr_image_import:
    src: /var/tmp/tools-multiarch.tar.gz
    all_platforms: true
    timeout: 900
  become: true
"""

RETURN = r"""
images:
  description: Every image the archive names, with what the module found and did.
  returned: always
  type: list
  elements: dict
  contains:
    ref:
      description: The name containerd records for the image.
      type: str
      sample: docker.io/library/hello:local
    digest:
      description: The image's identity in the archive - manifest or index digest (OCI), image ID (docker-archive).
      type: str
      sample: sha256:6d3e4188a38af91b0c1577b9e88c53368926b2fe0e1fb985d6e8a70040520c4d
    present_before:
      description: Whether containerd listed the name before the task.
      type: bool
      sample: false
    imported:
      description: Whether the name was imported (in check mode - would be).
      type: bool
      sample: true
  sample:
    - ref: docker.io/library/hello:local
      digest: sha256:6d3e4188a38af91b0c1577b9e88c53368926b2fe0e1fb985d6e8a70040520c4d
      present_before: false
      imported: true
imported:
  description: The names that were (in check mode - would be) imported.
  returned: always
  type: list
  elements: str
  sample: [docker.io/library/hello:local]
"""

import platform as host_platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils import _image_archive as archives
from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._ctr import DEFAULT_NAMESPACE, PLATFORM_HINT, Ctr
from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import Microk8sError, run_module


def plan(ctr, archive, listed, platform, force):
    """Per archive image: its identity, the node's identity under the same name, and whether to import."""
    images, before, image_ids = [], {}, {}
    for image in archive["images"]:
        wanted = image["digest"] or image["config"]
        present = listed.get(image["ref"])
        current = None
        if present and archive["format"] == "oci":
            current = present["digest"]
        elif present:
            if present["digest"] not in image_ids:
                image_ids[present["digest"]] = ctr.config_digest(present["digest"], platform)
            current = image_ids[present["digest"]]
        if present:
            before[image["ref"]] = current
        imported = force or current != wanted
        images.append({"ref": image["ref"], "digest": wanted, "present_before": bool(present), "imported": imported})
    return images, before


def import_archive(module, ctr, archive, todo):
    """Run the import and check that containerd now lists every name with the archive's identity."""
    params = module.params
    options = ["--platform", params["platform"]] if params["platform"] else []
    options += ["--all-platforms"] if params["all_platforms"] else []
    args = ["image", "import", *options, archives.plain_tar(params["src"], archive["compression"], module.tmpdir)]
    _rc, out = ctr.run(args)
    listed = ctr.images()
    missing = [image["ref"] for image in todo if not lists(listed, image, archive["format"])]
    if missing:
        unpacked = ", ".join(entry["ref"] for entry in parsers.parse_ctr_import(out)) or "nothing"
        raise Microk8sError(
            "microk8s ctr image import ran, but containerd does not list %s with the archive's digest (ctr unpacked: "
            "%s).%s" % (", ".join(missing), unpacked, PLATFORM_HINT),
            cmd=ctr.display(args),
            stdout=out,
        )


def lists(listed, image, archive_format):
    """Whether containerd lists the image's name (for an OCI archive: with the archive's digest)."""
    entry = listed.get(image["ref"])
    return bool(entry) and (archive_format != "oci" or entry["digest"] == image["digest"])


def work(module, runner):
    params = module.params
    try:
        archive = archives.read_archive(params["src"])
    except archives.ArchiveError as exc:
        raise Microk8sError(str(exc)) from exc
    if archive["format"] == "oci":
        for image in archive["images"]:
            if parsers.normalise_image_ref(image["ref"]) != image["ref"]:
                module.warn(
                    "%s is an OCI name containerd keeps as written; Kubernetes looks for %s: name the image fully "
                    "when you build it" % (image["ref"], parsers.normalise_image_ref(image["ref"]))
                )
    ctr = Ctr(runner, params["namespace"])
    platform = archives.parse_platform(params["platform"] or host_platform.machine())
    images, before = plan(ctr, archive, ctr.images(), platform, params["force"])
    todo = [image for image in images if image["imported"]]
    if todo and not module.check_mode:
        import_archive(module, ctr, archive, todo)
    result = {"changed": bool(todo), "images": images, "imported": [image["ref"] for image in todo]}
    if module._diff:
        result["diff"] = {"before": {"images": before}, "after": {"images": {i["ref"]: i["digest"] for i in images}}}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            namespace=dict(type="str", default=DEFAULT_NAMESPACE),
            platform=dict(type="str"),
            all_platforms=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
        ),
        mutually_exclusive=[("platform", "all_platforms")],
        supports_check_mode=True,
    )
    run_module(module, lambda runner: work(module, runner))


if __name__ == "__main__":
    main()
