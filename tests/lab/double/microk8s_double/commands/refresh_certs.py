# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s refresh-certs`: `microk8s-refresh-certs.wrapper` + `scripts/wrappers/refresh[-_]certs.py` (click).

Modelled: the wrapper's worker-node answer, the option checks, the root check and `--cert server.crt` (1.21+):
backup of certs/ and credentials/ under `$SNAP_DATA/certs-backup/`, `rm server.crt`, on 1.22+ `refresh_csr_conf`
(so lines added to `csr.conf.template` reach the certificate; 1.21 signs the existing `csr.conf`), `gen_server_cert`,
then `snapctl restart microk8s.daemon-kubelite` and `microk8s.daemon-cluster-agent`. Not modelled (rc 1, said on
stderr): a new CA (`--cert ca.crt`, and 1.20's argument-less call), `front-proxy-client.crt`, `--check`, `--undo`
and installing a CA from CA_DIR.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from microk8s_double import certs
from microk8s_double.commands.common import Context

CERTS = ["ca.crt", "server.crt", "front-proxy-client.crt"]
NO_ROOT = "Elevated permissions is needed for this operation. Please run this command with sudo."
WORKER = (
    "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s refresh-certs command on the "
    "master\nand then return to this node to perform a microk8s leave and re-join."
)


class UsageError(Exception):
    pass


def script(ctx: Context) -> str:
    return "refresh_certs.py" if ctx.profile.since(24) else "refresh-certs.py"


def parse(ctx: Context, args: list[str]) -> dict:
    """click's parsing of the script's options: -u/--undo, -c/--check, -e/--cert CHOICE (1.21+), -h (1.21+)."""
    opts: dict = {"undo": False, "check": False, "cert": None, "help": False, "ca_dir": None}
    flags = {"-u": "undo", "--undo": "undo", "-c": "check", "--check": "check", "--help": "help"}
    if ctx.profile.since(21):
        flags["-h"] = "help"
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        value = None
        if arg.startswith("--cert=") and ctx.profile.since(21):
            arg, value = arg.split("=", 1)
        if arg in flags:
            opts[flags[arg]] = True
        elif arg in ("-e", "--cert") and ctx.profile.since(21):
            if value is None:
                if not rest:
                    raise UsageError(f"Option '{arg}' requires an argument.")
                value = rest.pop(0)
            if value not in CERTS:
                choices = ", ".join(f"'{name}'" for name in CERTS)
                raise UsageError(f"Invalid value for '-e' / '--cert': '{value}' is not one of {choices}.")
            opts["cert"] = value
        elif arg.startswith("-"):
            raise UsageError(f"No such option: {arg}")
        elif opts["ca_dir"] is None:
            if not os.path.exists(arg):
                raise UsageError(f"Invalid value for '[CA_DIR]': Path '{arg}' does not exist.")
            opts["ca_dir"] = arg
        else:
            raise UsageError(f"Got unexpected extra argument ({arg})")
    return opts


def not_modelled(what: str) -> int:
    print(f"microk8s test double: refresh-certs {what} is not modelled", file=sys.stderr)
    return 1


def restart(service: str) -> None:
    """`restart(service)`: `snapctl restart microk8s.daemon-<service>`, exit 4 when it fails."""
    print(f"Restarting service {service}.")
    try:
        ok = subprocess.run(["snapctl", "restart", f"microk8s.daemon-{service}"], check=False).returncode == 0
    except OSError:
        ok = False
    if not ok:
        print(f"Failed to restart service microk8s.daemon-{service}.")
        sys.exit(4)


def take_backup(ctx: Context) -> str:
    backup = ctx.paths.snap_data / "certs-backup"
    backup.mkdir(parents=True, exist_ok=True)
    for name in ("certs", "credentials"):
        shutil.copytree(ctx.paths.snap_data / name, backup / name, dirs_exist_ok=True)
    return f"{ctx.paths.snap_data}/certs-backup/"


def reproduce_server_cert(ctx: Context) -> int:
    print(f"Taking a backup of the current certificates under {take_backup(ctx)}")
    print("Creating new certificates")
    ctx.paths.cert("server.crt").unlink(missing_ok=True)
    try:
        if ctx.profile.since(22):
            certs.refresh_csr_conf(ctx)
        certs.gen_server_cert(ctx)
    except subprocess.CalledProcessError:
        print("Failed to produce new certificates. Reverting.")
        return not_modelled("--undo (the revert after a failure)")
    restart("kubelite")
    restart("cluster-agent")
    return 0


def run(ctx: Context, command: str, args: list[str]) -> int:
    if ctx.worker:
        print(WORKER)
        return 0
    try:
        opts = parse(ctx, args)
    except UsageError as error:
        name = script(ctx)
        print(f"Usage: {name} [OPTIONS] [CA_DIR]\nTry '{name} --help' for help.\n\nError: {error}", file=sys.stderr)
        return 2
    if opts["help"]:
        print("Usage: microk8s refresh-certs [OPTIONS] [CA_DIR]")
        return 0
    if opts["ca_dir"] is not None and (opts["undo"] or opts["check"] or opts["cert"]):
        print("Please do not set any options in combination with the CA_DIR.")
        return 1
    if sum(bool(opts[name]) for name in ("undo", "check", "cert")) > 1:
        print("Please select only one of the options -c, -u or -e." if ctx.profile.since(21) else
              "Please select either one of the options -c or -u, not both.")  # fmt: skip
        return 2
    if os.geteuid() != 0:
        print(NO_ROOT)
        return 50
    if opts["check"] or opts["undo"] or opts["ca_dir"]:
        return not_modelled("--check" if opts["check"] else "--undo" if opts["undo"] else "CA_DIR")
    if not ctx.profile.since(21):
        return not_modelled("(a new CA)")
    if not opts["cert"]:
        print("Please use the '--cert' flag to select the certificate you need refreshed.\n")
        print("Available certificate options:")
        print("'server.crt': refreshes the server certificate")
        print("'front-proxy-client.crt': refreshes the front proxy client certificate")
        print("'ca.crt': refreshes the root CA and all certificates created from it.")
        print("            Warning: refreshing the root CA requires nodes to leave and re-join the cluster")
        return 3
    if opts["cert"] != "server.crt":
        return not_modelled(f"--cert {opts['cert']}")
    return reproduce_server_cert(ctx)
