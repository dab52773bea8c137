# SPDX-License-Identifier: GPL-3.0-or-later
"""containerd image parsers (`ctr images ls`, `ctr image import`, archive manifests, refs) against the recorded
outputs in fixtures/ctr-*, fixtures/docker-archive-manifest and fixtures/oci-index (provenance in PROVENANCE.md)."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(*path):
    with open(os.path.join(FIXTURES, *path), encoding="utf-8") as handle:
        return handle.read()


def digest(label):
    """The digests the fixtures were written with: sha256 of a label naming the blob."""
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


HELLO = digest("hello-manifest")
M2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("1.20-empty", {}, id="ctr-images-ls-1.20-header-only"),
        pytest.param(
            "1.28-hello-and-pause",
            {
                "docker.io/library/hello:local": (M2, HELLO, "2.9 MiB", ["linux/amd64"]),
                "k8s.gcr.io/pause:3.1": (
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    digest("pause-3.1-index"),
                    "311.4 KiB",
                    ["linux/amd64", "linux/arm/v7", "linux/arm64", "linux/ppc64le", "linux/s390x", "windows/amd64"],
                ),
                "localhost:32000/hello:1.0": (M2, HELLO, "2.9 MiB", ["linux/amd64"]),
                digest("hello-config"): (M2, HELLO, "2.9 MiB", ["linux/amd64"]),
            },
            id="ctr-images-ls-1.28-multi-platform-row-and-cri-id-row",
        ),
        pytest.param(
            "1.32-oci-index-and-unlabelled",
            {
                "docker.io/library/app:2.0": (
                    "application/vnd.oci.image.index.v1+json",
                    digest("app-index"),
                    "48.1 MiB",
                    ["linux/amd64", "linux/arm64"],
                ),
                "hello:local": ("application/vnd.oci.image.manifest.v1+json", digest("oci-hello-manifest"), "0 B", []),
            },
            id="ctr-images-ls-1.32-oci-index-and-no-platform",
        ),
    ],
)
def test_parse_ctr_images(name, expected):
    images = parsers.parse_ctr_images(fixture("ctr-images-ls", name + ".txt"))
    assert {ref: (i["type"], i["digest"], i["size"], i["platforms"]) for ref, i in images.items()} == expected
    assert all(ref == image["ref"] for ref, image in images.items())


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("1.20-one-ref", [("docker.io/library/hello:local", HELLO)], id="ctr-image-import-1.20-one-ref"),
        pytest.param(
            "1.28-two-refs",
            [("docker.io/library/hello:local", HELLO), ("registry:5000/hello:1.0", HELLO)],
            id="ctr-image-import-1.28-two-refs",
        ),
        pytest.param("1.28-unpack-failed", [], id="ctr-image-import-1.28-unpack-not-done"),
    ],
)
def test_parse_ctr_import(name, expected):
    unpacked = parsers.parse_ctr_import(fixture("ctr-image-import", name + ".txt"))
    assert [(entry["ref"], entry["digest"]) for entry in unpacked] == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param(
            "docker24-hello", [("docker.io/library/hello:local", "hello-config")], id="docker-archive-docker24-v1.2"
        ),
        pytest.param("podman-hello", [("localhost/hello:local", "hello-config")], id="docker-archive-podman-localhost"),
        pytest.param(
            "docker25-two-images-one-untagged",
            [("docker.io/library/hello:local", "hello-config"), ("registry:5000/hello:1.0", "hello-config")],
            id="docker-archive-docker25-blobs-paths-untagged-skipped",
        ),
    ],
)
def test_parse_docker_archive_manifest(name, expected):
    images = parsers.parse_docker_archive_manifest(fixture("docker-archive-manifest", name + ".json"))
    assert [(i["ref"], i["config"], i["digest"]) for i in images] == [(r, digest(c), None) for r, c in expected]


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param(
            "docker25-hello", [("docker.io/library/hello:local", "d25-hello-manifest")], id="oci-index-docker25"
        ),
        pytest.param("skopeo-hello", [("hello:local", "oci-hello-manifest")], id="oci-index-ref-name-kept-verbatim"),
        pytest.param("buildah-bare-tag", [], id="oci-index-bare-tag-names-nothing"),
        pytest.param(
            "docker25-multiplatform-app", [("docker.io/library/app:2.0", "app-index")], id="oci-index-nested-index"
        ),
    ],
)
def test_parse_oci_index(name, expected):
    images = parsers.parse_oci_index(fixture("oci-index", name + ".json"))
    assert [(i["ref"], i["digest"], i["config"]) for i in images] == [(r, digest(d), None) for r, d in expected]


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("hello:local", "docker.io/library/hello:local"),
        ("hello", "docker.io/library/hello:latest"),
        ("user/app:1.0", "docker.io/user/app:1.0"),
        ("k8s.gcr.io/pause:3.1", "k8s.gcr.io/pause:3.1"),
        ("registry:5000/x", "registry:5000/x:latest"),
        ("localhost/hello:local", "localhost/hello:local"),
        ("localhost:32000/hello:1.0", "localhost:32000/hello:1.0"),
        ("busybox@" + HELLO, "docker.io/library/busybox@" + HELLO),
        (" docker.io/library/hello:local ", "docker.io/library/hello:local"),
    ],
)
def test_normalise_image_ref(ref, expected):
    assert parsers.normalise_image_ref(ref) == expected


@pytest.mark.parametrize(
    "blob, expected",
    [
        ('{"schemaVersion":2,"config":{"digest":"%s"},"layers":[]}' % HELLO, HELLO),
        ('{"schemaVersion":2,"manifests":[]}', None),
    ],
    ids=["manifest", "index-has-no-config"],
)
def test_manifest_config_digest(blob, expected):
    assert parsers.manifest_config_digest(blob) == expected
