"""The pure parts of the reports: parameters, intervals, windows, service-level variants and
ratios that are None (n/a) when there is nothing to divide by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.metrics import (
    Counts,
    Interval,
    MetricError,
    MetricParams,
    SlVariant,
    describe_window,
    metric_row,
    parse_interval,
    parse_sl_variant,
    parse_window,
    ratio,
    service_level,
)
from switchboard.cli.reports import parse_bound, period

START = datetime(2024, 5, 1, tzinfo=UTC)


def test_defaults() -> None:
    p = MetricParams()
    assert (p.sl_seconds, p.sl_variant, p.short_abandon_seconds) == (20, SlVariant.ANSWERED, 5)
    assert (p.fcr_window, p.interval, p.tz) == (timedelta(days=7), Interval.DAY, "UTC")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sl_seconds": 0}, "above 0"),
        ({"sl_seconds": -5}, "above 0"),
        ({"sl_seconds": float("nan")}, "above 0"),
        ({"short_abandon_seconds": -1}, "0 s or more"),
        ({"fcr_window": timedelta(0)}, "longer than 0"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"tz": "../etc/passwd"}, "unknown time zone"),
        ({"sl_variant": "sometimes"}, "sometimes"),
        ({"interval": "7m"}, "7m"),
    ],
)
def test_params_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MetricParams(**kwargs)  # type: ignore[arg-type]


def test_params_take_plain_strings() -> None:
    p = MetricParams(sl_variant="offered", interval="30m")  # type: ignore[arg-type]
    assert p.sl_variant is SlVariant.OFFERED and p.interval is Interval.M30


@pytest.mark.parametrize(
    ("text", "interval", "minutes"),
    [
        ("15m", Interval.M15, 15),
        ("30m", Interval.M30, 30),
        (" 30MIN ", Interval.M30, 30),
        ("60m", Interval.M60, 60),
        ("1h", Interval.M60, 60),
        ("day", Interval.DAY, 1440),
        ("1d", Interval.DAY, 1440),
    ],
)
def test_intervals(text: str, interval: Interval, minutes: int) -> None:
    assert parse_interval(text) is interval
    assert interval.minutes == minutes


@pytest.mark.parametrize("text", ["", "7m", "2h", "week", "30"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(MetricError, match="15m, 30m, 60m or day"):
        parse_interval(text)


def test_windows_and_variants() -> None:
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("72h") == timedelta(hours=72)
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("2w") == timedelta(days=14)
    assert parse_window("1.5d") == timedelta(hours=36)
    for bad in ("", "7", "0d", "7x", "-1d", "d"):
        with pytest.raises(MetricError):
            parse_window(bad)
    assert [describe_window(parse_window(t)) for t in ("7d", "24h", "72h", "2w", "1.5h")] == [
        "7d",
        "1d",
        "3d",
        "14d",
        "90m",
    ]
    assert parse_sl_variant("short-abandons-excluded") is SlVariant.SHORT_ABANDONS_EXCLUDED
    with pytest.raises(MetricError, match="answered, offered"):
        parse_sl_variant("all")


def test_ratio_is_none_without_a_denominator() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(0, 0) is None
    assert ratio(5, 0) is None
    assert ratio(0, -1) is None  # e.g. offered minus short abandons cannot be below 0


def test_service_level_variants() -> None:
    # 8 answered, 6 within T, 4 abandoned of which 2 short.
    args = (8, 6, 4, 2)
    assert service_level(SlVariant.ANSWERED, *args) == 6 / 8
    assert service_level(SlVariant.OFFERED, *args) == 6 / 12
    assert service_level(SlVariant.SHORT_ABANDONS_EXCLUDED, *args) == 6 / 10
    assert service_level(SlVariant.SHORT_ABANDONS_COUNT_FOR, *args) == 8 / 12
    # Only abandons, all of them short.
    assert service_level(SlVariant.ANSWERED, 0, 0, 3, 3) is None
    assert service_level(SlVariant.OFFERED, 0, 0, 3, 3) == 0.0
    assert service_level(SlVariant.SHORT_ABANDONS_EXCLUDED, 0, 0, 3, 3) is None
    assert service_level(SlVariant.SHORT_ABANDONS_COUNT_FOR, 0, 0, 3, 3) == 1.0
    for variant in SlVariant:
        assert service_level(variant, 0, 0, 0, 0) is None


def test_an_empty_row_is_all_none() -> None:
    row = metric_row("q", START, Counts(), MetricParams())
    assert row.offered == 0
    assert row.service_level is None
    for name in ("asa", "aht", "avg_talk", "avg_hold", "avg_wrap_up", "abandonment_rate", "fcr"):
        assert getattr(row, name) is None, name
    d = row.as_dict()
    assert d["interval_start"] == "2024-05-01T00:00:00+00:00" and d["service_level"] is None
    assert "counts" not in d


def test_a_row_from_counts() -> None:
    counts = Counts(
        offered=10, answered=6, answered_within_t=3, abandoned=3, short_abandons=1,
        answer_wait_seconds=60, handled=4, talk_seconds=400, hold_seconds=40,
        wrap_up_seconds=80, fcr_contacts=4, fcr_resolved=3,
    )  # fmt: skip
    row = metric_row("q", START, counts, MetricParams(sl_variant=SlVariant.OFFERED))
    assert row.service_level == 3 / 9
    assert row.service_level_as(SlVariant.ANSWERED) == 3 / 6
    assert row.asa == 10.0  # 60 / 6 answered
    assert row.aht == 130.0  # (400 + 40 + 80) / 4 handled
    assert (row.avg_talk, row.avg_hold, row.avg_wrap_up) == (100.0, 10.0, 20.0)
    assert row.abandonment_rate == 2 / 9  # (3 - 1) / (10 - 1)
    assert row.fcr == 0.75


def test_period_bounds() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert parse_bound("2024-05-01", "Europe/Paris", end=False) == datetime(
        2024, 5, 1, tzinfo=paris
    )
    # A date as the end includes that day.
    assert parse_bound("2024-05-01", "Europe/Paris", end=True) == datetime(2024, 5, 2, tzinfo=paris)
    assert parse_bound("2024-05-01T08:30", "UTC", end=True) == datetime(
        2024, 5, 1, 8, 30, tzinfo=ZoneInfo("UTC")
    )
    explicit = parse_bound("2024-05-01T08:30+02:00", "UTC", end=False)
    assert explicit == datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    lo, hi = period(None, None, "Asia/Tokyo")
    assert hi - lo == timedelta(days=1)
    assert (lo.hour, lo.minute) == (0, 0)
    with pytest.raises(MetricError, match="must come after"):
        period("2024-05-02", "2024-05-01", "UTC")
    with pytest.raises(MetricError, match="--from 'soon'"):
        period("soon", None, "UTC")
