# SPDX-License-Identifier: GPL-3.0-or-later
"""ctr_image_import against real archives built here (docker-archive, OCI layout, docker 25+ with both) and the
`microk8s ctr` outputs of contract §7 (formats as in fixtures/ctr-*)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest
from ansible.module_utils.common import warnings

from ansible_collections.onprem.microk8s.plugins.modules import ctr_image_import
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import Call, run

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
LS = ["microk8s", "ctr", "images", "ls"]
HELLO = "docker.io/library/hello:local"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Image:
    """One image's blobs: a config naming its platform, one layer, the OCI manifest tying them together."""

    def __init__(self, text="hello", architecture="amd64"):
        self.layer = tar_bytes({"hello": text.encode()})
        self.config = json.dumps(
            {"architecture": architecture, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(self.layer)]}}
        ).encode()
        self.manifest = manifest_json(self.config, self.layer)
        self.id = sha(self.config)
        self.digest = sha(self.manifest)


def manifest_json(config, layer):
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": 9},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": 9}],
        }
    ).encode()


def docker_files(entries):
    """`docker save` (v1.2) layout for [(Image, [tags])]."""
    files, manifest = {}, []
    for image, tags in entries:
        files[image.id[7:] + ".json"] = image.config
        files[image.id[7:] + "/layer.tar"] = image.layer
        manifest.append({"Config": image.id[7:] + ".json", "RepoTags": tags, "Layers": [image.id[7:] + "/layer.tar"]})
    files["manifest.json"] = json.dumps(manifest).encode()
    return files


def oci_files(entries):
    """OCI layout for [(Image, annotations)]."""
    files, manifests = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}, []
    for image, names in entries:
        for blob in (image.config, image.layer, image.manifest):
            files["blobs/sha256/" + sha(blob)[7:]] = blob
        manifests.append({"mediaType": OCI_MANIFEST, "digest": image.digest, "size": 9, "annotations": names})
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
    return files


def archive(tmp_path, files, name="image.tar"):
    path = tmp_path / name
    path.write_bytes(tar_bytes(files))
    return str(path)


def listing(*rows):
    """`ctr images ls` text: rows of (ref, type, digest)."""
    lines = ["REF TYPE DIGEST SIZE PLATFORMS LABELS "]
    lines += ["%s %s %s 2.9 MiB linux/amd64 io.cri-containerd.image=managed " % row for row in rows]
    return "\n".join(lines) + "\n"


def unpacking(*pairs):
    return "".join("unpacking %s (%s)...done\n" % pair for pair in pairs)


def index_json(*platforms):
    """A manifest list as `ctr content get` prints it: [(digest, architecture, variant)]."""
    manifests = [
        {"mediaType": DOCKER_MANIFEST, "digest": d, "size": 9, "platform": dict(os="linux", architecture=a, **v)}
        for d, a, v in platforms
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})


def docker_manifest(config_digest):
    return json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {"digest": config_digest}})


def import_call(*args, **kwargs):
    return Call(["microk8s", "ctr", "image", "import", *args], 0, **kwargs)


def content(digest, stdout, rc=0):
    return Call(["microk8s", "ctr", "content", "get", digest], rc, stdout, "" if rc == 0 else "ctr: not found")


HELLO_IMAGE = Image()
OTHER_IMAGE = Image("other")
STORED = "sha256:" + "d" * 64  # the manifest digest containerd wrote for a docker-archive import


@pytest.fixture
def hello_tar(tmp_path):
    return archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local"])]))


# -- docker-archives: compared by image ID -----------------------------------------------------------------------


def test_missing_image_is_imported_and_confirmed(hello_tar):
    out = run(
        ctr_image_import.main,
        {"src": hello_tar},
        [
            Call(LS, 0, listing()),
            import_call(hello_tar, stdout=unpacking((HELLO, STORED))),
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
        ],
    )
    assert not out.failed and out.result["changed"]
    assert out.result["imported"] == [HELLO]
    assert out.result["images"] == [{"ref": HELLO, "digest": HELLO_IMAGE.id, "present_before": False, "imported": True}]


def test_same_image_id_is_left_alone(hello_tar):
    out = run(
        ctr_image_import.main,
        {"src": hello_tar},
        [Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))), content(STORED, docker_manifest(HELLO_IMAGE.id))],
    )
    assert not out.result["changed"] and out.result["imported"] == []
    assert out.result["images"][0]["present_before"] and not out.result["images"][0]["imported"]


@pytest.mark.parametrize(
    "stored",
    [content(STORED, docker_manifest(OTHER_IMAGE.id)), content(STORED, "", rc=1), content(STORED, "not json")],
    ids=["other-image-id", "content-missing", "content-unreadable"],
)
def test_other_or_unknown_image_under_the_name_is_replaced(hello_tar, stored):
    out = run(
        ctr_image_import.main,
        {"src": hello_tar},
        [
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
            stored,
            import_call(hello_tar, stdout=unpacking((HELLO, STORED))),
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
        ],
    )
    assert out.result["changed"] and out.result["images"][0]["present_before"]


@pytest.mark.parametrize(
    "machine, variant, same",
    [("x86_64", {}, True), ("armv7l", {"variant": "v7"}, True), ("aarch64", {}, False)],
    ids=["amd64-node-picks-amd64", "armv7l-node-picks-arm-v7", "arm64-node-has-no-match"],
)
def test_listed_index_is_compared_through_the_nodes_platform(monkeypatch, hello_tar, machine, variant, same):
    monkeypatch.setattr(ctr_image_import.host_platform, "machine", lambda: machine)
    arch = "arm" if variant else "amd64"
    calls = [
        Call(LS, 0, listing((HELLO, OCI_INDEX, STORED))),
        content(STORED, index_json(("sha256:" + "a" * 64, "s390x", {}), ("sha256:" + "b" * 64, arch, variant))),
    ]
    if same:
        calls.append(content("sha256:" + "b" * 64, docker_manifest(HELLO_IMAGE.id)))
    else:
        calls += [import_call(hello_tar), Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED)))]
    out = run(ctr_image_import.main, {"src": hello_tar}, calls)
    assert out.result["changed"] is not same


def test_platform_option_picks_the_manifest_and_is_passed_to_ctr(hello_tar):
    arm64 = "sha256:" + "b" * 64
    out = run(
        ctr_image_import.main,
        {"src": hello_tar, "platform": "linux/arm64"},
        [
            Call(LS, 0, listing((HELLO, OCI_INDEX, STORED))),
            content(STORED, index_json(("sha256:" + "a" * 64, "amd64", {}), (arm64, "arm64", {}))),
            content(arm64, docker_manifest(OTHER_IMAGE.id)),
            import_call("--platform", "linux/arm64", hello_tar),
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
        ],
    )
    assert out.result["changed"]


def test_multi_image_archive_imports_once_for_what_is_missing(tmp_path):
    src = archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local", "registry:5000/hello"]), (OTHER_IMAGE, [])]))
    registry = "registry:5000/hello:latest"
    out = run(
        ctr_image_import.main,
        {"src": src},
        [
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
            content(STORED, docker_manifest(HELLO_IMAGE.id)),
            import_call(src),
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED), (registry, DOCKER_MANIFEST, STORED))),
        ],
    )
    assert [(i["ref"], i["imported"]) for i in out.result["images"]] == [(HELLO, False), (registry, True)]
    assert out.result["imported"] == [registry]


def test_two_names_of_one_stored_manifest_read_its_content_once(tmp_path):
    src = archive(tmp_path, docker_files([(HELLO_IMAGE, ["hello:local", "registry:5000/hello:1.0"])]))
    listed = listing((HELLO, DOCKER_MANIFEST, STORED), ("registry:5000/hello:1.0", DOCKER_MANIFEST, STORED))
    out = run(
        ctr_image_import.main,
        {"src": src},
        [Call(LS, 0, listed), content(STORED, docker_manifest(HELLO_IMAGE.id))],
    )
    assert not out.result["changed"]


# -- OCI layouts: compared by manifest digest --------------------------------------------------------------------


@pytest.mark.parametrize("same", [True, False], ids=["same-digest", "other-digest"])
def test_oci_archive_compares_the_listed_digest(tmp_path, same):
    src = archive(tmp_path, oci_files([(HELLO_IMAGE, {"io.containerd.image.name": HELLO})]))
    node_digest = HELLO_IMAGE.digest if same else OTHER_IMAGE.digest
    calls = [Call(LS, 0, listing((HELLO, OCI_MANIFEST, node_digest)))]
    if not same:
        calls += [import_call(src), Call(LS, 0, listing((HELLO, OCI_MANIFEST, HELLO_IMAGE.digest)))]
    out = run(ctr_image_import.main, {"src": src}, calls, diff=True)
    assert out.result["changed"] is not same
    assert out.result["diff"] == {
        "before": {"images": {HELLO: node_digest}},
        "after": {"images": {HELLO: HELLO_IMAGE.digest}},
    }


def test_docker25_archive_with_both_layouts_is_read_as_oci(tmp_path):
    files = docker_files([(OTHER_IMAGE, ["hello:local"])])
    files.update(
        oci_files([(HELLO_IMAGE, {"io.containerd.image.name": HELLO, "org.opencontainers.image.ref.name": "local"})])
    )
    src = archive(tmp_path, files)
    out = run(ctr_image_import.main, {"src": src}, [Call(LS, 0, listing((HELLO, OCI_MANIFEST, HELLO_IMAGE.digest)))])
    assert not out.result["changed"]
    assert out.result["images"][0]["digest"] == HELLO_IMAGE.digest


def test_short_oci_name_is_kept_and_warned_about(tmp_path):
    src = archive(tmp_path, oci_files([(HELLO_IMAGE, {"org.opencontainers.image.ref.name": "hello:local"})]))
    out = run(
        ctr_image_import.main,
        {"src": src},
        [
            Call(LS, 0, listing()),
            import_call(src),
            Call(LS, 0, listing(("hello:local", OCI_MANIFEST, HELLO_IMAGE.digest))),
        ],
    )
    assert out.result["imported"] == ["hello:local"]
    assert any("Kubernetes looks for %s" % HELLO in w for w in warnings.get_warning_messages())


def test_import_that_leaves_a_name_missing_fails_with_a_platform_hint(tmp_path):
    src = archive(tmp_path, oci_files([(HELLO_IMAGE, {"io.containerd.image.name": HELLO})]))
    out = run(
        ctr_image_import.main,
        {"src": src},
        [Call(LS, 0, listing()), import_call(src, stdout=""), Call(LS, 0, listing())],
    )
    assert out.failed
    assert "does not list %s" % HELLO in out.result["msg"] and "all_platforms" in out.result["msg"]
    assert out.result["cmd"] == "microk8s ctr image import %s" % src


# -- options, check mode, diff ----------------------------------------------------------------------------------


def test_force_imports_what_is_already_there(hello_tar):
    out = run(
        ctr_image_import.main,
        {"src": hello_tar, "force": True},
        [
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
            content(STORED, docker_manifest(HELLO_IMAGE.id)),
            import_call(hello_tar),
            Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
        ],
    )
    assert out.result["changed"] and out.result["imported"] == [HELLO]


def test_check_mode_reports_the_plan_without_importing(hello_tar):
    out = run(ctr_image_import.main, {"src": hello_tar}, [Call(LS, 0, listing())], check_mode=True, diff=True)
    assert out.result["changed"] and out.result["imported"] == [HELLO]
    assert out.result["diff"] == {"before": {"images": {}}, "after": {"images": {HELLO: HELLO_IMAGE.id}}}


def test_diff_of_an_unchanged_image_is_empty(hello_tar):
    out = run(
        ctr_image_import.main,
        {"src": hello_tar},
        [Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED))), content(STORED, docker_manifest(HELLO_IMAGE.id))],
        diff=True,
    )
    assert out.result["diff"]["before"] == out.result["diff"]["after"]


def test_other_namespace_and_all_platforms(hello_tar):
    ns = ["microk8s", "ctr", "--namespace", "builds"]
    out = run(
        ctr_image_import.main,
        {"src": hello_tar, "namespace": "builds", "all_platforms": True},
        [
            Call([*ns, "images", "ls"], 0, listing()),
            Call([*ns, "image", "import", "--all-platforms", hello_tar]),
            Call([*ns, "images", "ls"], 0, listing((HELLO, DOCKER_MANIFEST, STORED))),
        ],
    )
    assert out.result["changed"]


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_gzip_archive_is_decompressed_for_ctr(tmp_path, check_mode):
    src = tmp_path / "hello.tar.gz"
    src.write_bytes(gzip.compress(tar_bytes(docker_files([(HELLO_IMAGE, ["hello:local"])]))))
    (tmp_path / "moduletmp").mkdir()
    plain = str(tmp_path / "moduletmp" / "image-archive.tar")
    calls = [Call(LS, 0, listing())]
    if not check_mode:
        calls += [import_call(plain), Call(LS, 0, listing((HELLO, DOCKER_MANIFEST, STORED)))]
    args = {"src": str(src), "_ansible_tmpdir": str(tmp_path / "moduletmp")}
    out = run(ctr_image_import.main, args, calls, check_mode=check_mode)
    assert out.result["imported"] == [HELLO]
    if check_mode:
        assert not (tmp_path / "moduletmp" / "image-archive.tar").exists()
    else:
        with tarfile.open(plain, "r:") as tar:
            assert "manifest.json" in tar.getnames()


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_bytes, message",
    [
        (None, "does not exist"),
        (b"just text, not a tar archive at all\n" * 20, "is not a readable tar archive"),
        (b"\x28\xb5\x2f\xfd" + b"\0" * 600, "zstd-compressed"),
        (tar_bytes({"hello.txt": b"hi"}), "is not an image archive"),
        (tar_bytes({"manifest.json": b"{not json"}), "invalid image manifest"),
        (tar_bytes(docker_files([(HELLO_IMAGE, [])])), "names no image"),
        (tar_bytes(oci_files([(HELLO_IMAGE, {"org.opencontainers.image.ref.name": "latest"})])), "names no image"),
    ],
    ids=["missing", "not-tar", "zstd", "no-manifest", "bad-json", "untagged-docker", "bare-oci-tag"],
)
def test_bad_src_fails_before_any_command(tmp_path, content_bytes, message):
    src = tmp_path / "image.tar"
    if content_bytes is not None:
        src.write_bytes(content_bytes)
    out = run(ctr_image_import.main, {"src": str(src)}, [])
    assert out.failed and message in out.result["msg"] and out.calls == []


def test_platform_and_all_platforms_exclude_each_other(hello_tar):
    out = run(ctr_image_import.main, {"src": hello_tar, "platform": "amd64", "all_platforms": True}, [])
    assert out.failed and "mutually exclusive" in out.result["msg"]


@pytest.mark.parametrize(
    "stdout, stderr, message",
    [
        (
            "",
            'ctr: failed to dial "/var/snap/microk8s/common/run/containerd.sock": context deadline exceeded',
            "not running",
        ),
        ("", "microk8s is not running, try microk8s start", "not running"),
        ("", "Insufficient permissions to access MicroK8s.\nYou can either try again with sudo", "become: true"),
    ],
    ids=["containerd-down", "stopped", "no-permission"],
)
def test_unusable_containerd_fails_clearly(hello_tar, stdout, stderr, message):
    out = run(ctr_image_import.main, {"src": hello_tar}, [Call(LS, 1, stdout, stderr)])
    assert out.failed and message in out.result["msg"]
    assert (out.result["cmd"], out.result["rc"], out.result["stderr"]) == ("microk8s ctr images ls", 1, stderr)


@pytest.mark.parametrize(
    "err, options",
    [
        ("ctr: content digest sha256:%s: not found" % ("e" * 64), []),
        # containerd 1.6.20 (Debian), importing an amd64-only archive with --platform linux/arm64
        ("ctr: image might be filtered out", ["--platform", "linux/arm64"]),
    ],
    ids=["content-not-found", "platform-filtered-out"],
)
def test_failed_import_carries_ctr_output_and_a_platform_hint(hello_tar, err, options):
    args = {"src": hello_tar, "platform": options[1]} if options else {"src": hello_tar}
    out = run(
        ctr_image_import.main,
        args,
        [Call(LS, 0, listing()), Call(["microk8s", "ctr", "image", "import", *options, hello_tar], 1, "", err)],
    )
    assert out.failed and err in out.result["msg"] and "set platform" in out.result["msg"]
    assert (out.result["rc"], out.result["stderr"]) == (1, err)
