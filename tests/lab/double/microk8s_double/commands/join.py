# SPDX-License-Identifier: GPL-3.0-or-later
"""`microk8s join MASTER:PORT/TOKEN[/FINGERPRINT]` (contract section 6), client side.

The request itself is D2's `agent_client.join`; this module validates the arguments as each version does and
turns its `JoinOutcome` into the contract's texts and exit codes.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from microk8s_double import agent_client, datastore
from microk8s_double.commands import setup
from microk8s_double.commands.common import Context, fail, script_sleep

TRACEBACK_FILE = '  File "/snap/microk8s/current/scripts/wrappers/join.py", in join'
USAGE_1_20 = "Join a cluster: microk8s join <master>:<port>/<token>"
WORKER_JOINED = (
    "\nThe node has joined the cluster and will appear in the nodes list in a few seconds.\n\n"
    "This worker node gets automatically configured with the API server endpoints.\n"
    "If the API servers are behind a loadbalancer please set the '--refresh-interval' to '0s' in:\n"
    "    /var/snap/microk8s/current/args/apiserver-proxy\n"
    "and replace the API server endpoints with the one provided by the loadbalancer in:\n"
    "    /var/snap/microk8s/current/args/traefik/provider.yaml\n"
)
LOW_MEMORY = (
    "This node does not have enough RAM to host the Kubernetes control plane services.\n"
    "Use '--worker' to join as a worker node or '--disable-low-memory-guard' to override."
)


class Usage(argparse.ArgumentParser):
    """Parse errors as the real parsers report them: getopt (1.20-1.22) or click (1.23+), rc 2."""

    def __init__(self, old: bool, **kwargs) -> None:
        super().__init__(prog="microk8s join", **kwargs)
        self.old = old

    def error(self, message: str) -> None:
        if self.old:
            option = message.rsplit(" ", 1)[-1]
            fail(f"option {option} not recognized\n{USAGE_1_20}", 2, err=False)
        fail(f"Usage: microk8s join [OPTIONS] CONNECTION\nTry 'microk8s join -h' for help.\n\nError: {message}", 2)


def parse(ctx: Context, args: list[str]) -> argparse.Namespace:
    parser = Usage(old=not ctx.profile.since(23))
    parser.add_argument("connection")
    if ctx.profile.since(21):
        parser.add_argument("-s", "--skip-verify", action="store_true")
    if ctx.profile.since(23):
        parser.add_argument("--worker", action="store_true")
        parser.add_argument("--controlplane", action="store_true")
    if ctx.profile.since(24):
        parser.add_argument("--disable-low-memory-guard", action="store_true")
    return parser.parse_args(args)


def validate(connection: str) -> None:
    """1.30+ `get_valid_connection_parts`."""
    parts = connection.split("/")
    if len(parts) not in (2, 3):
        fail(f"Invalid connection: expected <master_ip>:<port>/<token>[/<fingerprint>], got {connection}")
    host, _colon, port = parts[0].rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        fail(f"Invalid connection: '{host}' is not a valid IP address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"Invalid connection: '{port}' is not a valid port")
    if len(parts[1]) < 32:
        fail("Invalid connection: the token must be at least 32 characters long")
    if len(parts) == 3 and len(parts[2]) < 12:
        fail("Invalid connection: the fingerprint must be at least 12 characters long")


def run(ctx: Context, command: str, args: list[str]) -> int:
    options = parse(ctx, args)
    if ctx.profile.since(30):
        validate(options.connection)
    worker = getattr(options, "worker", False)
    guard = ctx.profile.since(24) and ctx.paths.lock("low-memory-guard.lock").exists()
    if guard and not worker and not options.disable_low_memory_guard:
        fail(LOW_MEMORY, err=False)
    master, token, fingerprint = [*options.connection.split("/"), None, None][:3]
    host, _colon, port = master.rpartition(":")
    if not (token and host and port.isdigit()):
        fail(f"Traceback (most recent call last):\n{TRACEBACK_FILE}\nIndexError: list index out of range")
    if not ctx.profile.since(21):
        fingerprint = None
    print(f"Contacting cluster at {host}")
    skip = getattr(options, "skip_verify", False)
    outcome = agent_client.join(ctx, host, int(port), token, fingerprint, worker, skip)
    if outcome.error_kind:
        report_failure(ctx, host, outcome)
    setup.restrict(ctx)
    if worker:
        print(WORKER_JOINED)
        return 0
    wait_for_node(ctx)
    if ctx.profile.since(29):
        print("Successfully joined the cluster.")
    return 0


def report_failure(ctx: Context, host: str, outcome) -> None:
    kind, message = outcome.error_kind, outcome.message
    if not ctx.profile.since(21):
        if kind == "http":  # `Error code N.` then the JSON body's error, if any
            fail(
                " ".join(["Failed to join cluster. Error code", f"{outcome.http_status}.", message]).rstrip(), err=False
            )
        fail(f"Please ensure the master node is reachable.\n{USAGE_1_20}", err=False)
    if kind == "http":  # extract_error: `Connection failed.` plus the JSON body's error, then ` (N).`
        fail(" ".join(filter(None, ["Connection failed.", message, f"({outcome.http_status})."])), 6, err=False)
    if kind == "fingerprint":
        fail(
            f"Joining cluster failed. Could not verify the identity of {host}. "
            "Use '--skip-verify' to skip server certificate check.",
            4,
            err=False,
        )
    if kind == "ssl":
        fail(f"Peer node verification failed ({message}).", 4, err=False)
    # refused / timeout: the real client does not catch these and dies with a traceback.
    fail(f"Traceback (most recent call last):\n{TRACEBACK_FILE}\nrequests.exceptions.ConnectionError: {message}")


def wait_for_node(ctx: Context) -> None:
    """join.py `update_dqlite`: `Waiting for this node to finish joining the cluster. `, then per try (at most 10)
    `. ` when dqlite answers without this node yet (5 s pause) or `.. ` when it does not answer (2 s), then ` `."""
    print("Waiting for this node to finish joining the cluster.", end=" ", flush=True)
    for _attempt in range(10):
        view = datastore.local_view(ctx)
        if not view.get("error") and any(m["address"].startswith(f"{ctx.ip}:") for m in view["nodes"]):
            break
        print(".." if view.get("error") else ".", end=" ", flush=True)
        script_sleep(ctx, 2 if view.get("error") else 5)
    print(" ")
    sys.stdout.flush()
