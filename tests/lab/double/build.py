#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the microk8s test double as a local classic snap plus the base snap it names, offline.

    python3 tests/lab/double/build.py --profile 1.28 --out DIR

writes DIR/microk8s_<version>_amd64.snap and DIR/<base>_1_amd64.snap (mksquashfs; the libraries of BUNDLED are
copied from this Python's site-packages, so the nodes' python3 must be of this Python's version).
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from microk8s_double import cli, default_args, profiles  # noqa: E402

DAEMONS = {
    "daemon-cluster-agent": "bin/daemon agent",
    "daemon-k8s-dqlite": "bin/daemon datastore",
    "daemon-kubelite": "bin/daemon kubelite",
    "daemon-containerd": "bin/containerd",
}
BASE_DIRS = [
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "lib64",
    "media",
    "mnt",
    "opt",
    "proc",
    "root",
    "run",
    "sbin",
    "snap",
    "srv",
    "sys",
    "tmp",
    "usr",
    "var",
    "writable",
]
BASE_REVISION = "1"
# Libraries the double imports that the node's Python (Debian's python3, no pip) lacks: cert-manager's ACME issuer
# (controllers/acmeissuer.py) uses certbot's `acme` client and dnspython. They and what they require are copied from
# the building Python (the controller's venv, same Python minor as Debian bookworm's 3.11) into $SNAP/lib.
BUNDLED = ("acme", "dnspython")


def snap_yaml(profile: profiles.Profile) -> str:
    lines = [
        "name: microk8s",
        f"version: {profile.version}",
        "summary: Kubernetes for workstations and appliances (lab test double)",
        "description: A test double of MicroK8s that imitates its CLI and clustering; not Kubernetes.",
        "architectures: [amd64]",
        "grade: stable",
        "confinement: classic",
        # snapcraft writes no `base:` for snaps built on `core` (1.20): snapd then runs them on the core OS snap.
        *([] if profile.base == "core" else [f"base: {profile.base}"]),
        "apps:",
        "  microk8s:",
        "    command: bin/microk8s",
    ]
    # The real snap's command apps (/snap/bin/microk8s.kubectl ...) are its subcommands (snap/snapcraft.yaml of each
    # release branch lists the same names as its wrappers); each runs the CLI with its subcommand.
    for name in cli.available(profile.minor):
        lines += [f"  {name}:", f"    command: bin/microk8s {name}"]
    for name, command in DAEMONS.items():
        lines += [f"  {name}:", f"    command: {command}", "    daemon: simple"]
    return "\n".join(lines) + "\n"


def base_yaml(name: str) -> str:
    # snapd knows the old `core` snap as the OS snap; the later bases are plain base snaps.
    kind = "os" if name == "core" else "base"
    return f"name: {name}\nversion: '{BASE_REVISION}'\nsummary: Minimal {name} for the lab\ntype: {kind}\n"


def squash(tree: Path, target: Path) -> None:
    subprocess.run(
        ["mksquashfs", str(tree), str(target), "-noappend", "-comp", "xz", "-no-xattrs", "-all-root", "-quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def stage_microk8s(profile: profiles.Profile, tree: Path) -> None:
    shutil.copytree(HERE / "snap", tree, dirs_exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(HERE / "microk8s_double", tree / "lib" / "microk8s_double", ignore=ignore)
    bundle(tree)
    precompile(tree / "lib")
    (tree / "meta" / "snap.yaml").write_text(snap_yaml(profile))
    default_args.write(profile, tree / "default-args")  # the install hook copies them to $SNAP_DATA/args
    (tree / profiles.PROFILE_FILE).write_text(json.dumps({"version": profile.version}) + "\n")


def precompile(lib: Path) -> None:
    """Ship the bytecode with the sources, as a Python snap built by snapcraft does: $SNAP is read-only, so without
    it every `microk8s` command, daemon start and pod shim of the double compiled its modules again (`microk8s
    status` about 0.04 s of CPU more per run on a lab node), a cost real MicroK8s' bash wrappers and Go binaries do
    not have."""
    if not compileall.compile_dir(lib, quiet=2, workers=0):
        raise SystemExit(f"build.py: compiling {lib} failed")


def bundle_closure(names: tuple[str, ...] = BUNDLED) -> list:
    """The installed distributions of `names` and everything they require (markers evaluated, no extras)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    found, todo = {}, list(names)
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as error:
            raise SystemExit(f"build.py: {name} is not installed in {sys.executable} (requirements.txt)") from error
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(found.values(), key=lambda d: d.metadata["Name"].lower())


def bundle(tree: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for dist in bundle_closure():
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops):
            source = Path(dist.locate_file(top))
            if top.endswith((".dist-info", ".pth")) or top in ("bin", "__pycache__") or not source.exists():
                continue
            if source.is_dir():
                shutil.copytree(source, tree / "lib" / top, ignore=ignore, dirs_exist_ok=True)
            else:
                shutil.copy2(source, tree / "lib" / top)


def stage_base(name: str, tree: Path) -> None:
    for directory in BASE_DIRS:
        (tree / directory).mkdir(parents=True)
    (tree / "meta").mkdir()
    (tree / "meta" / "snap.yaml").write_text(base_yaml(name))


def build(profile: profiles.Profile, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    snap_file = out / f"microk8s_{profile.version}_amd64.snap"
    base_file = out / f"{profile.base}_{BASE_REVISION}_amd64.snap"
    with tempfile.TemporaryDirectory() as work:
        stage_microk8s(profile, Path(work) / "microk8s")
        stage_base(profile.base, Path(work) / "base")
        squash(Path(work) / "microk8s", snap_file)
        squash(Path(work) / "base", base_file)
    return [base_file, snap_file]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="MicroK8s version, e.g. 1.28 or v1.28.15")
    parser.add_argument("--out", required=True, type=Path, help="directory for the .snap files")
    args = parser.parse_args()
    try:
        profile = profiles.for_track(args.profile)
    except ValueError as error:
        parser.error(str(error))
    for path in build(profile, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
