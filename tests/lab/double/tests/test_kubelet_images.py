# SPDX-License-Identifier: GPL-3.0-or-later
"""Image references, pull policy and the air-gapped pull failure."""

from __future__ import annotations

import pytest
from microk8s_double.kubelet import images

LISTING = """REF TYPE DIGEST SIZE PLATFORMS LABELS
docker.io/library/hello:local application/vnd.docker.distribution.manifest.v2+json sha256:aaa 1.9 MiB linux/amd64 x
localhost:5000/team/app:1.0 application/vnd.oci.image.manifest.v1+json sha256:bbb 2 MiB linux/amd64 x
sha256:ccc application/vnd.docker.distribution.manifest.v2+json sha256:aaa 1.9 MiB linux/amd64 x
"""


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("hello:local", "docker.io/library/hello:local"),
        ("nginx", "docker.io/library/nginx:latest"),
        ("team/app:2", "docker.io/team/app:2"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        ("quay.io/x/y@sha256:abc", "quay.io/x/y@sha256:abc"),
    ],
)
def test_references_are_normalized_as_containerd_records_them(image, ref):
    assert images.normalize(image) == ref


def test_listing_and_lookup_by_tag_or_digest():
    listing = images.parse_listing(LISTING)
    assert listing == {"docker.io/library/hello:local": "sha256:aaa", "localhost:5000/team/app:1.0": "sha256:bbb"}
    assert images.find("hello:local", listing) == "docker.io/library/hello:local"
    assert images.find("docker.io/library/hello@sha256:aaa", listing) == "docker.io/library/hello:local"
    assert images.find("hello:other", listing) is None


@pytest.mark.parametrize(
    ("container", "present", "pull"),
    [
        ({"image": "hello:local"}, True, False),  # IfNotPresent by default for a tag
        ({"image": "hello:local"}, False, True),
        ({"image": "hello"}, True, True),  # untagged = latest = Always
        ({"image": "hello:latest", "imagePullPolicy": "IfNotPresent"}, True, False),
        ({"image": "hello:local", "imagePullPolicy": "Always"}, True, True),
        ({"image": "hello:local", "imagePullPolicy": "Never"}, False, None),
        ({"image": "hello:local", "imagePullPolicy": "Never"}, True, False),
    ],
)
def test_pull_policy(container, present, pull):
    assert images.needs_pull(container, present) is pull


def test_the_pull_error_names_the_registry_that_cannot_be_reached():
    text = images.pull_error("nginx")
    assert text.startswith(
        'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/nginx:latest"'
    )
    assert 'Head "https://registry-1.docker.io/v2/library/nginx/manifests/latest"' in text
    assert "lookup registry-1.docker.io" in images.pull_error("nginx")
    assert 'Head "https://quay.io/v2/x/y/manifests/1"' in images.pull_error("quay.io/x/y:1")
