# SPDX-License-Identifier: GPL-3.0-or-later
"""What the addons' enable/disable scripts check, ask and print (contract section 4, addon arguments)."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from microk8s_double import addons, datastore
from microk8s_double.commands import addon_workloads, core_addons, rbac_addon
from microk8s_double.commands.common import Context

METALLB_PROMPT = "Enter each IP address range delimited by comma (e.g. '10.64.140.43-10.64.140.49,192.168.0.105/32'): "
API_DOWN = "The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?"
IPV4 = re.compile(r"^(\d{1,3}\.){3}\d{1,3}$")


class ScriptFailed(Exception):
    """The addon script exited non-zero (`set -e` or an explicit exit)."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


def ask(prompt: str) -> str:
    """bash `read -p`: the prompt only on a terminal; end of input fails the script under `set -e`."""
    if not sys.stdin.isatty():
        raise ScriptFailed(1)
    return input(prompt)


def run(ctx: Context, action: str, addon: addons.Addon, args: list[str]) -> int:
    """Run the addon's script; returns its exit code."""
    core = CORE_SCRIPTS.get(addon.name) if action == "enable" and addon.repository == "core" else None
    if core and ctx.profile.since(24) and not (addon.name == "ingress" and ctx.profile.since(35)):
        return run_core(ctx, addon, args, core)
    script = SCRIPTS.get((action, addon.name), generic if action == "enable" else generic_disable)
    try:
        script(ctx, addon, args)
        addon_workloads.apply(ctx, action, addon.name)
    except (ScriptFailed, core_addons.Failed) as failure:
        return failure.code
    except datastore.DatastoreError:
        print(API_DOWN.format(port=ctx.port("apiserver")), file=sys.stderr)
        return 1
    return 0


def run_core(ctx: Context, addon: addons.Addon, args: list[str], script) -> int:
    """A 1.24+ core addon's own enable script (core_addons.py); marked enabled once it succeeded."""
    try:
        script(ctx, args)
        settle(ctx)
        if addon.name not in ("storage", "ha-cluster"):  # storage enables hostpath-storage; ha-cluster is a file
            addons.set_enabled(ctx, addon.full_name, True)
    except core_addons.Failed as failure:
        return failure.code
    except ScriptFailed as failure:
        return failure.code
    except datastore.DatastoreError:
        print(API_DOWN.format(port=ctx.port("apiserver")), file=sys.stderr)
        return 1
    return 0


def ready_nodes(ctx: Context) -> int:
    from microk8s_double.commands import cluster

    return sum(1 for row in cluster.nodes(ctx) if row["status"] == "Ready")


def settle(ctx: Context) -> None:
    time.sleep(float(ctx.settings.get("addon_delay", 2)))


def generic(ctx: Context, addon: addons.Addon, args: list[str], action: str = "") -> None:
    enabling = action != "disable"
    print(f"{'Enabling' if enabling else 'Disabling'} {addon.name}")
    settle(ctx)
    addons.set_enabled(ctx, addon.full_name, enabling)
    print(f"{addon.name} is {'enabled' if enabling else 'disabled'}")


def generic_disable(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    generic(ctx, addon, args, "disable")


def reachable(address: str) -> bool:
    return subprocess.run(["ip", "route", "get", address], capture_output=True, check=False).returncode == 0


def enable_dns(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    print("Enabling DNS")
    if ctx.profile.since(26):
        upstream = args[0] if args else "/etc/resolv.conf"
        if upstream == "/etc/resolv.conf" and ctx.profile.minor != 26:
            print(f"Using host configuration from {upstream}")
        else:
            for server in re.split(r"[,\s]+", upstream):
                if not (IPV4.match(server) or ":" in server) or not reachable(server):
                    print(f"Your input value ({server}) is not a valid and reachable IP address")
                    raise ScriptFailed(1)
    else:
        for server in re.split(r"[,\s]+", args[0] if args else "8.8.8.8,8.8.4.4"):
            if server != "/etc/resolv.conf" and not IPV4.match(server):
                print(f"Your input value ({server}) is not a valid IP address")
                raise ScriptFailed(1)
    print("Applying manifest")
    settle(ctx)
    addons.set_enabled(ctx, addon.full_name, True)
    print("DNS is enabled")


def valid_range(text: str) -> bool:
    try:
        if "-" in text:
            first, last = (ipaddress.ip_address(part) for part in text.split("-", 1))
            return first.version == last.version and first <= last
        return "/" in text and bool(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return False


def enable_metallb(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    print("Enabling MetalLB")
    ranges = ",".join(args) if args else ask(METALLB_PROMPT)
    for item in ranges.split(","):
        if not valid_range(item):
            print(f"Your input value ({item}) is not a valid IP Range")
            raise ScriptFailed(1)
    print("Applying Metallb manifest")
    addon_workloads.enable_metallb(ctx, ranges)
    settle(ctx)
    addons.set_enabled(ctx, addon.full_name, True)
    print("MetalLB is enabled")


def enable_ingress(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    if ctx.profile.since(35):
        options = {"--default-ssl-certificate", "-r", "-V", "-g"}
        keys = args[0::2]
        bad = [key for key in keys if key not in options]
    else:
        bad = [arg.split("=", 1)[0] for arg in args if arg.split("=", 1)[0] != "default-ssl-certificate"]
    if bad:
        print(f"Unknown argument '{bad[0]}'.")
        raise ScriptFailed(1)
    print("Enabling Ingress")
    settle(ctx)
    addons.set_enabled(ctx, addon.full_name, True)
    print("Ingress is enabled")


def storage_alias(ctx: Context, addon: addons.Addon) -> addons.Addon:
    if addon.name != "storage" or not ctx.profile.since(24):
        return addon
    print(
        "DEPRECATION WARNING: 'storage' is deprecated and will soon be removed. Please use 'hostpath-storage' instead."
    )
    return addons.Addon("hostpath-storage", addon.repository, "")


def enable_storage(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    generic(ctx, storage_alias(ctx, addon), args)


def disable_storage(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    addon = storage_alias(ctx, addon)
    storage = ctx.paths.snap_common / "default-storage"
    if "destroy-storage" in args or ask(f"Remove PVC storage at {storage} ? (Y/N): ").strip().lower() == "y":
        shutil.rmtree(storage, ignore_errors=True)
        print("Storage removed")
    generic_disable(ctx, addon, args)


def iscsid_enabled() -> bool:
    """`systemctl is-enabled iscsid | grep enabled`: the word in systemctl's answer, not its exit code."""
    answer = subprocess.run(["systemctl", "is-enabled", "iscsid"], capture_output=True, text=True, check=False)
    return "enabled" in answer.stdout


def enable_openebs(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    """1.21-1.23 enable.openebs.sh, 1.24+ community addons/openebs/enable: without iscsid enabled it prints its
    help and exits 0, installing nothing (the trap). Otherwise dns and helm3, then the chart's StorageClasses."""
    if not iscsid_enabled():
        if ctx.profile.since(24):
            print("iscsid is not available or enabled.")
            print("Make sure iscsi is installed on all nodes.")
        else:
            print("iscsid is not available or enabled.  Make sure iscsi is installed on all nodes.")
        print("To enable iscsid: ")
        print("      sudo systemctl enable iscsid")
        print("Please refer to the OpenEBS prerequisites (https://docs.openebs.io/docs/next/prerequisites.html)")
        return
    for name in ("dns", "helm3"):
        core_addons.nested_enable(ctx, name)
    generic(ctx, addon, args)
    addon_workloads.run(ctx, [("storageclasses", c) for c in addon_workloads.openebs_classes(ctx)], [])


def meminfo_hugepages(ctx: Context) -> int | None:
    """HugePages_Total of /proc/meminfo (the setting `proc_root` moves /proc, for the contract suite)."""
    try:
        text = (Path(ctx.settings.get("proc_root", "/proc")) / "meminfo").read_text()
        return int(re.findall(r"HugePages_Total:[\s\t]*(\d+)", text)[0])
    except (OSError, IndexError, ValueError):
        return None


MAYASTOR_FLAGS = ("--skip-hugepages-check", "--skip-kernel-check", "--create-storage-classes",
                  "--no-create-storage-classes")  # fmt: skip
MAYASTOR_VALUES = ("--dns-addon", "--helm-addon", "--default-pool-size")


def enable_mayastor(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    """core addons/mayastor/enable (1.24+, a click command): HugePages >= 1024 in this node's /proc/meminfo and
    `nvme_tcp` in `lsmod`, each refused with its text on stderr and exit 1, then dns and helm3, the namespace and
    the chart (StorageClasses mayastor, mayastor-2, mayastor-3). It checks only the node it runs on and does not
    count nodes: replicas beyond the nodes with pools stay unprovisioned."""
    options, values, rest = set(), {"--dns-addon": "core/dns", "--helm-addon": "core/helm3"}, list(args)
    values["--default-pool-size"] = "20G"
    while rest:
        option = rest.pop(0)
        flag, equals, inline = option.partition("=")
        if flag in MAYASTOR_FLAGS and not equals:
            options.add(flag)
        elif flag in MAYASTOR_VALUES and (equals or rest):
            values[flag] = inline if equals else rest.pop(0)
        else:
            print("Usage: enable [OPTIONS]", file=sys.stderr)
            print("Try 'enable --help' for help.", file=sys.stderr)
            print("", file=sys.stderr)
            print(f"Error: No such option: {flag}", file=sys.stderr)
            raise ScriptFailed(2)
    if "--skip-hugepages-check" not in options:
        print("Checking for HugePages (>= 1024)...")
        pages = meminfo_hugepages(ctx)
        if pages is None or pages < 1024:
            sys.stdout.flush()
            print(MAYASTOR_HUGEPAGES, file=sys.stderr)
            raise ScriptFailed(1)
        print("Checking for HugePages (>= 1024)... OK")
    if "--skip-kernel-check" not in options:
        print("Checking for nvme_tcp module...")
        modules = subprocess.run(["lsmod"], capture_output=True, text=True, check=True).stdout
        if "nvme_tcp" not in modules:
            sys.stdout.flush()
            print(MAYASTOR_NVME, file=sys.stderr)
            raise ScriptFailed(1)
        print("Checking for nvme_tcp module... OK")
    for name in (values["--dns-addon"], values["--helm-addon"]):
        if name:
            print(f"Checking for addon {name}...")
            core_addons.nested_enable(ctx, name.rsplit("/", 1)[-1])
            print(f"Checking for addon {name}... OK")
    creating = "--no-create-storage-classes" not in options
    if not creating:
        print("Storage classes will not be created, please configure manually")
    if values["--default-pool-size"]:
        print(f"Default image size set to {values['--default-pool-size']}")
    settle(ctx)
    addons.set_enabled(ctx, addon.full_name, True)
    classes = addon_workloads.mayastor_classes() if creating else []
    addon_workloads.run(ctx, [("namespaces", addon_workloads.namespace("mayastor"))]
                        + [("storageclasses", c) for c in classes], [])  # fmt: skip
    print("")
    print("=============================================================")
    print("")
    print("Mayastor has been installed and will be available shortly.")
    print("")
    print("Mayastor will run for all nodes in your MicroK8s cluster by default. Use the")
    print("'microk8s.io/mayastor=disable' label to disable any node. For example:")
    print("")
    print(f"    microk8s.kubectl label node {ctx.hostname} microk8s.io/mayastor=disable")
    print("")


MAYASTOR_HUGEPAGES = """
HugePages are not available or enabled. Please make sure HugePages are enabled.

To enable HugePages (mayastor requires at least 1024):

    echo vm.nr_hugepages = 1024 | sudo tee -a /etc/sysctl.d/20-microk8s-hugepages.conf

Please restart your system after enablement.
"""
MAYASTOR_NVME = """
Kernel module 'nvme_tcp' is missing or not loaded. For Ubuntu, enable with:

    sudo apt-get install linux-modules-extra-$(uname -r)
    sudo modprobe nvme-tcp
    echo 'nvme-tcp' | sudo tee -a /etc/modules-load.d/microk8s-mayastor.conf

Note that the 'nvme_tcp' module is needed in all cluster nodes.
"""


def enable_rbac(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    """1.20-1.23 `enable.rbac.sh` (1.24+ is core_addons.rbac)."""
    try:
        rbac_addon.enable(ctx)
    except rbac_addon.Failed as failure:
        raise ScriptFailed(failure.code) from failure
    addons.set_enabled(ctx, addon.full_name, True)


def disable_rbac(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    try:
        rbac_addon.disable(ctx)
    except rbac_addon.Failed as failure:
        raise ScriptFailed(failure.code) from failure
    addons.set_enabled(ctx, addon.full_name, False)


def disable_ha_cluster(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    if "--force" not in args:
        print(
            "Reverting to a non-HA setup will reset the node and remove all workloads, please use the '--force' flag."
        )
        raise ScriptFailed(2)
    print("Reverting to a non-HA setup")
    settle(ctx)
    ctx.paths.lock("ha-cluster").unlink(missing_ok=True)
    print("Requested reverting to non-HA setup")


def enable_ha_cluster(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    print("Enabling HA")
    settle(ctx)
    ctx.paths.lock("ha-cluster").touch()
    print("HA is enabled")


def enable_community(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    target = ctx.paths.snap_common / "addons" / "community"
    print(f"Cloning into '{target}'...")
    target.mkdir(parents=True, exist_ok=True)
    (target / "addons.yaml").write_text("microk8s-addons:\n  description: Community MicroK8s addons\n")
    print("Community repository is now enabled")


def disable_community(ctx: Context, addon: addons.Addon, args: list[str]) -> None:
    shutil.rmtree(ctx.paths.snap_common / "addons" / "community")
    print("Community repository is now disabled")


CORE_SCRIPTS = {
    "dns": lambda ctx, args: core_addons.dns(ctx, args, reachable),
    "ingress": core_addons.ingress,
    "metallb": core_addons.metallb,
    "hostpath-storage": core_addons.hostpath_storage,
    "storage": core_addons.storage,
    "cert-manager": core_addons.cert_manager,
    "rbac": core_addons.rbac,
    "ha-cluster": lambda ctx, args: core_addons.ha_cluster(ctx, args, ready_nodes(ctx)),
}
SCRIPTS = {
    ("enable", "dns"): enable_dns,
    ("enable", "metallb"): enable_metallb,
    ("enable", "ingress"): enable_ingress,
    ("enable", "storage"): enable_storage,
    ("enable", "hostpath-storage"): enable_storage,
    ("disable", "storage"): disable_storage,
    ("disable", "hostpath-storage"): disable_storage,
    ("enable", "openebs"): enable_openebs,
    ("enable", "mayastor"): enable_mayastor,
    ("enable", "ha-cluster"): enable_ha_cluster,
    ("disable", "ha-cluster"): disable_ha_cluster,
    ("enable", "community"): enable_community,
    ("enable", "rbac"): enable_rbac,
    ("disable", "rbac"): disable_rbac,
    ("disable", "community"): disable_community,
}
