# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
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
    packages = ("snapd", "containerd", "runc", "python3", "openssh-server", "kubernetes-client", "iputils-arping")
    for package in (*packages, "sudo", "keepalived"):
        assert package in image.PACKAGES


def _fake_build(calls):
    def build(target, digest):
        calls.append(("build", digest))
        target.mkdir(parents=True)
        (target / "rootfs.tar").write_text("rootfs")
        (target / "meta.tar").write_text("meta")

    return build


def test_a_fresh_checkout_rebuilds_its_cache_when_lxd_already_has_the_image(monkeypatch, tmp_path):
    calls = []
    digest = image.recipe_hash()
    monkeypatch.setattr(image.lxd, "image_by_alias", lambda alias: {"properties": {"recipe": digest}})
    monkeypatch.setattr(image, "build", _fake_build(calls))
    monkeypatch.setattr(image, "run", lambda argv, **kwargs: calls.append(tuple(argv[:3])))
    rootfs = image.ensure(tmp_path)
    assert rootfs == tmp_path.resolve() / digest / "rootfs.tar" and rootfs.exists()
    assert calls == [("build", digest)]  # no import: LXD's image is already of this recipe
    assert image.ensure(tmp_path) == rootfs and calls == [("build", digest)]  # cached now


def test_a_missing_image_is_built_and_imported(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(image.lxd, "image_by_alias", lambda alias: None)
    monkeypatch.setattr(image, "build", _fake_build(calls))
    monkeypatch.setattr(image, "run", lambda argv, **kwargs: calls.append(tuple(argv[:3])))
    image.ensure(tmp_path)
    assert calls == [("build", image.recipe_hash()), ("lxc", "image", "import")]


def test_a_failed_image_build_is_tried_once_more_then_reported(monkeypatch, tmp_path):
    """A fresh machine downloads the image's packages from the Debian mirror: one failed download is retried."""
    calls = []
    built = _fake_build(calls)

    def flaky(target, digest):
        if len(calls) == 0:
            calls.append(("failed", digest))
            raise image.LabError("rc=1: debootstrap ...\nE: Couldn't download packages")
        built(target, digest)

    monkeypatch.setattr(image.lxd, "image_by_alias", lambda alias: None)
    monkeypatch.setattr(image, "build", flaky)
    monkeypatch.setattr(image, "run", lambda argv, **kwargs: calls.append(tuple(argv[:3])))
    image.ensure(tmp_path)
    digest = image.recipe_hash()
    assert calls == [("failed", digest), ("build", digest), ("lxc", "image", "import")]

    def broken(target, digest):
        raise image.LabError("rc=1: debootstrap: mirror unreachable")

    monkeypatch.setattr(image, "build", broken)
    with pytest.raises(image.LabError, match="mirror unreachable"):
        image.ensure(tmp_path / "other")


def test_snap_apps_are_on_the_path_of_ssh_sessions_and_of_sudo_as_on_ubuntu():
    path = image.FILES["etc/environment"].strip()
    assert path.startswith('PATH="') and path.endswith(':/snap/bin"')
    assert "/usr/bin" in path.split('"')[1].split(":")
    sudo = image.FILES["etc/sudoers.d/lab-snap-path"]
    assert sudo.startswith("Defaults\tsecure_path=") and sudo.rstrip().endswith(':/snap/bin"')
    assert image.MODES["etc/sudoers.d/lab-snap-path"] == 0o440


def test_the_image_has_a_non_root_admin_with_passwordless_sudo():
    assert image.FILES["etc/sudoers.d/lab-admin"] == "labadmin ALL=(ALL) NOPASSWD:ALL\n"
    assert image.MODES["etc/sudoers.d/lab-admin"] == 0o440
    useradd = next(argv for argv in image.CHROOT_COMMANDS if argv[0] == "useradd")
    assert useradd[-1] == image.ADMIN_USER and "--create-home" in useradd
    assert useradd[useradd.index("--uid") + 1] == str(image.ADMIN_UID)
    assert ("visudo", "--check", "--strict") in image.CHROOT_COMMANDS  # a broken sudoers file fails the build


def test_changing_a_mode_changes_the_hash(monkeypatch):
    before = image.recipe_hash()
    monkeypatch.setitem(image.MODES, "etc/sudoers.d/lab-admin", 0o400)
    assert image.recipe_hash() != before
