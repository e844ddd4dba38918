"""What dialplan keeps of a refused call, read back into a record (no Asterisk)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.calls.dispositions import system_code
from callcenter.calls.refused import parse_refused, refused_record


def test_a_refused_call_becomes_an_ended_record_with_stable_ids() -> None:
    call = parse_refused(
        "node1-1796459018.9", "1796459018.250000|1796459018.612|FAILED|5001|node1-17.9|+1555|x"
    )
    assert call.caller == "+1555|x"  # the caller's number last: anything it holds is kept
    assert call.started_at == datetime.fromtimestamp(1796459018.25, UTC)
    record, events = refused_record(call, "node1")
    assert (record.outcome, record.direction, record.hangup_party) == (
        "refused",
        "inbound",
        "system",
    )
    assert record.ended_at == datetime.fromtimestamp(1796459018.612, UTC)
    assert [e.type for e in events] == ["ARRIVE", "REFUSED", "HANGUP"]
    assert system_code(record) == "failed"
    again, events_again = refused_record(call, "node1")
    assert again.id == record.id and [e.uid for e in events_again] == [e.uid for e in events]
    assert refused_record(call, "node2")[0].id != record.id  # another node's channel


@pytest.mark.parametrize("value", ["", "1|2|FAILED", "x|2|FAILED|5001|l|c"])
def test_unreadable_values_are_refused_with_the_reason(value: str) -> None:
    with pytest.raises(ValueError):
        parse_refused("k", value)


def test_an_end_before_the_start_is_the_start() -> None:
    call = parse_refused("k", "100.5|99|FAILED|5001||")
    assert call.ended_at == call.started_at and call.caller is None and call.linkedid is None
