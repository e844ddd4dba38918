"""A campaign's calling hours narrow the law, never widen it: the hours that apply to a number
are the campaign's hours intersected with the legal hours of the callee's country (with that
country's public holidays), read on the callee's wall clock. The clock is injected (``now``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.outbound.compliance import (
    END_OF_DAY,
    LEGAL_HOURS,
    REGION_HOURS,
    CallingHours,
    DncFacts,
    Policy,
    Target,
    Verdict,
    check,
    hours_for,
)

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
TORONTO = ZoneInfo("America/Toronto")
LONDON = ZoneInfo("Europe/London")
SAN_JUAN = ZoneInfo("America/Puerto_Rico")

US_NUMBER = Target("+12125550100", ("America/New_York",), "US")
FR_NUMBER = Target("+33140000000", ("Europe/Paris",), "FR")

# The operator's `--hours mon=07:00-23:00` (the other days left at 08:00-21:00) ...
MONDAY_LATE = CallingHours.from_json({"days": {"mon": [["07:00", "23:00"]]}})
# ... and the same every day, so that any weekday or weekend test sees the widest campaign.
EVERY_DAY_LATE = CallingHours.every_day((time(7), time(23)))
OFFICE = CallingHours.every_day((time(9), time(17)))  # stricter than the law


def at(target: Target, hours: CallingHours | None, now: datetime) -> Verdict:
    return check(
        target,
        Policy(hours=hours, max_calls_24h=None),
        now=now,
        history=(),
        dnc=DncFacts.clear(),
        ring_seconds=20,
    )


def local(zone: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone)


# --- US: 08:00-21:00 callee local time (47 CFR 64.1200(c)(1)) ----------------------------------


@pytest.mark.parametrize("hours", [MONDAY_LATE, EVERY_DAY_LATE], ids=["mon-only", "every-day"])
@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(7, 15, False), (7, 59, False), (8, 0, True), (20, 59, True), (21, 0, False), (22, 30, False)],
)
def test_a_wide_campaign_cannot_call_new_york_outside_08_21(
    hours: CallingHours, hour: int, minute: int, allowed: bool
) -> None:
    now = local(NY, 2026, 3, 9, hour, minute)  # a Monday
    v = at(US_NUMBER, hours, now)
    assert v.allowed is allowed, v
    if not allowed:
        assert v.rule == "calling_hours"


def test_the_refusal_waits_for_the_legal_opening_not_the_campaigns() -> None:
    v = at(US_NUMBER, EVERY_DAY_LATE, local(NY, 2026, 3, 9, 22, 30))
    assert v.retry_at == local(NY, 2026, 3, 10, 8, 0).astimezone(UTC)
    v = at(US_NUMBER, EVERY_DAY_LATE, local(NY, 2026, 3, 9, 7, 15))
    assert v.retry_at == local(NY, 2026, 3, 9, 8, 0).astimezone(UTC)
    assert at(US_NUMBER, EVERY_DAY_LATE, v.retry_at).allowed


def test_a_campaign_stricter_than_the_law_keeps_its_own_hours() -> None:
    v = at(US_NUMBER, OFFICE, local(NY, 2026, 3, 9, 8, 30))
    assert (v.allowed, v.rule) == (False, "calling_hours")
    assert v.retry_at == local(NY, 2026, 3, 9, 9, 0).astimezone(UTC)
    assert at(US_NUMBER, OFFICE, local(NY, 2026, 3, 9, 9, 0)).allowed
    assert at(US_NUMBER, OFFICE, local(NY, 2026, 3, 9, 16, 59)).allowed
    assert not at(US_NUMBER, OFFICE, local(NY, 2026, 3, 9, 17, 0)).allowed


@pytest.mark.parametrize(
    ("day", "opening_utc"),
    [
        (date(2026, 3, 8), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),  # spring forward: EDT
        (date(2026, 11, 1), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),  # fall back: EST
    ],
)
def test_08_00_local_is_the_boundary_on_dst_change_days(day: date, opening_utc: datetime) -> None:
    for hours in (None, EVERY_DAY_LATE):
        eight = datetime.combine(day, time(8), tzinfo=NY)
        assert eight.astimezone(UTC) == opening_utc
        assert at(US_NUMBER, hours, eight).allowed
        before = at(US_NUMBER, hours, opening_utc - timedelta(seconds=1))  # 07:59:59 local
        assert (before.allowed, before.rule) == (False, "calling_hours")
        assert before.retry_at == opening_utc
        # 07:30 local that day, whichever offset the day began with.
        assert not at(US_NUMBER, hours, opening_utc - timedelta(minutes=30)).allowed
        # The same UTC instant read with the other offset would be 08:30 or 06:30; only the
        # callee's actual wall clock counts.
        early = datetime.combine(day, time(7, 30), tzinfo=NY)
        assert not at(US_NUMBER, hours, early).allowed
    # And 21:00 local closes, also on those days.
    nine = datetime.combine(day, time(21), tzinfo=NY)
    assert at(US_NUMBER, EVERY_DAY_LATE, nine - timedelta(seconds=1)).allowed
    assert not at(US_NUMBER, EVERY_DAY_LATE, nine).allowed


def test_us_territories_keep_the_federal_window() -> None:
    target = Target("+17875550100", ("America/Puerto_Rico",), "PR")
    assert not at(target, EVERY_DAY_LATE, local(SAN_JUAN, 2026, 3, 9, 7, 30)).allowed
    assert at(target, EVERY_DAY_LATE, local(SAN_JUAN, 2026, 3, 9, 8, 30)).allowed


# --- France: Mon-Fri 10:00-13:00 and 14:00-20:00, no public holidays (décret 2022-1313) -------


@pytest.mark.parametrize(
    ("moment", "allowed", "rule"),
    [
        (local(PARIS, 2026, 3, 9, 13, 30), False, "calling_hours"),  # the lunch break
        (local(PARIS, 2026, 3, 9, 10, 30), True, ""),
        (local(PARIS, 2026, 3, 9, 9, 30), False, "calling_hours"),
        (local(PARIS, 2026, 3, 9, 20, 30), False, "calling_hours"),
        (local(PARIS, 2026, 11, 11, 10, 30), False, "holiday"),  # Armistice, a Wednesday
        (local(PARIS, 2026, 3, 14, 10, 30), False, "calling_hours"),  # a Saturday
        (local(PARIS, 2026, 3, 15, 10, 30), False, "calling_hours"),  # a Sunday
    ],
)
def test_a_wide_campaign_cannot_call_france_outside_the_legal_hours(
    moment: datetime, allowed: bool, rule: str
) -> None:
    for hours in (MONDAY_LATE, EVERY_DAY_LATE):
        if hours is MONDAY_LATE and moment.weekday() != 0:
            continue
        v = at(FR_NUMBER, hours, moment)
        assert (v.allowed, v.rule) == (allowed, rule), (hours, v)


def test_france_retry_at_is_the_next_legal_opening() -> None:
    v = at(FR_NUMBER, EVERY_DAY_LATE, local(PARIS, 2026, 3, 9, 13, 30))
    assert v.retry_at == local(PARIS, 2026, 3, 9, 14, 0).astimezone(UTC)
    v = at(FR_NUMBER, EVERY_DAY_LATE, local(PARIS, 2026, 11, 11, 10, 30))
    assert v.retry_at == local(PARIS, 2026, 11, 12, 10, 0).astimezone(UTC)
    v = at(FR_NUMBER, EVERY_DAY_LATE, local(PARIS, 2026, 3, 14, 10, 30))  # Saturday
    assert v.retry_at == local(PARIS, 2026, 3, 16, 10, 0).astimezone(UTC)


def test_a_campaign_holiday_adds_to_the_countrys() -> None:
    mine = CallingHours.every_day((time(7), time(23)), holidays=frozenset({date(2026, 3, 10)}))
    assert at(FR_NUMBER, mine, local(PARIS, 2026, 3, 10, 11, 0)).rule == "holiday"
    assert at(FR_NUMBER, mine, local(PARIS, 2026, 11, 11, 11, 0)).rule == "holiday"
    assert at(FR_NUMBER, mine, local(PARIS, 2026, 3, 11, 11, 0)).allowed


# --- Canada (CRTC): weekdays 09:00-21:30, weekends 10:00-18:00 ---------------------------------


def test_a_wide_campaign_cannot_call_canada_outside_the_crtc_hours() -> None:
    target = Target("+14165550100", ("America/Toronto",), "CA")
    assert not at(target, EVERY_DAY_LATE, local(TORONTO, 2026, 3, 9, 8, 30)).allowed
    assert at(target, EVERY_DAY_LATE, local(TORONTO, 2026, 3, 9, 21, 15)).allowed
    assert not at(target, EVERY_DAY_LATE, local(TORONTO, 2026, 3, 14, 19, 0)).allowed  # Sat
    assert at(target, EVERY_DAY_LATE, local(TORONTO, 2026, 3, 14, 17, 0)).allowed


# --- which hours apply -------------------------------------------------------------------------


def test_hours_for_is_the_intersection() -> None:
    us = hours_for(Policy(hours=EVERY_DAY_LATE), "US")
    assert us == CallingHours.every_day((time(8), time(21)))
    fr = hours_for(Policy(hours=EVERY_DAY_LATE), "fr")
    assert fr.days == REGION_HOURS["FR"].days and fr.holidays == REGION_HOURS["FR"].holidays
    office = hours_for(Policy(hours=OFFICE), "US")
    assert office == OFFICE
    # A split campaign day against the French split day.
    split = CallingHours.every_day((time(9), time(10, 30)), (time(12), time(15)))
    assert hours_for(Policy(hours=split), "FR").days[0] == (
        (time(10), time(10, 30)),
        (time(12), time(13)),
        (time(14), time(15)),
    )
    assert hours_for(Policy(hours=split), "FR").days[5] == ()
    # Whole days run to the end of the legal window.
    all_day = CallingHours.every_day((time(0), END_OF_DAY))
    assert hours_for(Policy(hours=all_day), "US") == REGION_HOURS["US"]


def test_a_campaign_without_hours_gets_the_legal_hours() -> None:
    assert hours_for(Policy(hours=None), "US") is REGION_HOURS["US"]
    assert hours_for(Policy(hours=None), "FR") is REGION_HOURS["FR"]
    assert hours_for(Policy(hours=None), "CA") is REGION_HOURS["CA"]


def test_a_country_without_a_legal_rule() -> None:
    # No law on hours known: the campaign's hours if it has some ...
    assert "GB" not in LEGAL_HOURS and "DE" not in LEGAL_HOURS
    assert hours_for(Policy(hours=EVERY_DAY_LATE), "GB") is EVERY_DAY_LATE
    assert hours_for(Policy(hours=EVERY_DAY_LATE), "DE") is EVERY_DAY_LATE
    gb = Target("+442071234567", ("Europe/London",), "GB")
    assert at(gb, EVERY_DAY_LATE, local(LONDON, 2026, 3, 9, 7, 30)).allowed
    # ... else, as before, 08:00-21:00 every day.
    assert hours_for(Policy(hours=None), "DE") == CallingHours.default()
    assert hours_for(Policy(hours=None), "GB") == CallingHours.default()
    assert hours_for(Policy(hours=None), None) == CallingHours.default()
    assert not at(gb, None, local(LONDON, 2026, 3, 9, 7, 30)).allowed


def test_a_lead_without_a_region_is_placed_by_its_number() -> None:
    unplaced_us = Target("+12125550100", ("America/New_York",), None)
    assert not at(unplaced_us, EVERY_DAY_LATE, local(NY, 2026, 3, 9, 7, 30)).allowed
    unplaced_fr = Target("+33140000000", ("Europe/Paris",), None)
    assert not at(unplaced_fr, EVERY_DAY_LATE, local(PARIS, 2026, 3, 9, 13, 30)).allowed
    # Not a number anyone can place: the campaign's hours.
    nowhere = Target("+1", ("America/New_York",), None)
    assert at(nowhere, EVERY_DAY_LATE, local(NY, 2026, 3, 9, 7, 30)).allowed


def test_a_legal_window_cannot_be_changed_from_outside() -> None:
    with pytest.raises(TypeError):
        LEGAL_HOURS["US"] = EVERY_DAY_LATE  # type: ignore[index]
