# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-node kernel facts for the storage preflight: HugePages and loaded modules as one node's admin set them.

LXD containers share the host's kernel, so every node reads the host's `/proc/meminfo` (HugePages_Total),
`/proc/sys/vm/nr_hugepages` and `/proc/modules` (what `lsmod` prints); on this host that is 0 HugePages and a
kernel without loadable modules (no /proc/modules, no /lib/modules: `--module` is refused there).
`lab.py facts NODE --hugepages 1024 [--module nvme_tcp]` gives one node the facts an admin's `sysctl
vm.nr_hugepages=1024` (and `modprobe nvme-tcp`) would give a real PC: files under the node's `/run/lab-facts/` (a
tmpfs: lost at reboot, as a runtime sysctl or modprobe is) bind-mounted over those paths, the way lxcfs already
serves each container its own /proc/meminfo. Persisting them (/etc/sysctl.d, /etc/modules-load.d) stays the node's
own business. Not covered: `/sys/module/<name>` (sysfs cannot get new entries), and the memory the pages would
reserve."""

from __future__ import annotations

import re

from .shell import LabError, run

FACTS_DIR = "/run/lab-facts"
PATHS = {"meminfo": "/proc/meminfo", "nr_hugepages": "/proc/sys/vm/nr_hugepages", "modules": "/proc/modules"}


def meminfo_with(text: str, pages: int) -> str:
    """`/proc/meminfo` with `pages` 2 MiB HugePages reserved (Total and Free; Hugetlb in kB)."""

    def field(value: int):  # the number right-aligned in the kernel's column
        return lambda m: m.group(1) + str(value).rjust(len(m.group(2)))

    text = re.sub(r"^(HugePages_(?:Total|Free):)(\s*\d+)", field(pages), text, flags=re.M)
    return re.sub(r"^(Hugetlb:)(\s*\d+)", field(pages * 2048), text, flags=re.M)


def modules_with(text: str, names: list[str]) -> str:
    """`/proc/modules` with `names` loaded too (lines as the kernel prints them)."""
    loaded = {line.split()[0] for line in text.splitlines() if line.strip()}
    extra = [f"{name} 53248 0 - Live 0x0000000000000000" for name in names if name not in loaded]
    return text + "".join(line + "\n" for line in extra)


def apply(node: str, hugepages: int | None, modules: list[str]) -> dict[str, str]:
    """Bind the node's fact files (made from the kernel's current texts) over the kernel's paths, replacing what an
    earlier call bound; returns the texts bound."""
    clear = (f"if [ -f {FACTS_DIR}/applied ]; then while read -r p; do umount \"$p\"; done < {FACTS_DIR}/applied; "
             f"rm -f {FACTS_DIR}/applied; fi")  # fmt: skip
    run(["lxc", "exec", node, "--", "sh", "-c", clear])

    def current(key: str) -> str:
        found = run(["lxc", "exec", node, "--", "sh", "-c", f"cat {PATHS[key]} 2>/dev/null"], check=False)
        if not found and key == "modules":  # a kernel built without loadable modules has no /proc/modules
            raise LabError(f"{node}: {PATHS[key]} does not exist (the kernel has no loadable modules): cannot list "
                           f"{', '.join(modules)}")  # fmt: skip
        return found

    wanted = {}
    if modules:
        wanted["modules"] = modules_with(current("modules"), modules)
    if hugepages is not None:
        wanted["meminfo"] = meminfo_with(current("meminfo"), hugepages)
        wanted["nr_hugepages"] = f"{hugepages}\n"
    for key, text in wanted.items():
        run(["lxc", "exec", node, "--", "sh", "-c", f"mkdir -p {FACTS_DIR} && cat > {FACTS_DIR}/{key}"], stdin=text)
        bind = f"mount --bind {FACTS_DIR}/{key} {PATHS[key]} && echo {PATHS[key]} >> {FACTS_DIR}/applied"
        run(["lxc", "exec", node, "--", "sh", "-c", bind])
    return wanted
