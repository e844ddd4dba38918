"""A real sipp caller with RFC 4733 DTMF through Asterisk 22, our app, into PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from pbx.instance import AsteriskInstance
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.support import AppProcess, ended_call, query, wait_until

pytestmark = pytest.mark.integration


def test_call_with_a_key_is_recorded_and_agrees_with_asterisk_cdr(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    caller = "+15550001007"
    result = asyncio.run(
        place_calls(
            asterisk.params.sip_port,
            "800123",
            CallerScript(caller=caller, caller_name="Ada O'Neil", keys=((1000, "7"),)),
        )
    )
    assert result.ok, result.output

    call = ended_call(database_url, caller)
    assert call["dialed_number"] == "800123"
    assert call["caller_name"] == "Ada O'Neil"
    assert call["direction"] == "inbound"
    assert call["digits"] == "7"
    assert call["hangup_party"] == "system"
    assert call["hangup_cause"] == 16
    assert call["outcome"] == "completed"
    assert call["arrived_at"] <= call["answered_at"] <= call["ended_at"]

    events = query(
        database_url,
        "SELECT type, data FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
        call["id"],
    )
    assert [e["type"] for e in events] == ["ARRIVE", "ANSWER", "DTMF", "HANGUP"]
    assert events[2]["data"] == {"digit": "7"}
    legs = query(database_url, "SELECT * FROM call_legs WHERE call_id = %s", call["id"])
    assert len(legs) == 1 and legs[0]["role"] == "caller"
    assert legs[0]["ended_at"] == call["ended_at"]

    # Asterisk's own CDR for the same channel is the independent witness.
    cdr = wait_until(
        lambda: [r for r in asterisk.cdr_rows() if r.uniqueid == call["channel_id"]],
        10,
        what="Asterisk's CDR line",
    )[0]
    assert cdr.src == caller
    assert cdr.dst == "800123"
    assert cdr.disposition == "ANSWERED"
    assert cdr.lastapp == "Stasis"
    assert cdr.start is not None and cdr.answer is not None and cdr.end is not None
    assert abs(call["arrived_at"].timestamp() - cdr.start) < 1.0
    assert abs(call["answered_at"].timestamp() - cdr.answer) < 1.0
    assert abs(call["ended_at"].timestamp() - cdr.end) < 1.0
    talk = (call["ended_at"] - call["answered_at"]).total_seconds()
    assert abs(talk - cdr.billsec) <= 1.0


def test_caller_who_hangs_up_first_is_recorded_as_such(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    caller = "+15550002000"
    result = asyncio.run(
        place_calls(
            asterisk.params.sip_port,
            "800124",
            CallerScript(caller=caller, keys=(), hang_up_after_ms=1500),
        )
    )
    assert result.ok, result.output
    call = ended_call(database_url, caller)
    assert call["hangup_party"] == "caller"
    assert call["digits"] is None
    assert call["hangup_cause"] == 16
    cdr = wait_until(
        lambda: [r for r in asterisk.cdr_rows() if r.uniqueid == call["channel_id"]], 10
    )[0]
    assert abs(call["ended_at"].timestamp() - (cdr.end or 0)) < 1.0


def test_several_simultaneous_callers_each_get_their_own_record(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    async def call(i: int) -> bool:
        script = CallerScript(caller=f"+1555000300{i}", keys=((800, str(i)),))
        return (await place_calls(asterisk.params.sip_port, "800200", script)).ok

    async def all_calls() -> list[bool]:
        return list(await asyncio.gather(*(call(i) for i in range(5))))

    assert all(asyncio.run(all_calls()))
    for i in range(5):
        row = ended_call(database_url, f"+1555000300{i}")
        assert row["digits"] == str(i)
