# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare before copying: node_info's image read plus the image_archive/images_to_import filters skip an archive
exactly when ctr_image_import would import nothing (docker-archives by image ID, OCI archives by digest)."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.onprem.microk8s.plugins.filter.plans import image_archive, images_to_import
from ansible_collections.onprem.microk8s.plugins.module_utils import _image_archive
from ansible_collections.onprem.microk8s.plugins.modules import ctr_image_import, node_info
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import NODE_READS, Call, run
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.test_ctr_image_import import (
    HELLO,
    HELLO_IMAGE,
    LS,
    OTHER_IMAGE,
    STORED,
    archive,
    content,
    docker_files,
    docker_manifest,
    listing,
    oci_files,
)

SNAP_LIST = (
    "Name      Version   Rev   Tracking       Publisher   Notes\n"
    "microk8s  v1.32.3   7967  1.32/stable    canonical✓  classic\n"
)
READS = [Call(["snap", "list"], 0, SNAP_LIST), Call(["snap", "get", "system", "refresh.hold"], 0, "")]


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """The controller user's cache of archive reads, per test."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def _held(tmp_path, calls):
    args = {"staging_dir": str(tmp_path), "images": [HELLO]}
    out = run(node_info.main, args, [*READS, *calls], side_by_side=NODE_READS)
    assert not out.failed
    return out.result["images"]


def _would_import(path, calls):
    out = run(ctr_image_import.main, {"src": path}, calls, check_mode=True)
    assert not out.failed
    return out.result["imported"]


@pytest.mark.parametrize(
    ("held_config", "expected"),
    [(HELLO_IMAGE.id, []), (OTHER_IMAGE.id, [HELLO])],
    ids=["same-image-id", "another-image-under-the-name"],
)
def test_docker_archive_compared_by_image_id(tmp_path, held_config, expected):
    path = archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local"])]))
    node_calls = [Call(LS, 0, listing((HELLO, "application/vnd.oci.image.manifest.v1+json", STORED)))]
    node_calls.append(content(STORED, docker_manifest(held_config)))
    held = _held(tmp_path, node_calls)
    assert held == {HELLO: {"digest": STORED, "config": held_config}}
    assert images_to_import(image_archive(path), held) == expected
    assert _would_import(path, node_calls) == expected


@pytest.mark.parametrize("same", [True, False], ids=["same-digest", "other-digest"])
def test_oci_archive_compared_by_digest(tmp_path, same):
    path = archive(tmp_path, oci_files([(HELLO_IMAGE, {"io.containerd.image.name": HELLO})]))
    digest = HELLO_IMAGE.digest if same else OTHER_IMAGE.digest
    node_calls = [
        Call(LS, 0, listing((HELLO, "application/vnd.oci.image.manifest.v1+json", digest))),
        content(digest, docker_manifest(HELLO_IMAGE.id)),
    ]
    held = _held(tmp_path, node_calls)
    expected = [] if same else [HELLO]
    assert images_to_import(image_archive(path), held) == expected
    assert _would_import(path, node_calls[:1]) == expected


def test_an_image_the_node_lacks_is_imported(tmp_path):
    path = archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local"])]))
    held = _held(tmp_path, [Call(LS, 0, listing())])
    assert held == {HELLO: None}
    assert images_to_import(image_archive(path), held) == [HELLO]


def test_containerd_not_answering_counts_as_missing(tmp_path):
    held = _held(tmp_path, [Call(LS, 1, "", 'ctr: failed to dial "/var/snap/microk8s/common/run/containerd.sock"')])
    assert held == {HELLO: None}


def test_a_file_that_is_not_an_archive_is_refused_on_the_controller(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a tar")
    with pytest.raises(ValueError, match="not a readable tar archive"):
        image_archive(str(path))


def test_an_archive_is_read_once_per_file_version(tmp_path, cache_home, monkeypatch):
    path = archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local"])]))
    first = image_archive(path)
    cache = cache_home / "onprem-microk8s" / "image-archives.json"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.parent).st_mode) == 0o700

    def unread(_path):
        raise AssertionError("the archive was read again")

    monkeypatch.setattr(_image_archive, "read_archive", unread)
    assert image_archive(path) == first
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    # the file rewritten with another image under the name: read again, the new identity returned
    archive(tmp_path, docker_files([(OTHER_IMAGE, ["hello:local"])]))
    again = image_archive(path)
    assert again["images"][0]["config"] == OTHER_IMAGE.id != first["images"][0]["config"]


def test_an_unwritable_cache_still_reads_the_archive(tmp_path, cache_home):
    cache_home.write_text("a file where the cache directory would be")
    path = archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local"])]))
    assert image_archive(path)["images"][0]["config"] == HELLO_IMAGE.id
