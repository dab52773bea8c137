# SPDX-License-Identifier: GPL-3.0-or-later
"""`python3 -m microk8s_double.mayastor.mount VOLUME TARGET HOST:PORT... [--io-timeout S]`: the nexus of a volume,
mounted at TARGET until it is unmounted (the kubelet's NodeStage/NodePublish of the mayastor CSI node plugin).
Exits 1 with the reason when no majority of replicas can be reached within the io timeout."""

from __future__ import annotations

import argparse
import sys

from . import fuse
from .nexus import Nexus, NexusError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mayastor-mount")
    parser.add_argument("volume")
    parser.add_argument("target")
    parser.add_argument("replicas", nargs="+", help="HOST:PORT of each replica's io-engine")
    parser.add_argument("--io-timeout", type=float, default=10.0)
    parser.add_argument("--pool", default="mayastor", choices=("mayastor", "jiva"), help="the engine's replicas")
    args = parser.parse_args(argv)
    replicas = [(host, int(port)) for host, _sep, port in (r.rpartition(":") for r in args.replicas)]
    nexus = Nexus(args.volume, replicas, io_timeout=args.io_timeout, pool=args.pool)
    try:
        nexus.start()
        fd = fuse.mount(args.target, f"{args.pool}-{args.volume}")
    except (NexusError, OSError) as error:
        print(f"mayastor: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"mayastor: volume {args.volume} mounted at {args.target}", flush=True)
    fuse.Filesystem(nexus, fd).serve()
    nexus.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
