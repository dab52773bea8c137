# SPDX-License-Identifier: GPL-3.0-or-later
"""Probe a URL continuously for a bounded time and report the outages (used by playbooks/failover.yml).

    python3 probe.py --url http://10.77.0.240:8081/ --seconds 90 --interval 0.2 --out app.json
    python3 probe.py --url https://10.77.0.12:16443/version --url https://10.77.0.13:16443/version \
        --bearer-file token --seconds 90 --out api.json

With several URLs (one per control-plane node), an attempt succeeds when any of them answers, trying the last one
that answered first: that is what a client with several API endpoints sees. Standard library only, so it runs on
a Raspberry Pi as it is. Every attempt has a timeout and the whole run a deadline.
"""

from __future__ import annotations

import argparse
import json
import ssl
import time
import urllib.request


def attempt(urls, start, timeout, headers, context):
    """Index of the URL that answered with HTTP 2xx (trying from `start`), or None, and what it said."""
    for offset in range(len(urls)):
        index = (start + offset) % len(urls)
        request = urllib.request.Request(urls[index], headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return index, response.read(200).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            continue
    return None, ""


def outages(samples):
    """[(start, end, seconds)] of consecutive failed attempts, measured from the last success before to the first
    success after (so a single lost probe still counts as the time nothing was known to answer)."""
    found = []
    last_ok = None
    down_since = None
    for moment, ok in samples:
        if ok:
            if down_since is not None:
                begin = last_ok if last_ok is not None else down_since
                found.append({"start": begin, "end": moment, "seconds": round(moment - begin, 3)})
                down_since = None
            last_ok = moment
        elif down_since is None:
            down_since = moment
    if down_since is not None:
        begin = last_ok if last_ok is not None else down_since
        end = samples[-1][0]
        found.append({"start": begin, "end": end, "seconds": round(end - begin, 3), "ongoing": True})
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--bearer-file")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    headers = {}
    if args.bearer_file:
        with open(args.bearer_file) as handle:
            headers["Authorization"] = "Bearer " + handle.read().strip()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the probe measures availability, not identity

    samples, answers = [], {}
    current = 0
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        moment = time.time()
        index, said = attempt(args.url, current, args.timeout, headers, context)
        samples.append((moment, index is not None))
        if index is not None:
            current = index
            answers[said] = answers.get(said, 0) + 1
        time.sleep(max(0.0, args.interval - (time.time() - moment)))

    found = outages(samples)
    report = {
        "urls": args.url,
        "attempts": len(samples),
        "succeeded": sum(1 for _moment, ok in samples if ok),
        "outages": found,
        "longest_outage_seconds": max((o["seconds"] for o in found), default=0.0),
        "answers": answers,
        "started": samples[0][0] if samples else None,
        "ended": samples[-1][0] if samples else None,
    }
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
