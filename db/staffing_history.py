"""What staffing plans are made from: calls offered per interval and their measured handle
time, from the ``calls`` of a queue over past days (sync, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class IntervalHistory:
    """One interval of the day (its start as a local time of day) over the days looked at."""

    start: str  # "HH:MM" in the report's time zone
    days: int
    calls_per_day: float  # offered (entered the queue), on average per day
    aht: float | None  # talk + hold + wrap-up of the handled calls, seconds


def interval_history(
    engine: Engine,
    queue: str,
    since: datetime,
    until: datetime,
    interval_seconds: int,
    tz: str = "UTC",
) -> list[IntervalHistory]:
    """Average calls per interval of the day between ``since`` and ``until`` (aware), and
    the handle time measured in it; every interval of the day is listed, empty ones with 0."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until need a time zone")
    if until <= since:
        raise ValueError("the period ends before it starts")
    if interval_seconds <= 0 or 86_400 % interval_seconds:
        raise ValueError("the interval must divide a day (15m, 30m, 1h ...)")
    days = max(1, round((until - since) / timedelta(days=1)))
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                """
                SELECT floor(extract(epoch FROM (queued_at AT TIME ZONE :tz)::time) / :step)::int
                           AS slot,
                       count(*) AS offered,
                       avg(coalesce(talk_seconds, 0) + coalesce(wrap_up_seconds, 0)
                           + coalesce(hold_seconds, 0))
                           FILTER (WHERE connected_at IS NOT NULL) AS aht
                FROM calls
                WHERE queue = :queue AND queued_at >= :since AND queued_at < :until
                GROUP BY slot
                """
            ),
            {"tz": tz, "step": interval_seconds, "queue": queue, "since": since, "until": until},
        ).all()
    found = {
        int(slot): (int(offered), float(aht) if aht is not None else None)
        for slot, offered, aht in rows
    }
    # An interval whose calls were all abandoned has no handle time of its own: the period's.
    measured = [(o, a) for o, a in found.values() if a is not None]
    overall = sum(o * a for o, a in measured) / sum(o for o, _ in measured) if measured else None
    history = []
    for slot in range(86_400 // interval_seconds):
        offered, aht = found.get(slot, (0, None))
        if offered and aht is None:
            aht = overall
        minutes = slot * interval_seconds // 60
        history.append(
            IntervalHistory(f"{minutes // 60:02d}:{minutes % 60:02d}", days, offered / days, aht)
        )
    return history
