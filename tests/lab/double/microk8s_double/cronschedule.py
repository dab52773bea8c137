# SPDX-License-Identifier: GPL-3.0-or-later
"""CronJob schedules as kube-controller-manager reads them (github.com/robfig/cron/v3 ParseStandard): five fields
(minute, hour, day of month, month, day of week) with `*`, `?`, lists, ranges, steps and month/day names, or a
descriptor (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>). When both the
day of month and the day of week are restricted, either matching is enough (cron's rule)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, 1)}
DAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, MONTHS),
          ("day of week", 0, 6, DAYS))  # fmt: skip
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
               "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}  # fmt: skip
UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}


class ScheduleError(ValueError):
    """The schedule does not parse (the message is robfig/cron's)."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    any_day: bool = True  # day of month is `*`/`?`
    any_weekday: bool = True
    every: float = 0.0  # @every: seconds between runs

    def matches_day(self, moment: datetime.datetime) -> bool:
        day = moment.day in self.days
        weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def next_after(self, moment: datetime.datetime) -> datetime.datetime | None:
        """The first activation strictly after `moment` (in its time zone), None if none within five years."""
        if self.every:
            step = datetime.timedelta(seconds=self.every)
            return moment.replace(microsecond=0) + step
        candidate = moment.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        limit = moment.year + 5
        while candidate.year <= limit:
            if candidate.month not in self.months:
                year, month = (
                    (candidate.year + 1, 1) if candidate.month == 12 else (candidate.year, candidate.month + 1)
                )
                candidate = candidate.replace(year=year, month=month, day=1, hour=0, minute=0)
            elif not self.matches_day(candidate):
                candidate = (candidate + datetime.timedelta(days=1)).replace(hour=0, minute=0)
            elif candidate.hour not in self.hours:
                candidate = (candidate + datetime.timedelta(hours=1)).replace(minute=0)
            elif candidate.minute not in self.minutes:
                candidate += datetime.timedelta(minutes=1)
            else:
                return candidate
        return None


def parse(text: str) -> Schedule:
    text = text.strip()
    if text.startswith("@every "):
        return Schedule(every=duration(text[len("@every ") :]))
    if text.startswith("@"):
        if text not in DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = DESCRIPTORS[text]
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(parts)}: [{' '.join(parts)}]")
    values = [field_values(part, *spec) for part, spec in zip(parts, FIELDS)]
    return Schedule(*map(frozenset, values), any_day=parts[2] in ("*", "?"), any_weekday=parts[4] in ("*", "?"))


def field_values(part: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    found: set[int] = set()
    for item in part.split(","):
        found |= range_values(item, low, high, names)
    return found


def range_values(item: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    spread, _slash, step_text = item.partition("/")
    if spread in ("*", "?"):
        start, end = low, high
    else:
        first, _dash, last = spread.partition("-")
        start = number(first, names)
        end = number(last, names) if last else (high if step_text else start)
    step = number(step_text, {}) if step_text else 1
    if start < low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({low}): {item}")
    if end > high:
        raise ScheduleError(f"end of range ({end}) above maximum ({high}): {item}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {item}")
    if step <= 0:
        raise ScheduleError(f"step of range should be a positive number: {item}")
    return set(range(start, end + 1, step))


def number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax")
    return int(text)


def duration(text: str) -> float:
    """A Go duration (`1h30m`, `90s`); at least one second, as @every rounds down to whole seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ScheduleError(f"failed to parse duration {text}: time: invalid duration {text!r}")
    seconds = sum(float(n) * UNITS[u] for n, u in parts)
    return max(1.0, float(int(seconds)))
