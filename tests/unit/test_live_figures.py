"""Today's figures of the wallboard and Prometheus (ari_app/live_figures.py): their ratios,
and where "today" starts in the center's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from ari_app.live_figures import QueueToday, start_of_day


def test_service_level_counts_abandons_and_unserved_against_it() -> None:
    today = QueueToday(
        offered=12, answered=6, answered_in_time=4, abandoned=3, short_abandons=1, unserved=2
    )
    # 4 / (6 + 3 + 2 - 1); callbacks (12 - 6 - 3 - 2 = 1) are in neither side.
    assert today.service_level == 0.4
    assert today.abandonment == (3 - 1) / (12 - 1)


def test_no_calls_no_ratios() -> None:
    assert QueueToday().service_level is None and QueueToday().abandonment is None
    only_short = QueueToday(offered=1, abandoned=1, short_abandons=1)
    assert only_short.service_level is None and only_short.abandonment is None
    only_overflow = QueueToday(offered=1, unserved=1)
    assert only_overflow.service_level == 0.0 and only_overflow.abandonment == 0.0


def test_today_starts_at_local_midnight() -> None:
    now = datetime(2031, 1, 15, 3, 0, tzinfo=UTC)  # 22:00 on the 14th in New York
    assert start_of_day(now, "UTC") == datetime(2031, 1, 15, tzinfo=UTC)
    assert start_of_day(now, "America/New_York") == datetime(2031, 1, 14, 5, tzinfo=UTC)
    assert start_of_day(now, "Asia/Tokyo") == datetime(2031, 1, 14, 15, tzinfo=UTC)
    # Clock changes: the day began at midnight on the day's own offset.
    spring = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
    assert start_of_day(spring, "America/New_York") == datetime(2026, 3, 8, 5, tzinfo=UTC)
    fall = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert start_of_day(fall, "America/New_York") == datetime(2026, 11, 1, 4, tzinfo=UTC)
    # Havana skips 00:00-01:00 that day: its first instant, 01:00 CDT.
    assert start_of_day(spring, "America/Havana") == datetime(2026, 3, 8, 5, tzinfo=UTC)
