"""Asterisk queue_log lines from our events, without a database: every event type's fields,
and data that would break the format ('|', line breaks, control characters) made harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from callcenter.calls.queue_log import (
    AGENT_EVENTS,
    CALL_EVENTS,
    agent_event_line,
    call_event_fields,
    call_event_line,
    clean,
    epoch,
    format_line,
    whole,
)

T0 = datetime(2001, 9, 9, 1, 46, 40, 750000, tzinfo=UTC)  # epoch 1000000000.75


def line(kind: str, **data: Any) -> str | None:
    return call_event_line(T0, "1700000000.42", kind, data, caller_number="+15551234567")


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        (
            "ENTERQUEUE",
            {"queue": "sales", "position": 2, "priority": 0},
            "1000000000|1700000000.42|sales|NONE|ENTERQUEUE||+15551234567|2",
        ),
        (
            "CONNECT",
            {
                "queue": "sales",
                "agent": "alice",
                "holdtime": 12.6,
                "ringtime_ms": 3400,
                "channel": "c1-alice-1",
            },
            "1000000000|1700000000.42|sales|alice|CONNECT|13|c1-alice-1|3",
        ),
        (
            "RINGNOANSWER",
            {"queue": "sales", "agent": "bob", "ringtime_ms": 15012, "cause": 19},
            "1000000000|1700000000.42|sales|bob|RINGNOANSWER|15012",
        ),
        (
            "RINGCANCELED",
            {"queue": "sales", "agent": "bob", "ringtime_ms": 800},
            "1000000000|1700000000.42|sales|bob|RINGCANCELED|800",
        ),
        (
            "COMPLETECALLER",
            {"queue": "sales", "agent": "alice", "holdtime": 12.4, "calltime": 61.5, "origpos": 2},
            "1000000000|1700000000.42|sales|alice|COMPLETECALLER|12|62|2",
        ),
        (
            "COMPLETEAGENT",
            {"queue": "sales", "agent": "alice", "holdtime": 3, "calltime": 30.2, "origpos": 1},
            "1000000000|1700000000.42|sales|alice|COMPLETEAGENT|3|30|1",
        ),
        (
            "BLINDTRANSFER",
            {
                "target": "queue:support",
                "queue": "sales",
                "agent": "alice",
                "holdtime": 5,
                "calltime": 20,
                "origpos": 1,
            },
            "1000000000|1700000000.42|sales|alice|BLINDTRANSFER|support|queue|5|20|1",
        ),
        (
            "ATTENDEDTRANSFER",
            {
                "target": "agent:bob",
                "queue": "sales",
                "agent": "alice",
                "holdtime": 5,
                "calltime": 40,
                "origpos": 1,
            },
            "1000000000|1700000000.42|sales|alice|ATTENDEDTRANSFER|BRIDGE|agent:bob|5|40|1",
        ),
        (
            "ABANDON",
            {"queue": "sales", "position": 1, "origpos": 3, "waittime": 45.2},
            "1000000000|1700000000.42|sales|NONE|ABANDON|1|3|45",
        ),
        (
            "EXITWITHTIMEOUT",
            {"queue": "sales", "position": 2, "origpos": 2, "waittime": 120.0},
            "1000000000|1700000000.42|sales|NONE|EXITWITHTIMEOUT|2|2|120",
        ),
        (
            "EXITEMPTY",
            {"queue": "sales", "position": 1, "origpos": 1, "waittime": 7.5},
            "1000000000|1700000000.42|sales|NONE|EXITEMPTY|1|1|8",
        ),
        (
            "EXITWITHKEY",
            {"queue": "sales", "position": 1, "origpos": 2, "waittime": 9, "key": "9"},
            "1000000000|1700000000.42|sales|NONE|EXITWITHKEY|9|1|2|9",
        ),
        (
            "CALLERONHOLD",
            {"queue": "sales", "agent": "alice"},
            "1000000000|1700000000.42|sales|alice|CALLERONHOLD|",
        ),
        (
            "CALLEROFFHOLD",
            {"queue": "sales", "agent": "alice", "held": 14.2},
            "1000000000|1700000000.42|sales|alice|CALLEROFFHOLD|14",
        ),
    ],
)
def test_each_call_event_has_asterisks_fields(
    kind: str, data: dict[str, Any], expected: str
) -> None:
    assert line(kind, **data) == expected


def test_every_exported_type_is_formatted() -> None:
    for kind in CALL_EVENTS:
        assert call_event_fields(kind, {}) is not None, kind
    for kind in AGENT_EVENTS:
        assert agent_event_line(T0, "alice", kind) is not None, kind


def test_events_without_a_queue_log_counterpart_give_no_line() -> None:
    for kind in ("ARRIVE", "DTMF", "RINGING", "ANNOUNCE", "CALLBACK", "HANGUP", "IVR_INPUT"):
        assert line(kind, queue="sales") is None
    assert agent_event_line(T0, "alice", "RINGING") is None
    assert agent_event_line(T0, "alice", "WRAPUPEND") is None


def test_a_supervisor_not_answering_is_not_a_missed_queue_offer() -> None:
    assert line("RINGNOANSWER", agent="boss", supervisor=True, ringtime_ms=30000) is None


def test_the_calls_queue_stands_in_when_the_event_names_none() -> None:
    got = call_event_line(
        T0, "c1", "RINGNOANSWER", {"agent": "bob", "ringtime_ms": 10}, call_queue="support"
    )
    assert got == "1000000000|c1|support|bob|RINGNOANSWER|10"
    assert call_event_line(T0, "c1", "RINGCANCELED", {}) == "1000000000|c1|NONE|NONE|RINGCANCELED|0"


def test_missing_or_odd_numbers_are_zero() -> None:
    assert (
        line("COMPLETECALLER", queue="q", agent="a")
        == "1000000000|1700000000.42|q|a|COMPLETECALLER|0|0|0"
    )
    assert whole(None) == "0"
    assert whole("x") == "0"
    assert whole(float("nan")) == "0"
    assert whole(True) == "0"
    assert whole(-3) == "0"
    assert whole("2.5") == "3"
    assert whole(1499, 0.001) == "1"
    assert whole(1500, 0.001) == "2"


def test_a_blind_transfer_to_a_bare_target() -> None:
    fields = call_event_fields("BLINDTRANSFER", {"target": "1234", "holdtime": 1, "calltime": 2})
    assert fields == ["1234", "", "1", "2", "0"]


def test_agent_events() -> None:
    assert agent_event_line(T0, "alice", "AGENTLOGIN") == (
        "1000000000|NONE|NONE|alice|AGENTLOGIN|PJSIP/alice"
    )
    assert agent_event_line(T0, "alice", "AGENTLOGOFF", logintime=3600.4) == (
        "1000000000|NONE|NONE|alice|AGENTLOGOFF|PJSIP/alice|3600"
    )
    assert agent_event_line(T0, "alice", "AGENTLOGOFF") == (
        "1000000000|NONE|NONE|alice|AGENTLOGOFF|PJSIP/alice|0"
    )
    assert agent_event_line(T0, "alice", "PAUSE", reason="lunch") == (
        "1000000000|NONE|NONE|alice|PAUSE|lunch"
    )
    assert agent_event_line(T0, "alice", "PAUSE", reason="x", queue="sales") == (
        "1000000000|NONE|sales|alice|PAUSE|x"
    )
    assert agent_event_line(T0, "alice", "UNPAUSE") == "1000000000|NONE|NONE|alice|UNPAUSE|"


def test_pipes_and_line_breaks_in_data_are_replaced() -> None:
    got = call_event_line(
        T0,
        "id|1",
        "ENTERQUEUE",
        {"queue": "sa|les", "position": 1, "url": "http://x/?a=1|b\n2"},
        caller_number="+1|555\r\n",
    )
    assert got == "1000000000|id_1|sa_les|NONE|ENTERQUEUE|http://x/?a=1_b 2|+1_555  |1"
    assert got is not None and len(got.splitlines()) == 1
    assert agent_event_line(T0, "alice", "PAUSE", reason="coffee|break\u2028\x1b[2J\x85") == (
        "1000000000|NONE|NONE|alice|PAUSE|coffee_break  [2J "
    )
    key = call_event_line(T0, "c", "EXITWITHKEY", {"key": "|", "queue": "q"})
    assert key == "1000000000|c|q|NONE|EXITWITHKEY|_|0|0|0"


def test_clean_keeps_any_other_unicode() -> None:
    assert clean("Zoë ☎ 東京 \"q\" 'x'") == "Zoë ☎ 東京 \"q\" 'x'"
    assert clean(None) == ""
    assert clean(3) == "3"


def test_epoch_is_whole_utc_seconds_whatever_the_zone() -> None:
    paris = T0.astimezone(timezone(timedelta(hours=2)))
    assert epoch(paris) == epoch(T0) == 1000000000
    assert format_line(paris, "", "", "", "X", []) == "1000000000|NONE|NONE|NONE|X|"
    assert format_line(5, "c", "q", "a", "X", ["1", "2"]) == "5|c|q|a|X|1|2"
