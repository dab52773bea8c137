# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a server's own latency from its Prometheus text metrics: the cumulative buckets of one histogram (summed
over the series and replicas that match), the difference between two scrapes (what happened in between), and a
quantile interpolated inside its bucket as Prometheus' histogram_quantile() does. Standard library only."""

from __future__ import annotations

import math
import re

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str):
    """(name, labels, value) of every sample line."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = _SAMPLE.match(line)
        if found:
            labels = dict(_LABEL.findall(found.group(2) or ""))
            yield found.group(1), labels, float(found.group(3))


def histogram(texts, name: str, **match: str) -> dict:
    """{"buckets": {le: cumulative count}, "count": n, "sum": s} of histogram `name` over every scrape in `texts`
    and every series whose labels include `match`."""
    buckets: dict[float, float] = {}
    total = {"count": 0.0, "sum": 0.0}
    for text in [texts] if isinstance(texts, str) else texts:
        for sample, labels, value in samples(text):
            if any(labels.get(key) != wanted for key, wanted in match.items()):
                continue
            if sample == f"{name}_bucket":
                bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
            elif sample in (f"{name}_count", f"{name}_sum"):
                total[sample.rsplit("_", 1)[1]] += value
    return {"buckets": dict(sorted(buckets.items())), **total}


def difference(after: dict, before: dict) -> dict:
    """What the histogram counted between two scrapes (a replica missing from `before` counts from zero)."""
    return {
        "buckets": {le: count - before["buckets"].get(le, 0.0) for le, count in after["buckets"].items()},
        "count": after["count"] - before["count"],
        "sum": after["sum"] - before["sum"],
    }


def quantile(found: dict, q: float) -> float | None:
    """The q-quantile (0..1), linear inside its bucket as histogram_quantile(); None without observations. A
    quantile in the +Inf bucket is reported as the highest finite bound (a lower bound of the truth)."""
    buckets = sorted(found["buckets"].items())
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def bucket_bound(found: dict, q: float) -> float | None:
    """The upper bound of the bucket holding the q-quantile: what the histogram proves (the quantile is at most
    this); None without observations, inf when it lies beyond the last finite bound."""
    buckets = sorted(found["buckets"].items())
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    return next(bound for bound, count in buckets if count >= rank)
