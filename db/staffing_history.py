"""What staffing plans are made from: calls offered per interval of the day and their measured
handle time, from a queue's past visits (``queue_visits``) and the agent segments answered
from them (``agent_segments``) over past days (sync, for the CLI).

The same definitions as the queue report (db/metrics_query.py, callcenter/reports/metrics.py):

- offered: visits of inbound calls that entered the queue in the interval (a call that
  overflowed is offered to every queue it entered; campaign calls are left out);
- handle time: ``talk + hold + wrap-up`` (wrap-up 0 s while unknown) of the agent segments
  answered from those visits (kind ``queue``) that are over; calls still going on are not
  in the AHT (they would count as short calls);
- a visit counts in the interval of the day it entered the queue in, on the local clock of
  ``tz``.

Days with a clock change: the calls of the interval are divided by how many times the
interval actually took place (the length of real time spent in it over the period, in
interval lengths), not by the number of days. On the fall-back day the repeated local hour
(two real hours) counts twice, on the spring-forward day the skipped hour not at all: the
figure stays the calls of one real interval, which is what an Erlang plan needs, instead of
doubling the repeated hour's load (or diluting the skipped hour's) on that day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.engine import Engine

_DAY = 86_400
# Every UTC offset and every clock change is on a quarter of an hour.
_QUARTER = 900


@dataclass(frozen=True)
class IntervalHistory:
    """One interval of the day (its start as a local time of day) over the days looked at."""

    start: str  # "HH:MM" in the report's time zone
    days: int
    # Offered (visits that entered the queue) per occurrence of the interval: per day, but
    # on a day the clocks change, the repeated interval took place twice, the skipped none.
    calls_per_day: float
    aht: float | None  # talk + hold + wrap-up of the handled calls, seconds


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _time_in_slots(
    since: datetime, until: datetime, interval_seconds: int, zone: ZoneInfo
) -> list[float]:
    """Seconds of real time in ``[since, until)`` whose local time of day (in ``zone``) falls
    in each interval of the day: on an ordinary day, one interval length each."""
    # Arithmetic in UTC: aware datetimes of one ZoneInfo add and subtract wall time.
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    slots = _DAY // interval_seconds
    spent = [0.0] * slots
    whole_days = 0
    day: date = since.astimezone(zone).date()
    last: date = until.astimezone(zone).date()
    while day <= last:
        start = datetime.combine(day, time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
        lo, hi = max(start, since), min(end, until)
        day += timedelta(days=1)
        if lo >= hi:
            continue
        before, after = start.astimezone(zone), (end - timedelta(microseconds=1)).astimezone(zone)
        ordinary = end - start == timedelta(days=1) and before.utcoffset() == after.utcoffset()
        if ordinary and (lo, hi) == (start, end):
            whole_days += 1  # one interval length in each: added at the end
            continue
        if ordinary:
            # No clock change: interval n is the n-th stretch after midnight.
            steps = [(start + n * timedelta(seconds=interval_seconds), n) for n in range(slots)]
            chunk = timedelta(seconds=interval_seconds)
        else:
            # A clock change: walk the day in pieces that each lie in one interval.
            chunk = timedelta(seconds=math.gcd(interval_seconds, _QUARTER))
            steps = []
            at = start
            while at < end:
                local = at.astimezone(zone)
                of_day = local.hour * 3600 + local.minute * 60 + local.second
                steps.append((at, of_day // interval_seconds))
                at += chunk
        for at, slot in steps:
            overlap = min(at + chunk, hi) - max(at, lo)
            if overlap > timedelta(0):
                spent[slot] += overlap.total_seconds()
    return [seconds + whole_days * interval_seconds for seconds in spent]


def interval_history(
    engine: Engine,
    queue: str,
    since: datetime,
    until: datetime,
    interval_seconds: int,
    tz: str = "UTC",
) -> list[IntervalHistory]:
    """Average calls per interval of the day between ``since`` and ``until`` (aware), and
    the handle time measured in it; every interval of the day is listed, empty ones with 0.

    An interval with calls but none handled (only abandons, or calls still going on) gets
    the handle time of the whole period."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until need a time zone")
    if until <= since:
        raise ValueError("the period ends before it starts")
    if interval_seconds <= 0 or _DAY % interval_seconds:
        raise ValueError("the interval must divide a day (15m, 30m, 1h ...)")
    zone = _zone(tz)
    days = max(1, round((until - since) / timedelta(days=1)))
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                """
                SELECT floor(extract(epoch FROM (v.entered_at AT TIME ZONE :tz)::time) / :step)
                           ::int AS slot,
                       count(DISTINCT v.id) AS offered,
                       count(s.id) FILTER (WHERE s.ended_at IS NOT NULL) AS handled,
                       sum(s.talk_seconds + s.hold_seconds + coalesce(s.wrap_up_seconds, 0))
                           FILTER (WHERE s.ended_at IS NOT NULL) AS handle_seconds
                FROM queue_visits v
                JOIN calls c ON c.id = v.call_id
                LEFT JOIN agent_segments s ON s.call_id = v.call_id AND s.visit_seq = v.seq
                    AND s.kind = 'queue' AND s.answered_at IS NOT NULL
                WHERE v.queue = :queue AND c.campaign IS NULL
                  AND v.entered_at >= :since AND v.entered_at < :until
                GROUP BY slot
                """
            ),
            {"tz": tz, "step": interval_seconds, "queue": queue, "since": since, "until": until},
        ).all()
    found = {
        int(slot): (int(offered), int(handled), float(seconds or 0))
        for slot, offered, handled, seconds in rows
    }
    # An interval whose calls were all abandoned has no handle time of its own: the period's.
    handled_all = sum(h for _, h, _ in found.values())
    overall = sum(s for _, _, s in found.values()) / handled_all if handled_all else None
    spent = _time_in_slots(since, until, interval_seconds, zone)
    history = []
    for slot in range(_DAY // interval_seconds):
        offered, handled, seconds = found.get(slot, (0, 0, 0.0))
        aht = seconds / handled if handled else (overall if offered else None)
        occurrences = spent[slot] / interval_seconds
        per_day = offered / occurrences if offered and occurrences > 0 else 0.0
        minutes = slot * interval_seconds // 60
        history.append(
            IntervalHistory(f"{minutes // 60:02d}:{minutes % 60:02d}", days, per_day, aht)
        )
    return history
