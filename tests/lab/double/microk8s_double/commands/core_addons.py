# SPDX-License-Identifier: GPL-3.0-or-later
"""The enable scripts of the core repository, 1.24+ (canonical/microk8s-core-addons `addons/<name>/enable` of each
release branch): their own lines, kubectl's lines for what they apply (`addon_manifests.json`, read from the
branches' manifests) and the nested `microk8s enable` of what they depend on.

The double does not run the manifests' workloads; what it acts on is in addon_workloads.py. kubectl's lines are
those of a first apply (`created`).
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path

from microk8s_double import addons
from microk8s_double.commands import addon_workloads, rbac_addon
from microk8s_double.commands.common import Context

MANIFESTS = Path(__file__).resolve().parents[1] / "addon_manifests.json"
IPV4_RANGE = re.compile(
    r"^[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*-[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*$"
)
IPV4_CIDR = re.compile(r"^[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\.[0-9]{1,3}/[0-9]{1,3}$")
_IPV6 = r"(([0-9a-fA-F]{1,4}:){1,7}((([0-9a-fA-F]{1,4})?(:[0-9a-fA-F]{1,4}){1,6})|:))"
IPV6_RANGE = re.compile(rf"^{_IPV6}-{_IPV6}$")
IPV6_CIDR = re.compile(rf"^{_IPV6}/[0-9]{{1,3}}$")
METALLB_PROMPT = (
    "Enter each IP address range delimited by comma (e.g. '10.64.140.43-10.64.140.49,192.168.0.105-192.168.0.111'): "
)
NAMESERVER = re.compile(r"^\s*nameserver\s+(\S*)\s*$", re.MULTILINE)


class Failed(Exception):
    """The script exits with this code."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


@cache
def data() -> dict:
    return json.loads(MANIFESTS.read_text())


def manifest_table() -> list[dict]:
    return data()["manifests"]


def text(ctx: Context, name: str) -> str:
    """A script's text block as this version prints it."""
    return next(t["text"] for t in data()[name] if t["first"] <= ctx.profile.minor <= t["last"])


def applied(ctx: Context, manifest: str) -> None:
    """`kubectl apply -f <manifest>`: one line per object of this version's manifest."""
    for entry in manifest_table():
        if entry["manifest"] == manifest and entry["first"] <= ctx.profile.minor <= entry["last"]:
            for line in entry["lines"]:
                print(line)
            return


def ask(prompt: str) -> str:
    """bash `read -p`: the prompt only on a terminal; end of input fails the script under `set -e`."""
    if not sys.stdin.isatty():
        raise Failed(1)
    return input(prompt)


def nested_enable(ctx: Context, name: str) -> None:
    """`$SNAP/microk8s-enable.wrapper NAME` from inside a script (no lock: the outer call holds it)."""
    from microk8s_double.commands import xable  # xable runs these scripts

    sys.stdout.flush()
    code = xable.xable(ctx, "enable", [name])
    if code:
        raise Failed(code)


def host_resolv_conf() -> str | None:
    """scripts/find-resolv-conf.py: the first of the usual files naming a non-loopback nameserver."""
    import ipaddress

    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        try:
            servers = NAMESERVER.findall(Path(path).read_text())
        except OSError:
            continue
        for server in servers:
            try:
                if not ipaddress.ip_address(server.split("%")[0]).is_loopback:
                    return path
            except ValueError:
                continue
    return None


def dns(ctx: Context, args: list[str], reachable) -> None:
    minor = ctx.profile.minor
    print("Enabling DNS")
    upstream = " ".join(args[:1])
    if minor <= 25:
        for server in re.split(r"[,\s]+", upstream or "8.8.8.8,8.8.4.4"):
            if upstream != "/etc/resolv.conf" and not re.match(
                r"^[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*$", server
            ):
                print(f"Your input value ({server}) is not a valid IP address")
                raise Failed(1)
    elif not upstream or (upstream == "/etc/resolv.conf" and minor != 26):  # 1.26 tests a misspelt variable
        kubelet = ctx.paths.args("kubelet")
        configured = re.search(r"--resolv-conf[= ](\S+)", kubelet.read_text()) if kubelet.exists() else None
        found = configured.group(1) if configured else host_resolv_conf()
        if found:
            print(f"Using host configuration from {found}")
        else:
            print("No valid resolv.conf file could be found")
            print("Falling back to 8.8.8.8 8.8.4.4 as upstream nameservers")
    else:
        servers = ""
        for server in upstream.replace(",", " ").split():
            if not reachable(server):
                print(f"Your input value ({server}) is not a valid and reachable IP address")
                raise Failed(1)
            servers += f" {server}"
        print(f"Will use {servers} as upstream nameservers")
    if minor == 27 and len(args) > 1:
        print(f"Will use {args[1]} for dns service ip address")
        print("Make sure this address is in the service cidr!")
    print("Applying manifest")
    applied(ctx, "dns/coredns.yaml")
    addon_workloads.apply(ctx, "enable", "dns")  # its ConfigMap kube-system/coredns
    if minor >= 28:
        print(f"CoreDNS service deployed with IP address {args[1] if len(args) > 1 else '10.152.183.10'}")
    if minor <= 26:  # 1.27+ restart only when kubelet's args change; a fresh 1.27+ install already has them
        print("Restarting kubelet")
    print("DNS is enabled")


def ingress(ctx: Context, args: list[str]) -> None:
    """<= 1.34 (NGINX): `ingress:default-ssl-certificate=NS/NAME`."""
    key, _eq, value = " ".join(args[:1]).partition("=")
    if key and key != "default-ssl-certificate":
        print(f"Unknown argument '{key}'.")
        print("You can use 'default-ssl-certificate' to load the default TLS certificate from a secret, eg")
        print("   microk8s enable ingress:default-ssl-certificate=namespace/secret_name")
        raise Failed(1)
    print("Enabling Ingress")
    if value.split():
        print(f"Setting {value.split()[0]} as default ingress certificate")
    applied(ctx, "ingress/ingress.yaml")
    addon_workloads.apply(ctx, "enable", "ingress")
    print("Ingress is enabled")


def metallb_valid(ctx: Context, item: str) -> bool:
    patterns = (IPV4_RANGE, IPV4_CIDR) + ((IPV6_RANGE, IPV6_CIDR) if ctx.profile.since(31) else ())
    return any(pattern.match(item) for pattern in patterns)


def metallb(ctx: Context, args: list[str]) -> None:
    print("Enabling MetalLB")
    ranges = " ".join(args[:1]) or ask(METALLB_PROMPT)
    if not ranges:
        separator = " " if ctx.profile.since(31) else ":"
        print("You have to input an IP Range value when asked, or provide it as an argument to the enable command, eg:")
        print(f"  microk8s enable metallb{separator}10.64.140.43-10.64.140.49,192.168.0.105-192.168.0.111")
        print("You can also use CIDR notation, eg.")
        print(f"  microk8s enable metallb{separator}192.168.1.240/24")
        raise Failed(1)
    for item in ranges.replace(",", " ").split():
        if not metallb_valid(ctx, item):
            print(f"Your input value ({item}) is not a valid IP Range")
            raise Failed(1)
    print("Applying Metallb manifest")
    if not ctx.profile.since(25):
        applied(ctx, "metallb/metallb.yaml")
    else:
        applied(ctx, "metallb/crd.yaml")
        applied(ctx, "metallb/metallb.yaml")
        print("Waiting for Metallb controller to be ready.")
        print("deployment.apps/controller condition met")
        applied(ctx, "metallb/addresspool.yaml")
    addon_workloads.enable_metallb(ctx, ",".join(ranges.replace(",", " ").split()))
    print("MetalLB is enabled")


def hostpath_storage(ctx: Context, args: list[str]) -> None:
    policy, default_class = "Delete", "true"
    options = list(args)
    while options:
        option = options.pop(0)
        flag, _eq, inline = option.partition("=")
        if ctx.profile.since(25) and flag in ("-r", "--reclaim-policy"):
            policy = inline or (options.pop(0) if options else "")
        elif ctx.profile.since(29) and flag in ("-d", "--default-class"):
            default_class = inline or (options.pop(0) if options else "")
        elif ctx.profile.since(25) and flag in ("-h", "--help"):
            print("Options:")
            print(" -h, --help            Show this help")
            print(" -r, --reclaim-policy  Set the reclaim policy. Available options are Delete (default) and Retain.")
            if ctx.profile.since(29):
                print(
                    " -d, --default-class   Set the storage class as default. "
                    "Available options are true (default) and false."
                )
            return
        elif ctx.profile.since(25):
            print(f"invalid option -- {option}")
            raise Failed(1)
    if policy not in ("Delete", "Retain"):
        print("")
        print("Please check submitted arguments.")
        print(
            "You can use '--reclaim-policy' to set the reclaim policy. Allowed values: Delete Retain. "
            "Defaults to 'Delete'."
        )
        print("   microk8s enable hostpath-storage --reclaim-policy=Retain")
        raise Failed(1)
    if default_class not in ("true", "false"):
        print("")
        print("Please check submitted arguments.")
        print(
            "You can use '--default-class' to set the storage class as default. Allowed values: true false. "
            "Defaults to 'true'."
        )
        print("   microk8s enable hostpath-storage --default-class=true")
        raise Failed(1)
    print("Enabling default storage class.")
    print("WARNING: Hostpath storage is not suitable for production environments.")
    if ctx.profile.since(27):
        print("         A hostpath volume can grow beyond the size limit set in the volume claim manifest.")
    print("")
    (ctx.paths.snap_common / "default-storage").mkdir(parents=True, exist_ok=True)
    applied(ctx, "hostpath-storage/storage.yaml")
    addon_workloads.enable_hostpath(ctx, policy, default_class)
    print("Storage will be available soon.")


def storage(ctx: Context, args: list[str]) -> None:
    """The deprecated alias: a warning, then `microk8s enable hostpath-storage`."""
    spelling = "DEPRECATION" if ctx.profile.since(28) else "DEPRECIATION"
    print(
        f"{spelling} WARNING: 'storage' is deprecated and will soon be removed. Please use 'hostpath-storage' instead."
    )
    print("")
    nested_enable(ctx, "hostpath-storage")


def cert_manager(ctx: Context, args: list[str]) -> None:
    """1.25-1.32: the bundled manifest; 1.27+ enables dns first and waits for the webhook. 1.33+: the Helm chart
    (`-r REPOSITORY`, `-V VERSION`, getopts `:hr:V:`), after dns and helm3. Its CRDs become served kinds."""
    if ctx.profile.since(33):
        cert_manager_helm(ctx, args)
        return
    if ctx.profile.since(27):
        print("Enable DNS addon")
        nested_enable(ctx, "dns")
    print("Enabling cert-manager")
    applied(ctx, "cert-manager/cert-manager.yaml")
    addon_workloads.apply(ctx, "enable", "cert-manager")
    if ctx.profile.since(27):
        print("Waiting for cert-manager to be ready.")
        print("ready")
    print("Enabled cert-manager")
    print(text(ctx, "cert_manager_next_steps"), end="")


CERT_MANAGER_CHART = {33: "v1.17.1", 34: "v1.18.2", 35: "v1.19.1"}


def cert_manager_usage(version: str) -> None:
    print("Usage: microk8s enable cert-manager [OPTIONS]")
    print("")
    print("Enable the cert-manager addon.")
    print("")
    print("   -h             Print this help message")
    print("   -r REPOSITORY  cert-manager Helm chart repository (default: https://charts.jetstack.io)")
    print(f"   -V VERSION     cert-manager Helm chart version (default: {version})")


def cert_manager_helm(ctx: Context, args: list[str]) -> None:
    version = CERT_MANAGER_CHART.get(ctx.profile.minor, "v1.19.1")
    position = 0
    while position < len(args) and args[position].startswith("-") and len(args[position]) > 1:
        flag = args[position][1:2]
        if flag == "h":
            cert_manager_usage(version)
            return
        if flag not in ("r", "V"):
            print(f"Invalid option -{flag}")
            cert_manager_usage(version)
            raise Failed(1)
        value = args[position][2:] or (args[position + 1] if position + 1 < len(args) else None)
        if value is None:
            print(f"Missing argument for option -{flag}")
            cert_manager_usage(version)
            raise Failed(1)
        version = value if flag == "V" else version
        position += 1 if args[position][2:] else 2
    print("Enable DNS addon")
    nested_enable(ctx, "dns")
    print("Enable helm")
    nested_enable(ctx, "helm3")
    print("Enabling cert-manager")
    print('Release "cert-manager" does not exist. Installing it now.')
    print("NAME: cert-manager")
    print("NAMESPACE: cert-manager")
    print("STATUS: deployed")
    print("REVISION: 1")
    addon_workloads.apply(ctx, "enable", "cert-manager")
    print("Waiting for cert-manager to be ready.")
    print("ready")
    print("Enabled cert-manager")
    print(text(ctx, "cert_manager_next_steps"), end="")


def rbac(ctx: Context, args: list[str]) -> None:
    """rbac_addon.py: `--authorization-mode=RBAC,Node` and an API server restart."""
    try:
        rbac_addon.enable(ctx)
    except rbac_addon.Failed as failure:
        raise Failed(failure.code) from failure


def ha_cluster(ctx: Context, args: list[str], ready_nodes: int) -> None:
    print("Enabling HA")
    print("Upgrading the network CNI")
    print("Waiting for the cluster to restart")
    print("Waiting for the CNI to deploy")
    print('daemon set "calico-node" successfully rolled out')
    print('deployment "calico-kube-controllers" successfully rolled out')
    print("Configuring the datastore")
    print("Waiting for the cluster to start with the new datastore")
    ctx.paths.lock("ha-cluster").touch()
    print("")
    print("The node is now HA ready. Join three or more nodes to form an HA cluster.")
    print("")
    if ready_nodes >= 2:
        print("The worker nodes already joined to this master need to be removed them and re-joined.")


def mark(ctx: Context, addon: addons.Addon) -> None:
    addons.set_enabled(ctx, addon.full_name, True)
