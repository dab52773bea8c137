# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s addons repo add|remove|update|list` (1.24+): repositories are checkouts under $SNAP_COMMON/addons."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from microk8s_double import addons
from microk8s_double.commands.common import Context, exit_if_no_permissions, fail

BUILT_IN = ("core", "community")


def parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="microk8s addons", description="Manage MicroK8s addons")
    groups = parser.add_subparsers(dest="group", required=True)
    repo = groups.add_parser("repo").add_subparsers(dest="action", required=True)
    add = repo.add_parser("add")
    add.add_argument("name")
    add.add_argument("source")
    add.add_argument("--reference")
    add.add_argument("--force", action="store_true")
    repo.add_parser("remove").add_argument("name")
    repo.add_parser("update").add_argument("name")
    listing = repo.add_parser("list")
    listing.add_argument("--format", default="table", choices=["table", "json", "yaml"])
    return parser.parse_args(args)


def add(ctx: Context, name: str, source: str, force: bool) -> int:
    target = ctx.paths.snap_common / "addons" / name
    if target.exists() and not force:
        fail(f"Error: repository '{name}' already exists!", err=False)
    shutil.rmtree(target, ignore_errors=True)
    local = Path(source)
    if local.is_dir():
        shutil.copytree(local, target)
    else:
        print(f"Cloning into '{target}'...")
        target.mkdir(parents=True)
    if not (target / "addons.yaml").exists():
        (target / "addons.yaml").write_text(f"microk8s-addons:\n  description: {name}\n")
    return 0


def listing(ctx: Context, form: str) -> int:
    rows = [
        {
            "name": repo,
            "addons": sum(1 for a in addons.catalog(ctx.paths, ctx.profile) if a.repository == repo),
            "source": str(ctx.paths.snap_common / "addons" / repo),
        }
        for repo in addons.repositories(ctx.paths, ctx.profile)
    ]
    if form == "json":
        print(json.dumps(rows, indent=2))
    elif form == "yaml":
        print("".join(f"- name: {r['name']}\n  addons: {r['addons']}\n  source: {r['source']}\n" for r in rows), end="")
    else:
        print(f"{'REPO':<10} {'ADDONS':>6} SOURCE")
        for row in rows:
            print(f"{row['name']:<10} {row['addons']:>6} {row['source']}")
    return 0


def run(ctx: Context, command: str, args: list[str]) -> int:
    options = parse(args)
    exit_if_no_permissions(ctx)
    if options.action == "list":
        return listing(ctx, options.format)
    target = ctx.paths.snap_common / "addons" / options.name
    if options.action == "add":
        return add(ctx, options.name, options.source, options.force)
    if not target.exists():
        fail(f"Error: repository '{options.name}' does not exist!", err=False)
    if options.action == "update":
        if options.name in BUILT_IN:
            fail(f"Error: built-in repository '{options.name}' cannot be updated.", err=False)
        print(f"Updating repository {options.name}")
        return 0
    shutil.rmtree(target)
    return 0
