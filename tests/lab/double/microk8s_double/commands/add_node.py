# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s add-node` (contract section 5): a join token in credentials/cluster-tokens.txt and the join lines."""

from __future__ import annotations

import argparse
import json
import secrets
import time

from microk8s_double import certs
from microk8s_double.commands.common import Context, exit_if_stopped, exit_if_worker, fail, host_ips


def parse(ctx: Context, args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="microk8s add-node", description="Produce a connection string for a node")
    parser.add_argument("-t", "--token", help="Specify the bootstrap token to add (must be 32 characters long)")
    parser.add_argument("-l", "--token-ttl", type=int, default=-1, help="Specify how long the token is valid")
    if ctx.profile.since(23):
        formats = ["pretty", "short", "token", "token-check"] + (["json", "yaml"] if ctx.profile.since(24) else [])
        parser.add_argument("--format", default="pretty", choices=formats, help="Format the output of the token")
    return parser.parse_args(args)


def agent_port(ctx: Context) -> int:
    """`--bind` in args/cluster-agent, as `cluster_agent_port()` reads it."""
    for word in ctx.paths.args("cluster-agent").read_text().split():
        if ":" in word and word.rsplit(":", 1)[1].isdigit():
            return int(word.rsplit(":", 1)[1])
    return 25000


def store_token(ctx: Context, token: str, ttl: int) -> None:
    line = token if ttl == -1 else f"{token}|{int(time.time()) + ttl}"
    with ctx.paths.credentials("cluster-tokens.txt").open("a") as tokens:
        tokens.write(line + "\n")


def run(ctx: Context, command: str, args: list[str]) -> int:
    exit_if_worker(ctx, " Please use the microk8s add-node on the master.")
    exit_if_stopped(ctx)
    if any("help" in arg for arg in args):
        args = ["--help"]
    options = parse(ctx, args)
    if options.token is not None and len(options.token) < 32:
        fail("Invalid token size.  It must be 32 characters long.", err=False)
    token = options.token or secrets.token_hex(16)
    store_token(ctx, token, options.token_ttl)
    port = agent_port(ctx)
    secret = token
    if ctx.profile.since(21):
        secret += "/" + certs.fingerprint(ctx.paths.cert("server.crt").read_text())[:12]
    default = f"{ctx.ip}:{port}/{secret}"
    others = [ip for ip in host_ips() if ip != ctx.ip and (":" not in ip or ctx.profile.since(23))]
    urls = [default] + [f"{ip}:{port}/{secret}" for ip in others]
    form = getattr(options, "format", "pretty")
    if form == "pretty":
        print_pretty(ctx, default, urls)
    elif form == "short":
        repeated = [default] if ctx.profile.minor == 23 else []
        print("\n".join(f"microk8s join {url}" for url in repeated + urls))
    elif form == "token":
        print(token)
    elif form == "token-check":
        print(secret)
    elif form == "json":
        print(json.dumps({"token": secret, "urls": urls}, indent=2))
    else:
        print(f"token: {secret}\nurls:\n" + "".join(f"- {url}\n" for url in urls), end="")
    return 0


def print_pretty(ctx: Context, default: str, urls: list[str]) -> None:
    print("From the node you wish to join to this cluster, run the following:")
    print(f"microk8s join {default}\n")
    if ctx.profile.since(23) and ctx.paths.lock("ha-cluster").exists():
        print("Use the '--worker' flag to join a node as a worker not running the control plane, eg:")
        print(f"microk8s join {default} --worker\n")
    print("If the node you are adding is not reachable through the default interface you can use one of the following:")
    prefix = "" if ctx.profile.since(23) else " "
    for url in urls:
        print(f"{prefix}microk8s join {url}")
