# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s dbctl [--debug] backup [-o NAME] | restore FILE.tar.gz`, as `scripts/wrappers/dbctl.py` runs
canonical/go-migrator against kine's socket.

backup: the migrator lists every key under `/` and writes `N.key` / `N.data` (0640) into a new directory
`<tmp>/<NAME>` (one `mkdir`, not `mkdir -p`: a NAME with a directory part fails), then dbctl tars that directory as
`NAME.tar.gz` in the current directory, its entries under `basename(NAME)/`.
restore: dbctl extracts the archive into a temporary directory and points the migrator at `<tmp>/<basename of the
file without .tar.gz>`; for every `N.key` from 0 on it creates the key or, when it exists, puts it (keys the
archive lacks stay as they are), logs a key it could not write and goes on, and prints `Processed N entries`.
An archive whose directory is not named as the file is processes 0 entries and still succeeds, as the real one.
The double writes the keys through the running datastore in batches (the migrator: one kine call per key).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from microk8s_double import datastore
from microk8s_double.commands import cluster
from microk8s_double.commands.common import Context, exit_if_no_permissions, exit_if_worker, fail

BATCH = 500  # keys per datastore request while restoring (each request copies and saves the whole state once)


def parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="microk8s dbctl", description="backup and restore the Kubernetes datastore.")
    parser.add_argument("--debug", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup")
    backup.add_argument("-o", dest="output", metavar="backup-file")
    restore = commands.add_parser("restore")
    restore.add_argument("archive", metavar="backup-file")
    return parser.parse_args(args)


def log(ctx: Context, level: str, message: str) -> None:
    """The migrator's logrus line on stderr."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f'time="{stamp}" level={level} msg={json.dumps(message)}', file=sys.stderr, flush=True)


def endpoint(ctx: Context) -> str:
    return f"unix://{ctx.paths.backend}/kine.sock:12379"


def traceback(error: Exception) -> int:
    """An exception dbctl.py does not catch: Python's traceback, rc 1."""
    kind = type(error)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    print(f"Traceback (most recent call last):\n{name}: {error}", file=sys.stderr, flush=True)
    return 1


def dump(ctx: Context, directory: str) -> None:
    """The migrator's backup-dqlite: every key under `/` into `directory` (which must not exist yet)."""
    log(ctx, "info", f"mode: backup-dqlite, endpoint: {endpoint(ctx)}, dir: {directory}")
    try:
        data = datastore.execute(ctx, [{"op": "list", "prefix": "/"}])[0]
    except datastore.DatastoreError as error:
        log(ctx, "fatal", f"couldn't list key's values: {error}")
        raise SystemExit(1) from error
    try:
        os.mkdir(directory, 0o700)
    except OSError as error:
        log(ctx, "fatal", f"couldn't create backup directory: mkdir {directory}: {error.strerror.lower()}")
        raise SystemExit(1) from error
    for index, key in enumerate(sorted(data)):
        for suffix, content in (("key", key.encode()), ("data", json.dumps(data[key]).encode())):
            path = Path(directory, f"{index}.{suffix}")
            path.write_bytes(content)
            path.chmod(0o640)


def backup(ctx: Context, output: str | None) -> int:
    print("Backing up the datastore", flush=True)
    name = output or time.strftime("backup-%Y-%m-%d-%H-%M-%S")
    if name.endswith(".tar.gz"):
        name = name[:-7]
    archive = f"{name}.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        directory = f"{tmp}/{name}"
        try:
            dump(ctx, directory)
        except SystemExit as code:
            fail(f"Backup process failed. {code.code}", 1, err=False)
        try:
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(directory, arcname=os.path.basename(directory))
        except OSError as error:
            return traceback(error)
    print(f"The backup is: {archive}")
    return 0


def load(ctx: Context, directory: str) -> int:
    """The migrator's restore-to-dqlite: create-or-put every N.key of `directory`; the number of entries."""
    log(ctx, "info", f"mode: restore-to-dqlite, endpoint: {endpoint(ctx)}, dir: {directory}")
    entries = []
    while Path(directory, f"{len(entries)}.key").exists():
        index = len(entries)
        key = Path(directory, f"{index}.key").read_text()
        entries.append((key, json.loads(Path(directory, f"{index}.data").read_bytes())))
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        try:
            datastore.execute(ctx, [{"op": "write", "key": key, "value": value} for key, value in batch])
        except datastore.DatastoreError as error:
            for key, _value in batch:
                log(ctx, "error", f"couldn't put key {key}: \"couldn't create key {key}: {error}\"")
    return len(entries)


def restore(ctx: Context, archive: str) -> int:
    print(f"Restoring from {archive}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar.getmembers():  # dbctl.py's safe_extract
                    if os.path.commonpath([tmp, os.path.abspath(os.path.join(tmp, member.name))]) != tmp:
                        raise tarfile.TarError("Attempted Path Traversal in Tar File")
                tar.extractall(tmp)
        except (OSError, tarfile.TarError) as error:
            return traceback(error)
        name = os.path.basename(archive[:-7] if archive.endswith(".tar.gz") else archive)
        print(f"Processed {load(ctx, f'{tmp}/{name}')} entries")
    return 0


def run(ctx: Context, command: str, args: list[str]) -> int:
    exit_if_worker(ctx, "\nPlease use the master node.")
    exit_if_no_permissions(ctx)
    if not (ctx.paths.lock("ha-cluster").exists() and cluster.ready(ctx)):
        fail("Please ensure the kubernetes apiserver is running and HA is enabled.", 10, err=False)
    options = parse(args)
    return backup(ctx, options.output) if options.command == "backup" else restore(ctx, options.archive)
