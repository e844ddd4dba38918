"""How often each interval of the local day took place in a period (db/staffing_history.py):
what a staffing plan divides an interval's calls by, clock changes included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine

from db.staffing_history import _time_in_slots, interval_history

HOUR, HALF = 3600, 1800


def occurrences(since: datetime, until: datetime, step: int, tz: str) -> list[float]:
    return [s / step for s in _time_in_slots(since, until, step, ZoneInfo(tz))]


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


def test_ordinary_days_once_a_day() -> None:
    since = local("Europe/Paris", 2026, 1, 5)
    assert occurrences(since, since + timedelta(days=7), HALF, "Europe/Paris") == [7.0] * 48
    # Half a day: only the intervals it covers, whole or in part.
    until = local("Europe/Paris", 2026, 1, 5, 12, 15)
    hours = occurrences(since, until, HOUR, "Europe/Paris")
    assert hours[:12] == [1.0] * 12 and hours[12] == 0.25 and hours[13:] == [0.0] * 11


def test_new_york_fall_back_and_spring_forward() -> None:
    tz = "America/New_York"
    fall = occurrences(local(tz, 2026, 11, 1), local(tz, 2026, 11, 2), HOUR, tz)
    assert fall[1] == 2.0 and sum(fall) == 25
    assert [n for i, n in enumerate(fall) if i != 1] == [1.0] * 23
    halves = occurrences(local(tz, 2026, 11, 1), local(tz, 2026, 11, 2), HALF, tz)
    assert halves[2] == halves[3] == 2.0 and sum(halves) == 50
    spring = occurrences(local(tz, 2026, 3, 8), local(tz, 2026, 3, 9), HOUR, tz)
    assert spring[2] == 0.0 and sum(spring) == 23
    # Two hours, 02:00-04:00: half of it did not exist that day.
    two = occurrences(local(tz, 2026, 3, 8), local(tz, 2026, 3, 9), 2 * HOUR, tz)
    assert two[1] == 0.5 and sum(two) == 11.5


def test_a_half_hour_change_and_a_skipped_midnight() -> None:
    # Lord Howe Island falls back from +11 to +10:30 at 02:00 (5 Apr 2026): 01:30-02:00
    # happens twice.
    tz = "Australia/Lord_Howe"
    hours = occurrences(local(tz, 2026, 4, 5), local(tz, 2026, 4, 6), HOUR, tz)
    assert hours[1] == 1.5 and sum(hours) == 24.5
    # Havana springs forward at midnight (8 Mar 2026): the day starts at 01:00.
    tz = "America/Havana"
    hours = occurrences(local(tz, 2026, 3, 8), local(tz, 2026, 3, 9), HOUR, tz)
    assert hours[0] == 0.0 and sum(hours) == 23


def test_every_second_of_the_period_is_counted_once() -> None:
    since = datetime(2026, 2, 27, 13, 7, 30, tzinfo=UTC)
    until = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    for tz in ("America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Asia/Kathmandu"):
        spent = _time_in_slots(since, until, 900, ZoneInfo(tz))
        assert sum(spent) == pytest.approx((until - since).total_seconds())


def test_bad_arguments() -> None:
    engine = create_engine("sqlite://")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown time zone"):
        interval_history(engine, "q", since, since + timedelta(days=1), HOUR, "Mars/Olympus")
    with pytest.raises(ValueError, match="divide a day"):
        interval_history(engine, "q", since, since + timedelta(days=1), 7 * 60)
    with pytest.raises(ValueError, match="time zone"):
        interval_history(engine, "q", since.replace(tzinfo=None), since, HOUR)
    with pytest.raises(ValueError, match="ends before"):
        interval_history(engine, "q", since, since, HOUR)
