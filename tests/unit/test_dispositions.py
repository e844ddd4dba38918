"""Outcome codes without Asterisk: the platform's code for each way a call ends, the actions a
code triggers (with ids that make a repeat harmless), and who may set what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.calls.dispositions import (
    US_DNC_DAYS,
    DispositionError,
    check_agent_may_set,
    dnc_warnings,
    parse_action_text,
    parse_actions,
    plan_actions,
    system_code,
)
from callcenter.calls.record import CallRecord
from callcenter.outbound.compliance import DncFacts, Policy, Target, check

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
US_NUMBER = "+12125550100"
CA_NUMBER = "+14165550100"
FR_NUMBER = "+33140000000"


def record(**values: object) -> CallRecord:
    call = CallRecord(node_id="n", channel_id="c", direction="inbound", arrived_at=T0)
    for key, value in values.items():
        setattr(call, key, value)
    return call


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"agent": "ann", "queue_exit": "connected", "answered_at": T0}, "answered"),
        ({"queue_exit": "abandoned", "answered_at": T0}, "abandoned"),
        ({"queue_exit": "timeout", "answered_at": T0}, "queue_timeout"),
        ({"queue_exit": "full", "answered_at": T0}, "no_agent"),
        ({"queue_exit": "joinempty", "answered_at": T0}, "no_agent"),
        ({"queue_exit": "leaveempty", "answered_at": T0}, "no_agent"),
        ({"queue_exit": "exitkey", "answered_at": T0}, "exit_key"),
        ({"queue_exit": "callback", "answered_at": T0}, "callback_requested"),
        ({"answered_at": T0}, "ivr_completed"),
        ({}, "abandoned"),  # hung up before the system answered
        ({"outcome": "lost", "answered_at": T0}, "interrupted"),
        ({"outcome": "interrupted", "agent": "ann"}, "interrupted"),
        ({"direction": "outbound", "hangup_cause": 17}, "busy"),
        ({"direction": "outbound", "hangup_cause": 19}, "no_answer"),
        ({"direction": "outbound", "hangup_cause": 34}, "congestion"),
        ({"direction": "outbound", "hangup_cause": 1}, "failed"),
        ({"direction": "outbound", "hangup_cause": None}, "failed"),
        ({"direction": "outbound", "answered_at": T0, "agent": "ann"}, "answered"),
    ],
)
def test_every_way_a_call_ends_has_its_system_code(values: dict[str, object], code: str) -> None:
    assert system_code(record(**values)) == code


def test_actions_are_planned_with_ids_that_repeat() -> None:
    disposition = uuid.uuid4()
    actions = [{"do": "dnc", "days": 30}, {"do": "callback", "in_minutes": 60}]
    # (A French number: a +1 number's do-not-call entry lasts 5 years, see below.)
    first = plan_actions(
        disposition, actions, number=FR_NUMBER, now=T0, callback_at=None, has_lead=False
    )
    again = plan_actions(
        disposition, actions, number=FR_NUMBER, now=T0, callback_at=None, has_lead=False
    )
    assert [a.uid for a in first] == [a.uid for a in again]
    assert len({a.uid for a in first}) == 2
    dnc, callback = first
    assert dnc.kind == "dnc" and dnc.detail["expires_at"] == T0 + timedelta(days=30)
    assert callback.kind == "callback" and callback.detail["due_at"] == T0 + timedelta(hours=1)


def test_the_agents_callback_time_wins_and_for_good_means_no_expiry() -> None:
    at = T0 + timedelta(days=2)
    dnc, callback = plan_actions(
        uuid.uuid4(),
        [{"do": "dnc"}, {"do": "callback"}],
        number="+15550100",
        now=T0,
        callback_at=at,
        has_lead=False,
    )
    assert dnc.detail["expires_at"] is None
    assert callback.detail["due_at"] == at


def test_lead_actions_on_a_call_without_a_lead_are_skipped_with_the_reason() -> None:
    planned = plan_actions(
        uuid.uuid4(),
        [{"do": "retry", "in_minutes": 5}, {"do": "close_lead"}, {"do": "dnc", "days": 1}],
        number=None,
        now=T0,
        callback_at=None,
        has_lead=False,
    )
    assert [(a.kind, a.detail.get("why")) for a in planned] == [
        ("skipped", "the call has no lead"),
        ("skipped", "the call has no lead"),
        ("skipped", "no number"),
    ]
    retry, close = plan_actions(
        uuid.uuid4(),
        [{"do": "retry", "in_minutes": 5}, {"do": "close_lead"}],
        number="+1555",
        now=T0,
        callback_at=None,
        has_lead=True,
    )
    assert retry.kind == "retry" and retry.detail["due_at"] == T0 + timedelta(minutes=5)
    assert close.kind == "close_lead"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dnc", {"do": "dnc", "days": None, "list": "internal"}),
        ("dnc:30", {"do": "dnc", "days": 30, "list": "internal"}),
        ("callback:15", {"do": "callback", "in_minutes": 15, "queue": None}),
        ("retry:120", {"do": "retry", "in_minutes": 120}),
        ("close_lead", {"do": "close_lead"}),
    ],
)
def test_the_clis_short_form(text: str, expected: dict[str, object]) -> None:
    assert parse_action_text(text).model_dump() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("call", "unknown action 'call'"),
        ("dnc:soon", "must be a number"),
        ("dnc:0", "greater than 0"),
        ("retry", "needs a delay"),
        ("close_lead:3", "takes no number"),
    ],
)
def test_bad_actions_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(DispositionError, match=message):
        parse_action_text(text)


def test_bad_actions_in_the_catalogue_are_refused() -> None:
    with pytest.raises(DispositionError, match="action 0"):
        parse_actions([{"do": "dnc", "days": -1}])
    with pytest.raises(DispositionError):
        parse_actions([{"do": "dnc", "extra": 1}])


def test_who_may_set_what() -> None:
    ok = {"call_agents": {"ann"}, "code": "sold", "allowed_set": "sales", "known_in": ["sales"]}
    check_agent_may_set(agent="ann", code_set="sales", **ok)  # type: ignore[arg-type]
    with pytest.raises(DispositionError, match="not bob's"):
        check_agent_may_set(agent="bob", code_set="sales", **ok)  # type: ignore[arg-type]
    with pytest.raises(DispositionError, match="belongs to other"):
        check_agent_may_set(
            agent="ann",
            call_agents={"ann"},
            code="x",
            code_set=None,
            allowed_set="sales",
            known_in=["other"],
        )
    with pytest.raises(DispositionError, match="unknown code 'y'"):
        check_agent_may_set(
            agent="ann",
            call_agents={"ann"},
            code="y",
            code_set=None,
            allowed_set="sales",
            known_in=[],
        )
    with pytest.raises(DispositionError, match="no disposition set"):
        check_agent_may_set(
            agent="ann", call_agents={"ann"}, code="y", code_set=None, allowed_set=None,
            known_in=[],
        )  # fmt: skip


# --- a company do-not-call request from a US number lasts 5 years (47 CFR 64.1200(d)(6)) ------


def dnc_expiry(number: str, days: int | None, now: datetime = T0) -> datetime | None:
    (action,) = plan_actions(
        uuid.uuid4(),
        [{"do": "dnc", "days": days}],
        number=number,
        now=now,
        callback_at=None,
        has_lead=False,
    )
    assert action.kind == "dnc"
    expires = action.detail["expires_at"]
    assert expires is None or isinstance(expires, datetime)
    return expires


def on_the_list(number: str, zone: str, until: datetime | None, at: datetime) -> bool:
    """What the dialer's gate says at ``at`` (an injected clock) about an entry until then."""
    verdict = check(
        Target(number, (zone,), None),
        Policy(hours=None, max_calls_24h=None),
        now=at,
        history=(),
        dnc=DncFacts(internal_until=until, national_listed=False, national_data_date=None),
        ring_seconds=20,
    )
    return verdict.rule == "dnc_internal"


def test_a_us_number_coded_dnc_30_stays_listed_for_five_years() -> None:
    assert US_DNC_DAYS == 5 * 365 + 1
    until = dnc_expiry(US_NUMBER, 30)
    assert until == datetime(2031, 11, 22, 12, 0, tzinfo=UTC)  # 1826 days: one leap day
    assert until is not None and until - T0 == timedelta(days=US_DNC_DAYS)
    zone = "America/New_York"
    # (Moments at 17:00 UTC, inside the calling hours, so only the list can refuse.)
    noonish = timedelta(hours=5)
    assert on_the_list(US_NUMBER, zone, until, T0 + timedelta(days=30) + noonish)
    assert on_the_list(US_NUMBER, zone, until, T0 + timedelta(days=31) + noonish)
    assert on_the_list(US_NUMBER, zone, until, T0.replace(year=2030) + noonish)  # 4 years
    assert on_the_list(US_NUMBER, zone, until, until - timedelta(seconds=1))
    assert not on_the_list(US_NUMBER, zone, until, until)
    five_years_and_a_day = T0.replace(year=2031) + timedelta(days=1) + noonish
    assert not on_the_list(US_NUMBER, zone, until, five_years_and_a_day)


def test_a_french_number_coded_dnc_30_leaves_the_list_after_30_days() -> None:
    until = dnc_expiry(FR_NUMBER, 30)
    assert until == T0 + timedelta(days=30)
    zone = "Europe/Paris"
    # 2026-12-21 and 2026-12-22 are a Monday and a Tuesday; 10:00 UTC is 11:00 in Paris.
    assert on_the_list(FR_NUMBER, zone, until, datetime(2026, 12, 21, 10, tzinfo=UTC))
    assert not on_the_list(FR_NUMBER, zone, until, datetime(2026, 12, 22, 12, tzinfo=UTC))
    assert not on_the_list(FR_NUMBER, zone, until, datetime(2026, 12, 22, 13, tzinfo=UTC))


@pytest.mark.parametrize(
    "number", [US_NUMBER, CA_NUMBER, "+17875550100", "+18765550100", "+15550100"]
)
def test_every_plus_one_number_gets_the_floor(number: str) -> None:
    """US, Canada, Puerto Rico, Jamaica (NANP), and a +1 number phonenumbers cannot place."""
    until = dnc_expiry(number, 1)
    assert until is not None and until - T0 >= timedelta(days=US_DNC_DAYS)


@pytest.mark.parametrize("number", [FR_NUMBER, "+442071234567", "+4930123456", "1234"])
def test_other_numbers_keep_the_codes_days(number: str) -> None:
    assert dnc_expiry(number, 30) == T0 + timedelta(days=30)


def test_the_floor_never_shortens_and_is_recorded() -> None:
    assert dnc_expiry(US_NUMBER, None) is None  # for good stays for good
    assert dnc_expiry(US_NUMBER, 3000) == T0 + timedelta(days=3000)
    assert dnc_expiry(US_NUMBER, US_DNC_DAYS) == T0 + timedelta(days=US_DNC_DAYS)
    (action,) = plan_actions(
        uuid.uuid4(), [{"do": "dnc", "days": 30}], number=US_NUMBER, now=T0,
        callback_at=None, has_lead=False,
    )  # fmt: skip
    assert action.detail["asked_days"] == 30
    assert "64.1200(d)(6)" in action.detail["law"]
    (plain,) = plan_actions(
        uuid.uuid4(), [{"do": "dnc", "days": 30}], number=FR_NUMBER, now=T0,
        callback_at=None, has_lead=False,
    )  # fmt: skip
    assert "asked_days" not in plain.detail and "law" not in plain.detail


def test_five_calendar_years_when_they_hold_two_leap_days() -> None:
    # 2027-03-01 to 2032-03-01 holds 29 February 2028 and 2032: 1827 days.
    start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    assert dnc_expiry(US_NUMBER, 30, start) == datetime(2032, 3, 1, 9, 0, tzinfo=UTC)
    # From a 29 February: to 1 March five years on.
    leap = datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
    assert dnc_expiry(US_NUMBER, 30, leap) == datetime(2033, 3, 1, 9, 0, tzinfo=UTC)


def test_defining_a_short_dnc_code_warns_about_us_numbers() -> None:
    (warning,) = dnc_warnings([parse_action_text("dnc:30").model_dump()])
    assert "5 years" in warning and "dnc:30" in warning and "64.1200(d)(6)" in warning
    assert dnc_warnings([{"do": "dnc", "days": 1825}])
    assert dnc_warnings([{"do": "dnc", "days": US_DNC_DAYS}]) == []
    assert dnc_warnings([{"do": "dnc"}, {"do": "callback", "in_minutes": 5}]) == []
    assert dnc_warnings([]) == []
