"""Business hours and caller lists: the plain checks behind condition nodes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from callcenter.ivr.schema import WEEKDAYS, Schedule


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Whether ``at`` (an aware time) falls in opening hours, in the schedule's time zone."""
    if at.tzinfo is None:
        raise ValueError("business hours need an aware time")
    local = at.astimezone(ZoneInfo(schedule.timezone))
    if local.date() in schedule.holidays:
        return False
    now = local.time().replace(tzinfo=None)
    ranges = schedule.hours.get(WEEKDAYS[local.weekday()], [])
    return any(r.start <= now < r.end for r in ranges)


def _digits(number: str) -> str:
    return re.sub(r"[^0-9]", "", number)


def number_in(number: str | None, entries: Iterable[str]) -> bool:
    """Whether a caller number is on a list. Entries are numbers (compared by their digits,
    so +44 20 7946 0000 and +442079460000 match) or prefixes ending in ``*``."""
    if not number:
        return False
    have = _digits(number)
    if not have:
        return False
    for entry in entries:
        if entry.endswith("*"):
            prefix = _digits(entry[:-1])
            if prefix and have.startswith(prefix):
                return True
        elif _digits(entry) == have:
            return True
    return False
