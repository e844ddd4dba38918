"""Call journeys told as a telephony engineer would (tests/data/journeys.yaml): each call's
events must leave exactly the queue visits and agent segments written next to them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from callcenter.calls.journey import Journey

JOURNEYS = Path(__file__).parent.parent / "data" / "journeys.yaml"


def load() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(JOURNEYS.read_text("utf-8"))
    return cases


def call_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"switchboard-journey-{name}")


def arrival(case: dict[str, Any]) -> datetime:
    """When the call arrived: a wall-clock time in the case's zone (``arrived_zone``, else
    ``tz``); an ambiguous time on a fall-back day is told in UTC instead."""
    tz = ZoneInfo(case.get("arrived_zone", case.get("tz", "UTC")))
    return datetime.fromisoformat(case["arrived"]).replace(tzinfo=tz)


def build(case: dict[str, Any]) -> Journey:
    """The journey the app (or the back-fill) builds from the case's events."""
    start = arrival(case)
    journey = Journey(call_uuid(case["call"]))
    for offset, kind, data in case["events"]:
        journey.apply(kind, start + timedelta(seconds=offset), data or {})
    if "ended" in case:  # closed by reconciliation: what is open ends with the call
        journey.apply("HANGUP", start + timedelta(seconds=case["ended"]), {})
    return journey


@pytest.mark.parametrize("case", load(), ids=lambda c: c["call"])
def test_each_journey_leaves_its_visits_and_segments(case: dict[str, Any]) -> None:
    journey = build(case)
    visits = []
    for v in journey.visits:
        wait = (v.left_at - v.entered_at).total_seconds() if v.left_at else None
        visits.append([v.queue, v.exit, wait, v.agent])
    assert visits == case["visits"], case["name"]
    segments = []
    for s in journey.segments:
        answered = (s.answered_at - s.offered_at).total_seconds() if s.answered_at else None
        talk = 0.0
        if s.answered_at is not None and s.ended_at is not None:
            talk = (s.ended_at - s.answered_at).total_seconds() - s.hold_seconds
        segments.append([s.agent, s.kind, s.queue, answered, talk, s.hold_seconds, s.end])
    assert segments == case["segments"], case["name"]
    # Nothing stays open once the call is over.
    assert all(v.exit is not None for v in journey.visits)
    assert all(s.ended_at is not None for s in journey.segments)


def test_rows_are_stable_and_only_changes_are_handed_over() -> None:
    case = next(c for c in load() if c["call"] == "c02")
    journey = Journey(call_uuid("c02"))
    start = arrival(case)
    handed: list[tuple[str, int]] = []
    for offset, kind, data in case["events"]:
        journey.apply(kind, start + timedelta(seconds=offset), data or {})
        visits, segments = journey.changed()
        handed += [("visit", v.seq) for v in visits] + [("segment", s.seq) for s in segments]
    # ENTERQUEUE sales, RINGING ann, CONNECT (visit and segment), BLINDTRANSFER, ...
    assert handed == [
        ("visit", 1),
        ("segment", 1),
        ("visit", 1),
        ("segment", 1),
        ("segment", 1),
        ("visit", 2),
        ("segment", 2),
        ("visit", 2),
        ("segment", 2),
        ("segment", 2),
    ]
    # A row's id is derived from the call and its place: a replay writes the same rows.
    again = build(case)
    assert [v.row()["id"] for v in again.visits] == [v.row()["id"] for v in journey.visits]
    assert [s.row()["id"] for s in again.segments] == [s.row()["id"] for s in journey.segments]
    assert "wrap_up_ended_at" not in journey.segments[0].row()


def test_a_caller_moved_by_a_supervisor_is_passed_on_like_an_overflow() -> None:
    """10:00:00 enters care; 10:01:30 a supervisor moves them to billing (keeping their
    arrival); 10:01:40 ann answers in billing; talk 60 s. Care: passed on after 90 s (neither
    answered nor abandoned there); billing: answered 10 s after the move."""
    start = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("UTC"))
    journey = Journey(call_uuid("moved"))
    events: list[tuple[int, str, dict[str, Any]]] = [
        (0, "ENTERQUEUE", {"queue": "care", "position": 3}),
        (90, "MOVED", {"queue": "care", "to": "billing", "by": "sue"}),
        (90, "ENTERQUEUE", {"queue": "billing", "position": 1}),
        (92, "RINGING", {"queue": "billing", "agent": "ann"}),
        (100, "CONNECT", {"queue": "billing", "agent": "ann"}),
        (160, "COMPLETECALLER", {"queue": "billing", "agent": "ann"}),
        (160, "HANGUP", {}),
    ]
    for offset, kind, data in events:
        journey.apply(kind, start + timedelta(seconds=offset), data)
    visits = [
        [v.queue, v.exit, (v.left_at - v.entered_at).total_seconds() if v.left_at else None]
        for v in journey.visits
    ]
    assert visits == [["care", "overflow", 90.0], ["billing", "answered", 10.0]]
