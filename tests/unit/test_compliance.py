"""Outbound compliance rules: calling hours across zones and DST, DNC, caps, UK, order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.outbound.compliance import (
    CAMPAIGN_RULES,
    DAY_NAMES,
    END_OF_DAY,
    NUMBER_RULES,
    OPENING_HORIZON,
    REGION_HOURS,
    RULES,
    CallingHours,
    CallRefused,
    ComplianceConfigError,
    DncFacts,
    PastAttempt,
    Policy,
    Target,
    Verdict,
    check,
    hours_for,
    refusals,
)

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
PARIS = ZoneInfo("Europe/Paris")

US_EAST = Target("+12125550100", ("America/New_York",), "US")
US_BOTH = Target("+12125550100", ("America/New_York", "America/Los_Angeles"), "US")
FR = Target("+33140000000", ("Europe/Paris",), "FR")
CLEAR = DncFacts.clear()
US = Policy(hours=None)
# 2026-03-10 is a Tuesday; the US is on daylight time (EDT = UTC-4, PDT = UTC-7).
NOON_NY = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
ALL_DAY = CallingHours.every_day((time(0), END_OF_DAY))


def verdict(
    target: Target = US_EAST,
    policy: Policy = US,
    *,
    now: datetime = NOON_NY,
    history: Sequence[PastAttempt] = (),
    dnc: DncFacts = CLEAR,
    ring_seconds: int = 20,
    abandonment: tuple[float, float] | None = None,
) -> Verdict:
    return check(
        target,
        policy,
        now=now,
        history=history,
        dnc=dnc,
        ring_seconds=ring_seconds,
        abandonment=abandonment,
    )


def rules(**kw: Any) -> list[str]:
    defaults: dict[str, Any] = {
        "now": NOON_NY,
        "history": (),
        "dnc": CLEAR,
        "ring_seconds": 20,
    }
    target = kw.pop("target", US_EAST)
    policy = kw.pop("policy", US)
    return [v.rule for v in refusals(target, policy, **(defaults | kw))]


def local(
    zone: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=zone, fold=fold)


def ago(**kw: float) -> datetime:
    return NOON_NY - timedelta(**kw)


ALLOWED = Verdict(allowed=True, rule="", reason="", retry_at=None)


# --- calling hours: windows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "allowed"),
    [
        (time(7, 59, 59, 999999), False),
        (time(8, 0), True),
        (time(12, 0), True),
        (time(20, 59, 59, 999999), True),
        (time(21, 0), False),
        (time(23, 30), False),
        (time(0, 0), False),
    ],
)
def test_default_window_borders(wall: time, allowed: bool) -> None:
    moment = datetime.combine(date(2026, 3, 10), wall, tzinfo=NY)
    assert CallingHours.default().allows(moment) is allowed
    assert verdict(now=moment).allowed is allowed


def test_window_borders_through_check_give_the_opening() -> None:
    v = verdict(now=local(NY, 2026, 3, 10, 7, 59, 59))
    assert (v.allowed, v.rule) == (False, "calling_hours")
    assert v.retry_at == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert "07:59 on Tue 2026-03-10 in America/New_York" in v.reason
    v = verdict(now=local(NY, 2026, 3, 10, 21, 0))
    assert v.rule == "calling_hours"
    assert v.retry_at == datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


def test_allows_and_next_opening_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        CallingHours.default().allows(datetime(2026, 3, 10, 12))
    with pytest.raises(ValueError, match="naive"):
        CallingHours.default().next_opening(datetime(2026, 3, 10, 12))


def test_next_opening() -> None:
    hours = CallingHours.default()
    inside = local(NY, 2026, 3, 10, 9, 30)
    assert hours.next_opening(inside) is inside
    assert hours.next_opening(local(NY, 2026, 3, 10, 6)) == local(NY, 2026, 3, 10, 8)
    assert hours.next_opening(local(NY, 2026, 3, 10, 22)) == local(NY, 2026, 3, 11, 8)
    opening = hours.next_opening(local(NY, 2026, 3, 10, 22))
    assert opening is not None and opening.tzinfo is NY


def test_next_opening_none_within_the_horizon() -> None:
    assert CallingHours({}).next_opening(local(NY, 2026, 3, 10, 9)) is None
    # Mondays only, and the next two Mondays are holidays: nothing within 14 days.
    mondays = CallingHours({0: ((time(9), time(17)),)}, frozenset({date(2026, 3, 16)}))
    assert mondays.next_opening(local(NY, 2026, 3, 10, 9)) == local(NY, 2026, 3, 23, 9)
    closed = CallingHours(
        {0: ((time(9), time(17)),)}, frozenset({date(2026, 3, 16), date(2026, 3, 23)})
    )
    assert closed.next_opening(local(NY, 2026, 3, 10, 9)) is None
    v = verdict(policy=Policy(hours=closed), now=local(NY, 2026, 3, 10, 9))
    assert v.rule == "calling_hours" and v.retry_at is None
    assert "No opening within the next 14 days" in v.reason


def test_a_day_left_out_of_the_mapping_has_no_calls() -> None:
    hours = CallingHours({0: ((time(9), time(17)),)})
    assert hours.days[1] == ()
    assert not hours.allows(local(NY, 2026, 3, 10, 12))  # a Tuesday
    assert hours.allows(local(NY, 2026, 3, 9, 12))  # a Monday


def test_end_of_day_window_runs_to_midnight() -> None:
    hours = CallingHours({1: ((time(20), END_OF_DAY),), 2: ((time(0), time(1)),)})
    assert hours.allows(local(NY, 2026, 3, 10, 23, 59, 59) + timedelta(microseconds=999999))
    assert hours.allows(local(NY, 2026, 3, 11, 0, 0))
    assert not hours.allows(local(NY, 2026, 3, 11, 1, 0))
    assert hours.to_json()["days"]["tue"] == [["20:00", "24:00"]]


# --- calling hours: holidays, in the callee's local date --------------------------------------


def test_holiday_is_a_local_date() -> None:
    hours = CallingHours.every_day((time(0), END_OF_DAY), holidays=frozenset({date(2026, 12, 25)}))
    policy = Policy(hours=hours)
    # Numbers of no known country, so that the campaign's all-day hours apply alone (a US
    # number is also held to 08:00-21:00).
    east = Target("+1", ("America/New_York",), None)
    both = Target("+1", ("America/New_York", "America/Los_Angeles"), None)
    # 05:00 UTC on the 26th: already the 26th in New York, still the 25th in Los Angeles.
    now = datetime(2026, 12, 26, 5, 0, tzinfo=UTC)
    assert verdict(east, policy, now=now).allowed
    v = verdict(both, policy, now=now)
    assert v.rule == "holiday"
    assert "2026-12-25 is a holiday in America/Los_Angeles" in v.reason
    assert v.retry_at == datetime(2026, 12, 26, 8, 0, tzinfo=UTC)  # midnight in LA
    assert verdict(both, policy, now=v.retry_at).allowed
    # A US number: the same holiday, then the legal opening (08:00 in Los Angeles).
    v = verdict(US_BOTH, policy, now=now)
    assert v.rule == "holiday"
    assert v.retry_at == datetime(2026, 12, 26, 16, 0, tzinfo=UTC)


def test_holiday_comes_before_calling_hours() -> None:
    hours = CallingHours.every_day((time(8), time(21)), holidays=frozenset({date(2026, 3, 10)}))
    v = verdict(policy=Policy(hours=hours), now=local(NY, 2026, 3, 10, 6))
    assert v.rule == "holiday"
    assert v.retry_at == datetime(2026, 3, 11, 12, tzinfo=UTC)


# --- calling hours: DST -----------------------------------------------------------------------


def test_us_spring_forward() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT; 08:00 that day is 12:00 UTC, a day earlier 13:00.
    assert not verdict(now=datetime(2026, 3, 7, 12, 30, tzinfo=UTC)).allowed  # 07:30 EST
    assert verdict(now=datetime(2026, 3, 8, 12, 30, tzinfo=UTC)).allowed  # 08:30 EDT
    assert not verdict(now=datetime(2026, 3, 8, 11, 59, 59, tzinfo=UTC)).allowed
    v = verdict(now=datetime(2026, 3, 8, 6, 0, tzinfo=UTC))  # 01:00 EST
    assert v.retry_at == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    # 21:00 EDT on the 8th is 01:00 UTC on the 9th.
    assert verdict(now=datetime(2026, 3, 9, 0, 59, tzinfo=UTC)).allowed
    assert not verdict(now=datetime(2026, 3, 9, 1, 0, tzinfo=UTC)).allowed


def test_us_fall_back() -> None:
    # 2026-11-01: 02:00 EDT becomes 01:00 EST; 08:00 that day is 13:00 UTC, a day earlier 12:00.
    assert verdict(now=datetime(2026, 10, 31, 12, 30, tzinfo=UTC)).allowed  # 08:30 EDT
    assert not verdict(now=datetime(2026, 11, 1, 12, 30, tzinfo=UTC)).allowed  # 07:30 EST
    v = verdict(now=datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT, the first one
    assert v.retry_at == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert verdict(now=datetime(2026, 11, 2, 1, 59, tzinfo=UTC)).allowed  # 20:59 EST
    assert not verdict(now=datetime(2026, 11, 2, 2, 0, tzinfo=UTC)).allowed  # 21:00 EST


def test_window_starting_in_the_spring_gap_opens_when_the_clock_jumps() -> None:
    hours = CallingHours.every_day((time(2, 30), time(5)))
    # 02:30 does not exist on 2026-03-08 in New York: the clock jumps 01:59:59 -> 03:00.
    opening = hours.next_opening(local(NY, 2026, 3, 8, 1, 0))
    assert opening is not None and (opening.hour, opening.minute) == (3, 0)
    assert opening.astimezone(UTC) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_window_inside_the_spring_gap_never_opens_that_day() -> None:
    hours = CallingHours.every_day((time(2, 10), time(2, 20)))
    opening = hours.next_opening(local(NY, 2026, 3, 8, 1, 0))
    assert opening == local(NY, 2026, 3, 9, 2, 10)


def test_window_in_the_repeated_autumn_hour_opens_twice() -> None:
    hours = CallingHours.every_day((time(1, 10), time(1, 20)))
    first = local(NY, 2026, 11, 1, 1, 15)  # EDT
    second = local(NY, 2026, 11, 1, 1, 15, fold=1)  # EST
    assert hours.allows(first) and hours.allows(second)
    opening = hours.next_opening(local(NY, 2026, 11, 1, 1, 25))  # 01:25 EDT
    # (An ambiguous local time never equals another zone's datetime: compare in UTC.)
    assert opening is not None and opening.fold == 1
    assert opening.astimezone(UTC) == datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST


def test_window_ending_in_the_spring_gap_ends_at_the_jump() -> None:
    hours = CallingHours.every_day((time(1), time(2, 30)))
    assert hours.allows(datetime(2026, 3, 8, 6, 59, tzinfo=UTC).astimezone(NY))  # 01:59 EST
    assert not hours.allows(datetime(2026, 3, 8, 7, 0, tzinfo=UTC).astimezone(NY))  # 03:00 EDT


def test_caps_count_elapsed_time_not_wall_clock_across_fall_back() -> None:
    # Both stamped in New York time: 24.5 h elapsed, though the wall clock moved 23.5 h.
    placed = local(NY, 2026, 10, 31, 12, 0)
    now = local(NY, 2026, 11, 1, 11, 30)
    policy = Policy(hours=ALL_DAY, max_calls_24h=1)
    assert verdict(policy=policy, now=now, history=[PastAttempt(placed, "busy")]).allowed
    v = verdict(policy=policy, now=now - timedelta(hours=1), history=[PastAttempt(placed, "busy")])
    assert v.rule == "cap_24h" and v.retry_at == placed.astimezone(UTC) + timedelta(hours=24)


# --- calling hours: several zones -------------------------------------------------------------


def test_number_spanning_eastern_and_pacific_needs_both_open() -> None:
    # 12:30 UTC: 08:30 in New York, 05:30 in Los Angeles.
    v = verdict(US_BOTH, now=datetime(2026, 3, 10, 12, 30, tzinfo=UTC))
    assert v.rule == "calling_hours"
    assert "America/Los_Angeles" in v.reason
    assert v.retry_at == datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 08:00 PDT
    assert verdict(US_BOTH, now=v.retry_at).allowed
    # 01:30 UTC: 21:30 in New York, 18:30 in Los Angeles; next: 08:00 PDT the next day.
    v = verdict(US_BOTH, now=datetime(2026, 3, 11, 1, 30, tzinfo=UTC))
    assert v.rule == "calling_hours" and "America/New_York" in v.reason
    assert v.retry_at == datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
    # The common window is 15:00-01:00 UTC.
    assert verdict(US_BOTH, now=datetime(2026, 3, 11, 0, 59, tzinfo=UTC)).allowed
    assert not verdict(US_BOTH, now=datetime(2026, 3, 11, 1, 0, tzinfo=UTC)).allowed


def test_zones_with_no_common_window() -> None:
    # 09:00-10:00 in Paris and in New York never overlap.
    hours = CallingHours.every_day((time(9), time(10)))
    target = Target("+10000000000", ("Europe/Paris", "America/New_York"), None)
    v = verdict(target, Policy(hours=hours))
    assert v.rule == "calling_hours" and v.retry_at is None


def test_a_duplicate_zone_changes_nothing() -> None:
    target = Target("+12125550100", ("America/New_York", "America/New_York"), "US")
    assert verdict(target) == ALLOWED


# --- calling hours: regions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [
        (9, 59, False),
        (10, 0, True),
        (12, 59, True),
        (13, 0, False),
        (13, 59, False),
        (14, 0, True),
        (19, 59, True),
        (20, 0, False),
    ],
)
def test_france_split_day(hour: int, minute: int, allowed: bool) -> None:
    now = local(PARIS, 2026, 3, 10, hour, minute)
    assert verdict(FR, now=now).allowed is allowed


def test_france_next_openings_and_weekend() -> None:
    assert verdict(FR, now=local(PARIS, 2026, 3, 10, 13, 0)).retry_at == local(
        PARIS, 2026, 3, 10, 14, 0
    )
    # Friday 20:00 -> Monday 10:00 (CET, UTC+1).
    v = verdict(FR, now=local(PARIS, 2026, 3, 13, 20, 0))
    assert v.retry_at == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    assert not verdict(FR, now=local(PARIS, 2026, 3, 14, 11, 0)).allowed  # Saturday
    assert not verdict(FR, now=local(PARIS, 2026, 3, 15, 11, 0)).allowed  # Sunday


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 4, 6),  # lundi de Pâques
        date(2026, 5, 1),
        date(2026, 5, 8),
        date(2026, 5, 14),  # Ascension
        date(2026, 5, 25),  # lundi de Pentecôte
        date(2026, 7, 14),
        date(2027, 3, 29),  # lundi de Pâques 2027
    ],
)
def test_france_public_holidays(day: date) -> None:
    assert day.weekday() < 5
    v = verdict(FR, now=datetime.combine(day, time(11), tzinfo=PARIS))
    assert v.rule == "holiday"


def test_region_defaults() -> None:
    assert hours_for(US, "US") is REGION_HOURS["US"]
    assert hours_for(US, "fr") is REGION_HOURS["FR"]
    assert hours_for(US, None) is REGION_HOURS["US"]
    assert hours_for(US, "ZZ") is REGION_HOURS["US"]
    assert REGION_HOURS["GB"] == CallingHours.default()
    # A campaign's own hours narrow the country's legal ones, never replace them.
    assert hours_for(Policy(hours=ALL_DAY), "FR") == REGION_HOURS["FR"]
    assert not verdict(FR, Policy(hours=ALL_DAY), now=local(PARIS, 2026, 3, 14, 22)).allowed
    # Without legal hours for the country, the campaign's apply alone.
    assert hours_for(Policy(hours=ALL_DAY), "ZZ") is ALL_DAY
    assert hours_for(Policy(hours=ALL_DAY), "GB") is ALL_DAY


def test_canada_is_stricter_than_the_us() -> None:
    target = Target("+14165550100", ("America/Toronto",), "CA")
    toronto = ZoneInfo("America/Toronto")
    assert not verdict(target, now=local(toronto, 2026, 3, 10, 8, 30)).allowed
    assert verdict(target, now=local(toronto, 2026, 3, 10, 21, 15)).allowed
    assert not verdict(target, now=local(toronto, 2026, 3, 14, 19, 0)).allowed  # Saturday


def test_region_hours_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        REGION_HOURS["US"] = ALL_DAY  # type: ignore[index]
    with pytest.raises(TypeError):
        REGION_HOURS["US"].days[0] = ()  # type: ignore[index]


# --- calling hours: construction, JSON --------------------------------------------------------


def test_construction_normalises_and_copies() -> None:
    days = {0: [(time(14), time(16)), (time(9), time(12))]}
    hours = CallingHours(days, {date(2026, 12, 25)})  # type: ignore[arg-type]
    days[0].clear()
    assert hours.days[0] == ((time(9), time(12)), (time(14), time(16)))
    assert isinstance(hours.days, MappingProxyType)
    assert hours.holidays == frozenset({date(2026, 12, 25)})
    assert hash(hours) == hash(CallingHours(dict(hours.days), hours.holidays))


@pytest.mark.parametrize(
    ("days", "holidays", "message"),
    [
        ({7: ()}, (), "weekday 7"),
        ({0: ((time(9), time(9)),)}, (), "end must come after the start"),
        ({0: ((time(17), time(9)),)}, (), "end must come after the start"),
        ({0: ((time(9),),)}, (), "pair"),
        ({0: (("09:00", "17:00"),)}, (), "is not a time"),
        ({0: ((time(9, tzinfo=UTC), time(17)),)}, (), "without zone"),
        ({0: ((time(9, 0, 0, 5), time(17)),)}, (), "to the second"),
        ({}, (datetime(2026, 12, 25, tzinfo=UTC),), "expected a date"),
        ({}, ("2026-12-25",), "expected a date"),
    ],
)
def test_construction_errors(days: Any, holidays: Any, message: str) -> None:
    with pytest.raises(ComplianceConfigError, match=message):
        CallingHours(days, frozenset(holidays))


def test_from_json() -> None:
    hours = CallingHours.from_json(
        {
            "days": {"SAT": [], "sun": [["9:00", "12:00"]], "mon": [["08:00", "12:00:30"]]},
            "holidays": ["2026-12-25"],
        }
    )
    assert hours.days[0] == ((time(8), time(12, 0, 30)),)
    assert hours.days[1] == ((time(8), time(21)),)  # left out: the default window
    assert hours.days[5] == ()
    assert hours.days[6] == ((time(9), time(12)),)
    assert hours.holidays == frozenset({date(2026, 12, 25)})
    assert CallingHours.from_json({}) == CallingHours.default()
    assert CallingHours.from_json({"days": {}}) == CallingHours.default()


def test_to_json() -> None:
    data = REGION_HOURS["FR"].to_json()
    assert data["days"]["mon"] == [["10:00", "13:00"], ["14:00", "20:00"]]
    assert data["days"]["sat"] == []
    assert list(data["days"]) == list(DAY_NAMES)
    assert data["holidays"] == sorted(data["holidays"])
    assert CallingHours.from_json(data) == REGION_HOURS["FR"]
    assert CallingHours.default().to_json() == {
        "days": {name: [["08:00", "21:00"]] for name in DAY_NAMES},
        "holidays": [],
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"days": {"mon": [["21:00", "08:00"]]}}, "end must come after the start"),
        ({"days": {"mon": [["08:00", "08:00"]]}}, "end must come after the start"),
        ({"days": {"mon": [["8h", "21:00"]]}}, "not a time like"),
        ({"days": {"mon": [["08:00", "25:00"]]}}, "not a time of day"),
        ({"days": {"mon": [["08:60", "21:00"]]}}, "not a time of day"),
        ({"days": {"mon": [["24:00", "24:00"]]}}, "not a time of day"),
        ({"days": {"mon": [[800, "21:00"]]}}, "expected a time"),
        ({"days": {"mon": [["08:00"]]}}, r"expected \[start, end\]"),
        ({"days": {"mon": ["08:00-21:00"]}}, r"expected \[start, end\]"),
        ({"days": {"mon": "08:00-21:00"}}, "list of"),
        ({"days": {"monday": []}}, "unknown day 'monday'"),
        ({"days": {"xyz": []}}, "unknown day"),
        ({"days": {"mon": [], "Mon": []}}, "given twice"),
        ({"days": [["08:00", "21:00"]]}, "must be an object"),
        ({"holiday": ["2026-12-25"]}, "unknown key"),
        ({"holidays": ["25/12/2026"]}, "expected a date"),
        ({"holidays": ["2026-02-30"]}, "not a calendar date"),
        ({"holidays": "2026-12-25"}, "list of dates"),
        (["mon"], "expected an object"),
    ],
)
def test_from_json_errors(value: Any, message: str) -> None:
    with pytest.raises(ComplianceConfigError, match=message):
        CallingHours.from_json(value)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ComplianceConfigError, ValueError)


# --- policy, target, facts: validation --------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"max_calls_24h": 0},
        {"max_calls_24h": True},
        {"max_calls_30d": -1},
        {"abandon_limit": 0.0},
        {"abandon_limit": 1.0},
        {"abandon_limit": math.nan},
        {"min_ring_seconds": -1},
        {"national_dnc_max_age": timedelta(days=-1)},
        {"hours": {"days": {}}},
    ],
)
def test_policy_errors(kw: dict[str, Any]) -> None:
    with pytest.raises(ComplianceConfigError):
        Policy(**({"hours": None} | kw))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        verdict(now=datetime(2026, 3, 10, 16))
    with pytest.raises(ValueError, match="naive"):
        PastAttempt(datetime(2026, 3, 10, 16), "busy")
    with pytest.raises(ValueError, match="naive"):
        DncFacts(datetime(2026, 3, 10, 16), False, None)


def test_fact_errors() -> None:
    with pytest.raises(ValueError, match="forever"):
        DncFacts("never", False, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DncFacts(None, False, datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(TypeError):
        Target("+12125550100", "America/New_York", "US")  # type: ignore[arg-type]
    assert Target("+1", ["UTC"], None).time_zones == ("UTC",)  # type: ignore[arg-type]


# --- do-not-call ------------------------------------------------------------------------------


def test_internal_dnc_forever() -> None:
    v = verdict(dnc=DncFacts("forever", False, None))
    assert (v.allowed, v.rule, v.retry_at) == (False, "dnc_internal", None)


def test_internal_dnc_until_and_expiry_exactly_at_now() -> None:
    until = NOON_NY + timedelta(days=2)
    v = verdict(dnc=DncFacts(until.astimezone(NY), False, None))
    assert v.rule == "dnc_internal" and v.retry_at == until and v.retry_at.tzinfo is UTC
    assert verdict(dnc=DncFacts(NOON_NY, False, None)) == ALLOWED
    v = verdict(dnc=DncFacts(NOON_NY + timedelta(microseconds=1), False, None))
    assert v.rule == "dnc_internal"
    assert verdict(dnc=DncFacts(NOON_NY - timedelta(days=1), False, None)) == ALLOWED


def test_national_listing_is_honoured_even_when_not_required() -> None:
    v = verdict(dnc=DncFacts(None, True, None))
    assert (v.rule, v.retry_at) == ("dnc_national", None)
    v = verdict(
        policy=Policy(hours=None, national_dnc_required=True), dnc=DncFacts(None, True, None)
    )
    assert v.rule == "dnc_national"


def test_national_list_missing() -> None:
    required = Policy(hours=None, national_dnc_required=True)
    assert verdict(policy=required).rule == "dnc_national_missing"
    assert verdict(policy=US) == ALLOWED


@pytest.mark.parametrize(("days_old", "stale"), [(0, False), (31, False), (32, True)])
def test_national_list_age(days_old: int, stale: bool) -> None:
    required = Policy(hours=None, national_dnc_required=True)
    data_date = NOON_NY.date() - timedelta(days=days_old)
    v = verdict(policy=required, dnc=DncFacts(None, False, data_date))
    assert v.rule == ("dnc_national_stale" if stale else "")
    assert v.retry_at is None
    if stale:
        assert "32 days old" in v.reason


def test_national_list_age_uses_the_utc_date() -> None:
    required = Policy(hours=None, national_dnc_required=True)
    # 20:30 in New York on 2026-04-10 is already 2026-04-11 in UTC: 32 days after 03-10.
    now = local(NY, 2026, 4, 10, 20, 30)
    assert verdict(policy=required, now=now, dnc=DncFacts(None, False, date(2026, 3, 10))).rule == (
        "dnc_national_stale"
    )
    custom = Policy(hours=None, national_dnc_required=True, national_dnc_max_age=timedelta(7))
    assert (
        verdict(policy=custom, dnc=DncFacts(None, False, date(2026, 3, 2))).rule
        == "dnc_national_stale"
    )
    assert verdict(policy=custom, dnc=DncFacts(None, False, date(2026, 3, 3))).allowed


# --- time zones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zones",
    [
        (),
        ("Mars/Olympus_Mons",),
        ("America/New_York", "Nowhere/Special"),
        ("",),
        ("localtime",),
        ("posixrules",),
        ("right/UTC",),
        ("posix/America/New_York",),
        ("../../etc/passwd",),
        ("/etc/localtime",),
        (" America/New_York",),
        ("America",),
    ],
)
def test_bad_time_zone(zones: tuple[str, ...]) -> None:
    v = verdict(Target("+12125550100", zones, "US"))
    assert (v.allowed, v.rule, v.retry_at) == (False, "bad_time_zone", None)


def test_bad_time_zone_never_allows_even_with_hours_all_day() -> None:
    v = verdict(Target("+1", ("Bogus/Zone",), None), Policy(hours=ALL_DAY))
    assert v.rule == "bad_time_zone"


# --- dial settings ----------------------------------------------------------------------------


def test_ring_too_short() -> None:
    assert verdict(ring_seconds=14).rule == "ring_too_short"
    assert verdict(ring_seconds=15) == ALLOWED
    assert verdict(policy=Policy(hours=None, min_ring_seconds=25), ring_seconds=20).rule == (
        "ring_too_short"
    )


@pytest.mark.parametrize(
    ("rates", "refused"),
    [
        (None, False),
        ((0.0, 0.0), False),
        ((0.0299, 0.0299), False),
        ((0.03, 0.0), True),
        ((0.0, 0.03), True),
        ((0.2, 0.5), True),
        ((math.nan, 0.0), True),
        ((0.0, math.nan), True),
    ],
)
def test_abandon_limit(rates: tuple[float, float] | None, refused: bool) -> None:
    v = verdict(abandonment=rates)
    assert v.rule == ("abandon_limit" if refused else "")
    assert v.retry_at is None


def test_abandon_limit_follows_the_policy() -> None:
    policy = Policy(hours=None, abandon_limit=0.05)
    assert verdict(policy=policy, abandonment=(0.04, 0.04)).allowed
    assert verdict(policy=policy, abandonment=(0.05, 0.0)).rule == "abandon_limit"


# --- frequency caps ---------------------------------------------------------------------------


def test_cap_24h() -> None:
    history = [PastAttempt(ago(hours=h), "no_answer") for h in (20, 5, 1)]
    v = verdict(history=history)
    assert v.rule == "cap_24h"
    assert v.retry_at == ago(hours=20) + timedelta(hours=24)  # the oldest rolls off
    assert verdict(now=v.retry_at, history=history) == ALLOWED
    assert verdict(now=v.retry_at - timedelta(microseconds=1), history=history).rule == "cap_24h"
    assert verdict(history=history[1:]) == ALLOWED


def test_cap_24h_attempt_exactly_24h_old_no_longer_counts() -> None:
    history = [PastAttempt(ago(hours=24), "busy"), *(PastAttempt(ago(hours=1), "busy"),) * 2]
    assert verdict(history=history) == ALLOWED
    history[0] = PastAttempt(ago(hours=24) + timedelta(microseconds=1), "busy")
    assert verdict(history=history).rule == "cap_24h"


def test_cap_24h_several_over_the_cap() -> None:
    # Five in the window, cap 3: three must roll off before one more call, so the third oldest.
    offsets = (23, 22, 21, 2, 1)
    history = [PastAttempt(ago(hours=h), "connected") for h in offsets]
    v = verdict(history=history)
    assert v.retry_at == ago(hours=21) + timedelta(hours=24)
    assert "dialed 5 times in the last 24 hours (cap 3)" in v.reason


def test_cap_counts_every_result_and_attempts_in_the_future() -> None:
    history = [
        PastAttempt(ago(hours=2), "failed"),
        PastAttempt(ago(hours=1), "congestion"),
        PastAttempt(NOON_NY + timedelta(minutes=5), "dialing"),  # another clock runs ahead
    ]
    v = verdict(history=history)
    assert v.rule == "cap_24h"
    assert v.retry_at == ago(hours=2) + timedelta(hours=24)


def test_no_cap() -> None:
    history = [PastAttempt(ago(minutes=m), "busy") for m in range(10)]
    assert verdict(policy=Policy(hours=None, max_calls_24h=None), history=history) == ALLOWED


def test_cap_30d() -> None:
    policy = Policy(hours=None, max_calls_24h=None, max_calls_30d=4)  # the French rule
    history = [PastAttempt(ago(days=d), "no_answer") for d in (29, 20, 10, 1)]
    v = verdict(policy=policy, history=history)
    assert v.rule == "cap_30d"
    assert v.retry_at == ago(days=29) + timedelta(days=30)
    assert verdict(policy=policy, now=v.retry_at, history=history) == ALLOWED
    history[0] = PastAttempt(ago(days=30), "no_answer")
    assert verdict(policy=policy, history=history) == ALLOWED


def test_cap_24h_comes_before_cap_30d() -> None:
    policy = Policy(hours=None, max_calls_24h=1, max_calls_30d=1)
    history = [PastAttempt(ago(hours=1), "busy")]
    assert rules(policy=policy, history=history) == ["cap_24h", "cap_30d"]


# --- UK mode ----------------------------------------------------------------------------------

UK = Policy(hours=None, max_calls_24h=None, uk_mode=True)


def test_uk_no_repeat_within_72h_of_a_dropped_call() -> None:
    history = [PastAttempt(ago(hours=71, minutes=59), "dropped")]
    v = verdict(policy=UK, history=history)
    assert v.rule == "uk_abandoned_72h"
    assert v.retry_at == ago(hours=71, minutes=59) + timedelta(hours=72)
    assert verdict(policy=UK, now=v.retry_at, history=history) == ALLOWED
    assert verdict(policy=UK, history=[PastAttempt(ago(hours=72), "dropped")]) == ALLOWED


def test_uk_the_last_drop_counts() -> None:
    history = [PastAttempt(ago(hours=h), "dropped") for h in (70, 10, 40)]
    assert verdict(policy=UK, history=history).retry_at == ago(hours=10) + timedelta(hours=72)


def test_uk_no_repeat_within_24h_of_a_machine() -> None:
    v = verdict(policy=UK, history=[PastAttempt(ago(hours=23), "machine")])
    assert v.rule == "uk_machine_24h"
    assert v.retry_at == ago(hours=23) + timedelta(hours=24)
    assert verdict(policy=UK, history=[PastAttempt(ago(hours=24), "machine")]) == ALLOWED


def test_uk_rules_only_in_uk_mode_and_only_for_their_results() -> None:
    history = [PastAttempt(ago(hours=1), "dropped"), PastAttempt(ago(hours=1), "machine")]
    assert verdict(policy=Policy(hours=None, max_calls_24h=None), history=history) == ALLOWED
    others = [PastAttempt(ago(hours=1), r) for r in ("connected", "no_answer", "busy")]
    assert verdict(policy=UK, history=others) == ALLOWED
    assert rules(policy=UK, history=history) == ["uk_abandoned_72h", "uk_machine_24h"]


# --- order, verdicts --------------------------------------------------------------------------


def test_everything_wrong_reports_in_rule_order() -> None:
    holiday = CallingHours.every_day((time(8), time(21)), holidays=frozenset({NOON_NY.date()}))
    policy = Policy(
        hours=holiday,
        max_calls_24h=1,
        max_calls_30d=1,
        uk_mode=True,
        national_dnc_required=True,
    )
    history = [PastAttempt(ago(hours=2), "dropped"), PastAttempt(ago(hours=1), "machine")]
    found = rules(
        policy=policy,
        history=history,
        dnc=DncFacts("forever", True, date(2025, 1, 1)),
        ring_seconds=5,
        abandonment=(0.1, 0.1),
    )
    assert found == [
        "dnc_internal",
        "dnc_national",
        "dnc_national_stale",
        "ring_too_short",
        "abandon_limit",
        "holiday",
        "cap_24h",
        "cap_30d",
        "uk_abandoned_72h",
        "uk_machine_24h",
    ]
    assert [r for r in RULES if r in found] == found
    first = check(
        US_EAST,
        policy,
        now=NOON_NY,
        history=history,
        dnc=DncFacts("forever", True, date(2025, 1, 1)),
        ring_seconds=5,
    )
    assert first.rule == "dnc_internal"


def test_bad_zone_and_missing_list_order() -> None:
    found = rules(
        target=Target("+1", ("Bogus/Zone",), None),
        policy=Policy(hours=None, national_dnc_required=True),
    )
    assert found == ["bad_time_zone", "dnc_national_missing"]
    found = rules(policy=Policy(hours=None), now=local(NY, 2026, 3, 10, 3), ring_seconds=1)
    assert found == ["ring_too_short", "calling_hours"]


def test_allowed_verdict_and_require() -> None:
    v = verdict()
    assert v == ALLOWED
    v.require()
    refused = verdict(dnc=DncFacts("forever", False, None))
    with pytest.raises(CallRefused, match="dnc_internal") as caught:
        refused.require()
    assert caught.value.verdict is refused
    assert refusals(US_EAST, US, now=NOON_NY, history=(), dnc=CLEAR, ring_seconds=20) == ()


def test_final_and_campaign_wide() -> None:
    assert set(RULES) >= NUMBER_RULES | CAMPAIGN_RULES
    assert not NUMBER_RULES & CAMPAIGN_RULES
    forever = verdict(dnc=DncFacts("forever", False, None))
    assert forever.final and not forever.campaign_wide
    dated = verdict(dnc=DncFacts(NOON_NY + timedelta(days=60), False, None))
    assert not dated.final and not dated.campaign_wide
    assert verdict(dnc=DncFacts(None, True, None)).final
    assert verdict(Target("+1", ("Bogus/Zone",), None)).final
    for v in (
        verdict(policy=Policy(hours=None, national_dnc_required=True)),
        verdict(ring_seconds=1),
        verdict(abandonment=(0.5, 0.5)),
    ):
        assert v.campaign_wide and not v.final and v.retry_at is None
    # No opening within the horizon is "unknown", not "never".
    closed = verdict(policy=Policy(hours=CallingHours({})))
    assert closed.retry_at is None and not closed.final and not closed.campaign_wide
    assert not ALLOWED.final and not ALLOWED.campaign_wide


def test_now_in_any_zone_gives_the_same_verdict() -> None:
    for zone in (UTC, NY, LA, PARIS):
        assert verdict(US_BOTH, now=NOON_NY.astimezone(zone)) == ALLOWED
        early = datetime(2026, 3, 10, 12, 30, tzinfo=UTC).astimezone(zone)
        assert verdict(US_BOTH, now=early).retry_at == datetime(2026, 3, 10, 15, tzinfo=UTC)


# --- properties -------------------------------------------------------------------------------

ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/St_Johns",
    "America/Havana",  # DST changes at midnight
    "America/Santiago",  # DST changes at 24:00
    "Europe/London",
    "Europe/Paris",
    "Asia/Beirut",  # DST changes at midnight
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",
    "UTC",
)

# Dates near DST changes in several of those zones.
TRANSITIONS = (
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 9, 6, tzinfo=UTC),
    datetime(2026, 9, 27, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
)

any_moment = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
near_transition = st.builds(
    lambda base, seconds: base + timedelta(seconds=seconds),
    st.sampled_from(TRANSITIONS),
    st.floats(min_value=-3 * 86400, max_value=3 * 86400, allow_nan=False),
)
moments = st.one_of(any_moment, near_transition)
zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=3).map(tuple)


@st.composite
def windows(draw: st.DrawFn, step: int) -> tuple[tuple[time, time], ...]:
    """0-3 windows with ends on a grid of ``step`` seconds (an end at 86400 is END_OF_DAY)."""
    found = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, 86400 // step - 1)) * step
        end = draw(st.integers(start // step + 1, 86400 // step)) * step
        found.append(
            (
                time(start // 3600, start // 60 % 60, start % 60),
                END_OF_DAY if end == 86400 else time(end // 3600, end // 60 % 60, end % 60),
            )
        )
    return tuple(found)


@st.composite
def calling_hours(draw: st.DrawFn, near: datetime, step: int = 1) -> CallingHours:
    kind = draw(st.sampled_from(["default", "fr", "random", "random"]))
    if kind == "default":
        base = CallingHours.default()
    elif kind == "fr":
        base = REGION_HOURS["FR"]
    else:
        base = CallingHours({day: draw(windows(step)) for day in range(7)})
    offsets = draw(st.lists(st.integers(-1, 10), max_size=3))
    holidays = {near.date() + timedelta(days=d) for d in offsets}
    return CallingHours(base.days, base.holidays | holidays)


def open_everywhere(hours: CallingHours, zones: Sequence[str], moment: datetime) -> bool:
    """The rule written out again: in every zone, a non-holiday date and a time in a window."""
    for name in zones:
        there = moment.astimezone(ZoneInfo(name))
        if there.date() in hours.holidays:
            return False
        wall = there.time()
        if not any(
            s <= wall and (wall < e or e == END_OF_DAY) for s, e in hours.days[there.weekday()]
        ):
            return False
    return True


HOURS_RULES = {"holiday", "calling_hours"}
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(st.data(), moments, zone_sets)
def test_allowed_only_inside_a_window_in_every_zone(
    data: st.DataObject, now: datetime, zones: tuple[str, ...]
) -> None:
    hours = data.draw(calling_hours(now))
    now = now.astimezone(data.draw(st.sampled_from([UTC, NY, PARIS])))
    v = verdict(Target("+1", zones, None), Policy(hours=hours), now=now)
    assert v.allowed == open_everywhere(hours, zones, now)
    if not v.allowed:
        assert v.rule in HOURS_RULES


@SLOW
@given(st.data(), moments, zone_sets)
def test_hours_retry_at_is_the_first_common_opening(
    data: st.DataObject, now: datetime, zones: tuple[str, ...]
) -> None:
    hours = data.draw(calling_hours(now))
    target, policy = Target("+1", zones, None), Policy(hours=hours)
    v = verdict(target, policy, now=now)
    if v.allowed or v.retry_at is None:
        return
    assert v.retry_at > now and v.retry_at.tzinfo is UTC
    assert v.retry_at <= now + OPENING_HORIZON
    assert verdict(target, policy, now=v.retry_at) == ALLOWED
    # Nothing earlier: just before it, and anywhere between now and it, stays closed.
    assert not open_everywhere(hours, zones, v.retry_at - timedelta(microseconds=1))
    for share in data.draw(st.lists(st.floats(0, 1), max_size=5)):
        between = now + (v.retry_at - now) * share
        if between < v.retry_at:
            assert not open_everywhere(hours, zones, between)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), moments, zone_sets)
def test_hours_retry_at_matches_a_brute_force_scan(
    data: st.DataObject, now: datetime, zones: tuple[str, ...]
) -> None:
    """With windows on quarter hours every opening falls on a UTC quarter hour (every zone
    here is offset, and changes, by whole quarter hours), so scanning them is exact."""
    hours = data.draw(calling_hours(now, step=900))
    v = verdict(Target("+1", zones, None), Policy(hours=hours), now=now)
    if v.allowed:
        return
    quarter = timedelta(minutes=15)
    moment = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) + quarter
    expected = None
    while moment <= now + OPENING_HORIZON:
        if open_everywhere(hours, zones, moment):
            expected = moment
            break
        moment += quarter
    assert v.retry_at == expected


LEGAL_TARGETS = (
    Target("+12125550100", ("America/New_York",), "US"),
    Target("+12125550100", ("America/New_York", "America/Los_Angeles"), "US"),
    Target("+14165550100", ("America/Toronto",), "CA"),
    Target("+33140000000", ("Europe/Paris",), "FR"),
    Target("+33140000000", ("Europe/Paris",), None),  # placed by its number
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), moments, st.sampled_from(LEGAL_TARGETS))
def test_campaign_hours_only_narrow_the_law(
    data: st.DataObject, now: datetime, target: Target
) -> None:
    """Allowed exactly when both the campaign and the law allow, in every zone; the retry is
    the first quarter hour both allow (windows on quarter hours, as in the scan above)."""
    campaign = data.draw(calling_hours(now, step=900))
    legal = REGION_HOURS[target.region or "FR"]
    zones = target.time_zones

    def both(moment: datetime) -> bool:
        return open_everywhere(campaign, zones, moment) and open_everywhere(legal, zones, moment)

    v = verdict(target, Policy(hours=campaign, max_calls_24h=None), now=now)
    assert v.allowed == both(now)
    if v.allowed:
        return
    assert v.rule in HOURS_RULES
    quarter = timedelta(minutes=15)
    moment = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) + quarter
    expected = None
    while moment <= now + OPENING_HORIZON:
        if both(moment):
            expected = moment
            break
        moment += quarter
    assert v.retry_at == expected


@SLOW
@given(st.data(), moments, st.sampled_from(ZONES))
def test_next_opening_in_one_zone(data: st.DataObject, now: datetime, zone_name: str) -> None:
    hours = data.draw(calling_hours(now))
    there = now.astimezone(ZoneInfo(zone_name))
    opening = hours.next_opening(there)
    if opening is None:
        return
    # Same-zone datetimes compare by wall clock (fold ignored): compare instants in UTC.
    assert opening.astimezone(UTC) >= now and opening.tzinfo is there.tzinfo
    assert hours.allows(opening)
    if opening is not there:
        just_before = opening.astimezone(UTC) - timedelta(microseconds=1)
        assert not hours.allows(just_before.astimezone(there.tzinfo))


attempt_results = st.sampled_from(["connected", "dropped", "machine", "no_answer", "busy"])


@SLOW
@given(
    st.lists(
        st.tuples(st.integers(-40 * 86400, 3600), attempt_results),
        max_size=10,
    ),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 8)),
    st.booleans(),
)
def test_caps_and_uk_retry_at_passes_the_same_rule(
    offsets: list[tuple[int, str]], cap_24h: int, cap_30d: int | None, uk_mode: bool
) -> None:
    history = [PastAttempt(NOON_NY + timedelta(seconds=s), r) for s, r in offsets]
    policy = Policy(hours=ALL_DAY, max_calls_24h=cap_24h, max_calls_30d=cap_30d, uk_mode=uk_mode)
    for refusal in refusals(
        US_EAST, policy, now=NOON_NY, history=history, dnc=CLEAR, ring_seconds=20
    ):
        assert refusal.rule in {"cap_24h", "cap_30d", "uk_abandoned_72h", "uk_machine_24h"}
        assert refusal.retry_at is not None and refusal.retry_at > NOON_NY
        assert refusal.rule not in rules(policy=policy, now=refusal.retry_at, history=history)
        before = refusal.retry_at - timedelta(microseconds=1)
        assert refusal.rule in rules(policy=policy, now=before, history=history)


@SLOW
@given(st.integers(-2 * 86400 * 10**6, 2 * 86400 * 10**6), moments)
def test_dnc_expiry_retry_at(offset_us: int, now: datetime) -> None:
    until = now + timedelta(microseconds=offset_us)
    policy = Policy(hours=ALL_DAY)
    target = Target("+1", ("UTC",), None)
    v = verdict(target, policy, now=now, dnc=DncFacts(until, False, None))
    if until <= now:
        assert v == ALLOWED
    else:
        assert v.rule == "dnc_internal" and v.retry_at == until
        assert verdict(target, policy, now=until, dnc=DncFacts(until, False, None)) == ALLOWED


@SLOW
@given(st.data(), any_moment)
def test_json_round_trip(data: st.DataObject, near: datetime) -> None:
    hours = data.draw(calling_hours(near))
    assert CallingHours.from_json(hours.to_json()) == hours
    assert hash(CallingHours.from_json(hours.to_json())) == hash(hours)
