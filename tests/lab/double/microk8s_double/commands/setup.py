# SPDX-License-Identifier: GPL-3.0-or-later
"""The snap's install hook: lay out $SNAP_DATA/$SNAP_COMMON as a fresh MicroK8s install has them."""

from __future__ import annotations

from pathlib import Path

from microk8s_double import addons, certs
from microk8s_double.commands.common import Context, current

LOW_MEMORY_KB = 512 * 1024


def low_memory(meminfo: Path = Path("/proc/meminfo")) -> bool:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) < LOW_MEMORY_KB
    return False


def restrict(ctx: Context) -> None:
    """The install hook's `chmod -R ug+rwX,o-rwX` of credentials/, certs/ and args/: tokens, keys and kubeconfigs are
    not for other users (`microk8s status` as one of them answers `Insufficient permissions`). Join and leave
    rewrite files there, so they call this again, as the real scripts' try_set_file_permissions does per file."""
    for directory in (ctx.paths.snap_data / "credentials", ctx.paths.snap_data / "certs", ctx.paths.snap_data / "args"):
        for path in [directory, *directory.rglob("*")] if directory.exists() else []:
            if not path.is_symlink():
                mode = path.stat().st_mode & 0o777
                execute = 0o110 if path.is_dir() or mode & 0o111 else 0
                path.chmod((mode | 0o660 | execute) & 0o770)


def install(ctx: Context) -> None:
    """Certificates and credentials (certs.ensure), args, the token file, default addons, the low-memory guard."""
    for directory in ("var/lock", "args", "var/kubernetes/backend"):
        (ctx.paths.snap_data / directory).mkdir(parents=True, exist_ok=True)
    certs.ensure(ctx)
    ctx.paths.credentials("cluster-tokens.txt").touch()
    ctx.paths.args("cluster-agent").write_text(f"--bind 0.0.0.0:{ctx.port('cluster_agent')}\n")
    ctx.paths.args("kubectl").touch()
    addons.install_defaults(ctx.paths, ctx.profile)
    restrict(ctx)
    if ctx.profile.since(24) and low_memory():
        ctx.paths.lock("low-memory-guard.lock").touch()


if __name__ == "__main__":
    install(current())
