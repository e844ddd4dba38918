"""The golden call journeys (tests/data/journeys.yaml) stored as the app stored calls before
journeys existed (calls, their events, the agents' events), then migrated: the back-fill
must build their visits and segments, and the queue and agent reports must give the figures
computed by hand in tests/data/journey_figures.yaml. Also: the "offered" service level with
timeouts, and 60-minute rows on the DST days of two zones."""

from __future__ import annotations

import itertools
import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine

from callcenter.reports.metrics import Interval, MetricParams, MetricRow, SlVariant
from db import admin, migrate
from db.engine import sync_engine
from db.metrics_query import agent_metrics, queue_metrics
from tests.support import database_url_for, query
from tests.unit.test_journey import arrival, build, call_uuid, load

pytestmark = pytest.mark.integration

FIGURES = Path(__file__).parent.parent / "data" / "journey_figures.yaml"
NODE = "golden"
DAY = datetime(2026, 12, 1, tzinfo=UTC)
JUDGED = datetime(2026, 12, 20, tzinfo=UTC)  # every FCR window of the day has closed


def insert(url: str, table: str, **values: Any) -> None:
    names = ", ".join(values)
    marks = ", ".join("%s::jsonb" if k == "data" else "%s" for k in values)
    row = [json.dumps(v) if k == "data" else v for k, v in values.items()]
    query(url, f"INSERT INTO {table} ({names}) VALUES ({marks})", *row)


def store_as_before(url: str, case: dict[str, Any]) -> None:
    """The call as the app stored it before journeys: its row, its events and the agents'
    CALLEND / WRAPUPEND around their wrap-ups."""
    call = call_uuid(case["call"])
    start = arrival(case)
    events = [(start + timedelta(seconds=o), kind, data or {}) for o, kind, data in case["events"]]
    ended = (
        start + timedelta(seconds=case["ended"]) if "ended" in case else max(e[0] for e in events)
    )
    insert(
        url,
        "calls",
        id=call,
        node_id=NODE,
        channel_id=f"golden-{case['call']}",
        direction=case.get("direction", "inbound"),
        caller_number=case.get("caller"),
        arrived_at=start,
        ended_at=ended,
        campaign=case.get("campaign"),
    )
    for at, kind, data in events:
        insert(url, "call_events", uid=uuid.uuid4(), call_id=call, node_id=NODE,
               occurred_at=at, type=kind, data=data)  # fmt: skip
    journey = build(case)
    for agent, wrap in (case.get("wrapups") or {}).items():
        segment = next(s for s in journey.segments if s.agent == agent and s.answered_at)
        assert segment.ended_at is not None
        insert(url, "agent_events", uid=uuid.uuid4(), agent=agent, node_id=NODE,
               occurred_at=segment.ended_at, type="CALLEND",
               state="wrap_up" if wrap else "available", call_id=call)  # fmt: skip
        if wrap:
            insert(url, "agent_events", uid=uuid.uuid4(), agent=agent, node_id=NODE,
                   occurred_at=segment.ended_at + timedelta(seconds=wrap), type="WRAPUPEND",
                   state="available", call_id=call)  # fmt: skip


def store_sl_case(url: str) -> None:
    """10 callers queued in "slq" on 2026-12-02: 8 answered within 20 s (after 12 s), 2 timed
    out after 60 s with nowhere to go."""
    base = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    for i in range(10):
        start = base + timedelta(minutes=i)
        case: dict[str, Any] = {"call": f"sl{i}", "caller": f"+1555777{i:04d}", "events": []}
        if i < 8:
            case["events"] = [
                [0, "ENTERQUEUE", {"queue": "slq"}],
                [0, "RINGING", {"queue": "slq", "agent": "sam"}],
                [12, "CONNECT", {"queue": "slq", "agent": "sam"}],
                [42, "COMPLETECALLER", {"queue": "slq", "agent": "sam"}],
                [42, "HANGUP", {}],
            ]
        else:
            case["events"] = [
                [0, "ENTERQUEUE", {"queue": "slq"}],
                [60, "EXITWITHTIMEOUT", {"queue": "slq"}],
                [61, "HANGUP", {}],
            ]
        case["arrived"] = start.replace(tzinfo=None).isoformat(sep=" ")
        store_as_before(url, case)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database at the schema before journeys, the golden calls in it, then migrated."""
    url = database_url_for(f"sb_golden_{secrets.token_hex(4)}")
    admin.create_database_if_missing(url)
    try:
        migrate.upgrade(url, "0007")
        query(url, "INSERT INTO nodes (id, hostname) VALUES (%s, 'test')", NODE)
        for case in load():
            store_as_before(url, case)
        store_sl_case(url)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SWITCHBOARD_DEFAULT_REGION", "FR")
            migrate.upgrade(url)
        engine = sync_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        yield engine
        engine.dispose()
    finally:
        admin.drop_database(url)


def figures() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(FIGURES.read_text("utf-8"))
    return loaded


def close(value: Any) -> Any:
    return pytest.approx(value, abs=1e-5) if isinstance(value, float) else value


def check(row: MetricRow, want: dict[str, Any]) -> None:
    got = {name: getattr(row, name) for name in want if name != "sl"}
    assert got == {name: close(v) for name, v in want.items() if name != "sl"}, row.group
    levels = [row.service_level_as(v) for v in SlVariant]
    assert levels == [close(v) for v in want["sl"]], f"{row.group} service levels"


def test_the_back_fill_builds_each_journey(golden: Engine) -> None:
    url = golden.url.render_as_string(hide_password=False).replace("+psycopg", "")
    for case in load():
        call = call_uuid(case["call"])
        visits = query(url, "SELECT queue, exit FROM queue_visits WHERE call_id = %s ORDER BY seq",
                       call)  # fmt: skip
        assert [[v["queue"], v["exit"]] for v in visits] == [v[:2] for v in case["visits"]]
        segments = query(
            url,
            "SELECT agent, kind, end_reason, talk_seconds FROM agent_segments "
            "WHERE call_id = %s ORDER BY seq",
            call,
        )
        assert [[s["agent"], s["kind"], s["end_reason"]] for s in segments] == [
            [s[0], s[1], s[6]] for s in case["segments"]
        ], case["name"]
    # Callers' numbers in E.164: the French national form matches the international one.
    keys = query(url, "SELECT caller_e164 FROM calls WHERE id IN (%s, %s)",
                 call_uuid("c03"), call_uuid("c15"))  # fmt: skip
    assert [k["caller_e164"] for k in keys] == ["+33612345678"] * 2


def test_queue_figures_per_visit(golden: Engine) -> None:
    want = figures()["queues"]
    rows = queue_metrics(golden, DAY, DAY + timedelta(days=1), MetricParams(), now=JUDGED)
    by_queue = {r.group: r for r in rows}
    # The campaign's drop (c13, queue "dialer") is no inbound figure; the DST and SL calls
    # are on other days.
    assert sorted(by_queue) == sorted(want)
    for queue, figures_ in want.items():
        check(by_queue[queue], figures_)


def test_agent_figures_per_segment(golden: Engine) -> None:
    want = figures()["agents"]
    rows = agent_metrics(golden, DAY, DAY + timedelta(days=1), MetricParams(), now=JUDGED)
    by_agent = {r.group: r for r in rows}
    assert sorted(by_agent) == sorted(want)  # sue only supervised: no agent figures
    for agent, figures_ in want.items():
        check(by_agent[agent], figures_)


def test_fcr_window_still_open_is_neither_resolved_nor_not(golden: Engine) -> None:
    day = datetime(2026, 12, 3, tzinfo=UTC)
    [care] = queue_metrics(golden, day, day + timedelta(days=1), MetricParams(), "care",
                           now=datetime(2026, 12, 5, tzinfo=UTC))  # fmt: skip
    assert (care.answered, care.fcr_contacts, care.fcr_open, care.fcr) == (1, 0, 1, None)
    [care] = queue_metrics(golden, day, day + timedelta(days=1), MetricParams(), "care",
                           now=JUDGED)  # fmt: skip
    assert (care.fcr_contacts, care.fcr_open, care.fcr) == (1, 0, 1.0)


def test_timeouts_count_against_the_offered_service_level(golden: Engine) -> None:
    """10 queued, 8 answered within 20 s, 2 timed out: 80% offered, 100% answered."""
    day = datetime(2026, 12, 2, tzinfo=UTC)
    [row] = queue_metrics(golden, day, day + timedelta(days=1),
                          MetricParams(sl_variant=SlVariant.OFFERED), "slq")  # fmt: skip
    assert (row.offered, row.answered, row.answered_within_t, row.timed_out) == (10, 8, 8, 2)
    assert row.service_level == pytest.approx(0.8)
    assert row.service_level_as(SlVariant.ANSWERED) == 1.0
    assert row.abandonment_rate == 0.0


@pytest.mark.parametrize(
    ("tz", "day", "hours", "offered_at"),
    [
        # 2026-03-08: 02:00 EST becomes 03:00 EDT: 23 hours, no 02:00 row; calls at 01:30,
        # 03:15 and 03:45.
        ("America/New_York", "2026-03-08", 23, {"01:00-05:00": 1, "03:00-04:00": 2}),
        # 2026-11-01: 02:00 EDT becomes 01:00 EST: 25 hours, two 01:00 rows; calls at
        # 01:20 EDT, 01:40 EST and 01:50 EST.
        ("America/New_York", "2026-11-01", 25, {"01:00-04:00": 1, "01:00-05:00": 2}),
        # Paris 2026-03-29: 02:00 CET becomes 03:00 CEST; calls at 01:45 and 03:05.
        ("Europe/Paris", "2026-03-29", 23, {"01:00+01:00": 1, "03:00+02:00": 1}),
        # Paris 2026-10-25: 03:00 CEST becomes 02:00 CET; calls at 02:30 CEST, 02:30 CET.
        ("Europe/Paris", "2026-10-25", 25, {"02:00+02:00": 1, "02:00+01:00": 1}),
    ],
)
def test_hours_of_the_dst_days(
    golden: Engine, tz: str, day: str, hours: int, offered_at: dict[str, int]
) -> None:
    zone = ZoneInfo(tz)
    start = datetime.fromisoformat(day).replace(tzinfo=zone)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=zone)
    params = MetricParams(interval=Interval.M60, tz=tz)
    rows = queue_metrics(golden, start, end, params, "dst", now=JUDGED)
    assert len(rows) == hours
    # (Compared in UTC: Python compares two times of one zone by their wall clock.)
    starts = [r.interval_start.astimezone(UTC) for r in rows]
    assert len(set(starts)) == hours  # no row twice
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    got = {r.interval_start.isoformat()[11:]: r.offered for r in rows if r.offered}
    assert got == {f"{k[:5]}:00{k[5:]}": v for k, v in offered_at.items()}
    assert sum(r.offered for r in rows) == sum(offered_at.values())
    # By day: one row with every call of the day.
    [whole] = queue_metrics(golden, start, end, MetricParams(tz=tz), "dst", now=JUDGED)
    assert whole.offered == sum(offered_at.values())
    assert whole.interval_start == start
