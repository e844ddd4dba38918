"""A recording paused and resumed: the gaps' offsets in the file, the file's length."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.calls.recording import FeatureKeys, RecordingClock, RecordingStateError

T0 = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_card_number_read_while_paused_leaves_a_marked_gap() -> None:
    # Recording from 10:00:00; the agent pauses at 10:00:30 while the caller reads a card
    # number, resumes at 10:00:50, pauses again at 10:01:10 and resumes at 10:01:15; the call
    # ends at 10:02:00. Audio: 30 + 20 + 45 = 95 s; paused 25 s.
    clock = RecordingClock(T0)
    first = clock.pause(at(30), by="agent:ann")
    assert first.offset == 30
    clock.resume(at(50))
    second = clock.pause(at(70))
    assert second.offset == 50  # 30 s before the first gap + 20 s after it
    clock.resume(at(75))
    clock.end(at(120))
    assert clock.duration() == 95
    assert clock.paused_seconds == 25
    assert [g.as_dict() for g in clock.gaps] == [
        {
            "offset": 30.0,
            "paused_at": "2026-12-06T10:00:30+00:00",
            "resumed_at": "2026-12-06T10:00:50+00:00",
            "seconds": 20.0,
            "by": "agent:ann",
        },
        {
            "offset": 50.0,
            "paused_at": "2026-12-06T10:01:10+00:00",
            "resumed_at": "2026-12-06T10:01:15+00:00",
            "seconds": 5.0,
            "by": None,
        },
    ]


def test_a_call_that_ends_paused_closes_its_gap_at_the_end() -> None:
    # 10:00:00 start, paused at 10:00:40, the caller hangs up at 10:01:00: 40 s of audio.
    clock = RecordingClock(T0)
    clock.pause(at(40))
    clock.end(at(60))
    assert clock.duration() == 40 and clock.paused_seconds == 20
    assert clock.gaps[0].resumed_at == at(60)


def test_pause_and_resume_are_refused_out_of_turn() -> None:
    clock = RecordingClock(T0)
    with pytest.raises(RecordingStateError, match="not paused"):
        clock.resume(at(1))
    clock.pause(at(2))
    with pytest.raises(RecordingStateError, match="already paused"):
        clock.pause(at(3))
    clock.end(at(4))
    with pytest.raises(RecordingStateError, match="ended"):
        clock.pause(at(5))


def test_star_one_pauses_and_star_two_resumes() -> None:
    keys = FeatureKeys()
    assert [keys.press(k) for k in "5*1"] == [None, None, "pause"]
    assert [keys.press(k) for k in "*2"] == [None, "resume"]
    assert [keys.press(k) for k in "1*9*2"] == [None, None, None, None, "resume"]
