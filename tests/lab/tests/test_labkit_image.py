# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from labkit import image


def test_recipe_hash_is_stable():
    assert image.recipe_hash() == image.recipe_hash()


def test_changing_the_recipe_changes_the_hash(monkeypatch):
    before = image.recipe_hash()
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "vim-tiny"))
    assert image.recipe_hash() != before


def test_changing_a_baked_file_changes_the_hash(monkeypatch):
    before = image.recipe_hash()
    monkeypatch.setitem(image.FILES, "etc/fstab", "# changed\n")
    assert image.recipe_hash() != before


def test_metadata_carries_the_recipe_for_the_cache_check():
    text = image._metadata("abc123")
    assert "architecture: x86_64\n" in text
    assert "  recipe: abc123\n" in text


def test_image_has_what_the_nodes_need():
    for package in ("snapd", "containerd", "runc", "python3", "openssh-server", "kubernetes-client", "iputils-arping"):
        assert package in image.PACKAGES
