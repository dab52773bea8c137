# SPDX-License-Identifier: GPL-3.0-or-later
"""`$SNAP/bin/ctr`: the snap's own containerd client.

The double's containerd is the node's Debian containerd (bin/containerd), so its client is the node's Debian `ctr`
run on the snap's socket: bin/ctr runs it without starting Python. Where the node has no such client (the contract
suite on a host without containerd), bin/ctr runs this, which answers as ctr does when it cannot reach the socket,
which is all such a host can see.
"""

from __future__ import annotations

import os
import socket
import sys

NODE_CLIENT = "/usr/bin/ctr"
DEFAULT_ADDRESS = "/run/containerd/containerd.sock"


def address(argv: list[str]) -> str:
    """The socket from ctr's global flags (`--address X`, `--address=X`, `-a X`), else its default."""
    found = os.environ.get("CONTAINERD_ADDRESS", DEFAULT_ADDRESS)
    for index, arg in enumerate(argv):
        if not arg.startswith("-"):
            break  # the subcommand: global flags end here
        if arg in ("--address", "-a", "-address") and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith(("--address=", "-a=")):
            found = arg.split("=", 1)[1]
    return found


def dial_error(path: str) -> str | None:
    """ctr's text when the socket does not answer, None when it does."""
    probe = socket.socket(socket.AF_UNIX)
    probe.settimeout(2)
    try:
        probe.connect(path)
    except OSError as error:
        reason = "no such file or directory" if isinstance(error, FileNotFoundError) else (error.strerror or "").lower()
        return (
            f'ctr: failed to dial "{path}": context deadline exceeded: connection error: desc = "transport: error '
            f'while dialing: dial unix {path}: connect: {reason}"'
        )
    finally:
        probe.close()
    return None


def main(argv: list[str]) -> int:
    error = dial_error(address(argv))
    if error:
        print(error, file=sys.stderr)
        return 1
    print(f"ctr: this node has no containerd client ({NODE_CLIENT}); the double's ctr runs the node's", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
