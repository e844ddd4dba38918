from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.calls.record import CallRecord, CallRecordError

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def record() -> CallRecord:
    return CallRecord(
        node_id="n1",
        channel_id="c1",
        direction="inbound",
        arrived_at=T0,
        caller_number="5551234",
        dialed_number="100",
    )


def test_a_full_call_reads_like_its_log() -> None:
    call = record()
    events = [
        call.answer(T0 + timedelta(seconds=1)),
        call.add_digit("7", T0 + timedelta(seconds=2)),
        call.end(T0 + timedelta(seconds=5), cause=16, cause_text="Normal Clearing", party="system"),
    ]
    assert [e.type for e in events if e] == ["ANSWER", "DTMF", "HANGUP"]
    row = call.row()
    assert row["digits"] == "7"
    assert row["hangup_party"] == "system"
    assert row["outcome"] == "completed"
    assert row["ended_at"] - row["answered_at"] == timedelta(seconds=4)


def test_first_answer_and_first_end_win() -> None:
    call = record()
    call.answer(T0 + timedelta(seconds=1))
    assert call.answer(T0 + timedelta(seconds=3)) is None
    call.end(T0 + timedelta(seconds=5), cause=16, cause_text="x")
    assert call.end(T0 + timedelta(seconds=9), cause=38, cause_text="y") is None
    assert call.answered_at == T0 + timedelta(seconds=1)
    assert call.hangup_cause == 16


def test_hangup_party_is_whoever_asked_first() -> None:
    call = record()
    call.note_hangup_party("caller")
    call.note_hangup_party("system")
    call.end(T0, cause=16, cause_text="", party="system")
    assert call.hangup_party == "caller"


def test_unanswered_call_has_no_answer_and_an_outcome() -> None:
    call = record()
    call.end(T0 + timedelta(seconds=2), cause=16, cause_text="")
    assert call.answered_at is None
    assert call.outcome == "unanswered"
    assert call.hangup_party == "unknown"


def test_clock_skew_never_puts_an_end_before_the_arrival() -> None:
    call = record()
    call.answer(T0 - timedelta(milliseconds=3))
    call.end(T0 - timedelta(milliseconds=5), cause=16, cause_text="")
    assert call.answered_at == T0 and call.ended_at == T0


@given(st.text(max_size=3))
def test_only_dtmf_keys_are_accepted(key: str) -> None:
    call = record()
    if len(key) == 1 and key in "0123456789*#ABCD":
        call.add_digit(key, T0)
        assert call.digits == key
    else:
        with pytest.raises(CallRecordError):
            call.add_digit(key, T0)


def test_sip_display_names_lose_their_escapes_and_nothing_else() -> None:
    from callcenter.calls.caller_id import sip_display_name

    assert sip_display_name('O\'Brien \\"Bobby\\" \\\\ Zoë') == 'O\'Brien "Bobby" \\ Zoë'
    assert sip_display_name("'); DROP TABLE calls; --") == "'); DROP TABLE calls; --"
    assert sip_display_name("") is None and sip_display_name(None) is None
