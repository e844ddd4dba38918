"""Outcome codes without Asterisk: the platform's code for each way a call ends, the actions a
code triggers (with ids that make a repeat harmless), and who may set what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.calls.dispositions import (
    DispositionError,
    check_agent_may_set,
    parse_action_text,
    parse_actions,
    plan_actions,
    system_code,
)
from switchboard.calls.record import CallRecord

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


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
    first = plan_actions(
        disposition, actions, number="+15550100", now=T0, callback_at=None, has_lead=False
    )
    again = plan_actions(
        disposition, actions, number="+15550100", now=T0, callback_at=None, has_lead=False
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
