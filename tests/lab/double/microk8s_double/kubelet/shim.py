# SPDX-License-Identifier: GPL-3.0-or-later
"""One container's shim (containerd-shim's part): started in its own session so it outlives a kubelet restart, it
runs the container command with output to the container's log, records the command's pid and, when it ends, its
exit code and time in `exit.json` of the container's state directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..controllers.podutil import now, stamp


def main() -> int:
    state = Path(sys.argv[1])
    spec = json.loads((state / "shim.json").read_text())
    with open(spec["log"], "ab") as log:
        process = subprocess.Popen(spec["argv"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        (state / "pid").write_text(str(process.pid))
        code = process.wait()
    record = {"exitCode": 128 - code if code < 0 else code, "finishedAt": stamp(now())}
    (state / "exit.json.tmp").write_text(json.dumps(record))
    (state / "exit.json.tmp").rename(state / "exit.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
