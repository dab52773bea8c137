# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s dbctl [--debug] backup [-o NAME] | restore FILE.tar.gz`: a tar.gz of the datastore's files, restored
through the running datastore."""

from __future__ import annotations

import argparse
import json
import tarfile
import time
from pathlib import Path

from microk8s_double import datastore, replica
from microk8s_double.commands import cluster
from microk8s_double.commands.common import Context, exit_if_no_permissions, exit_if_worker, fail


def parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="microk8s dbctl", description="Backup and restore the Kubernetes datastore.")
    parser.add_argument("--debug", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup")
    backup.add_argument("-o", "--output")
    restore = commands.add_parser("restore")
    restore.add_argument("archive")
    return parser.parse_args(args)


def backup(ctx: Context, output: str | None) -> int:
    name = output or time.strftime("backup-%Y-%m-%d-%H-%M-%S")
    archive = Path(name if name.endswith(".tar.gz") else f"{name}.tar.gz")
    print("Backing up the datastore")
    try:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(ctx.paths.backend, arcname="backup")
    except OSError as error:
        fail(f"Backup process failed. {error.errno or 1}", 1, err=False)
    print(f"The backup is: {archive}")
    return 0


def restore(ctx: Context, archive: str) -> int:
    """Replace the cluster's keys with the archive's, through the running datastore (the real dbctl restores with
    kine's migrator into the live dqlite, so the data reaches every member); membership is left as it is."""
    print(f"Restoring from {archive}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next(
                (m for m in tar.getmembers() if m.isfile() and m.name == f"backup/{replica.STATE_FILE}"), None
            )
            if member is None:
                fail("Restore process failed. 3", 3, err=False)
            saved = json.loads(tar.extractfile(member).read()).get("data", {})
    except (OSError, tarfile.TarError, ValueError):
        fail("Restore process failed. 4", 4, err=False)
    try:
        current = datastore.execute(ctx, [{"op": "list", "prefix": ""}])[0]
        ops = [{"op": "write", "key": key, "value": None} for key in current if key not in saved]
        ops += [{"op": "write", "key": key, "value": value} for key, value in saved.items()]
        datastore.execute(ctx, ops)
    except datastore.DatastoreError:
        fail("Restore process failed. 4", 4, err=False)
    return 0


def run(ctx: Context, command: str, args: list[str]) -> int:
    exit_if_worker(ctx, "\nPlease use the master node.")
    exit_if_no_permissions(ctx)
    options = parse(args)
    if not (ctx.paths.lock("ha-cluster").exists() and cluster.ready(ctx)):
        fail("Please ensure the kubernetes apiserver is running and HA is enabled.", 10, err=False)
    return backup(ctx, options.output) if options.command == "backup" else restore(ctx, options.archive)
