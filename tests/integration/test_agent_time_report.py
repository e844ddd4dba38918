"""`switchboard report agents --time` and db/agent_time_query.py on agent states written
straight into ``agent_events`` of a migrated database, checked against figures computed by
hand. Agents are named ``at-...``, rows belong to node ``agent-time-test`` and are deleted
after each test. ``state`` is the agent's state after the row, as the ACD writes it.

at-alice, 2004-06-01 (UTC):
  09:00:00 AGENTLOGIN    available
  09:10:00 RINGING       ringing       (5 s)
  09:10:05 CONNECT       on_call       (120 s)
  09:12:05 HOLD          on_hold       (60 s)
  09:13:05 UNHOLD        on_call       (120 s)
  09:15:05 CALLEND       wrap_up       (30 s)
  09:15:35 WRAPUPEND     available
  10:30:00 UNREGISTERED  available     (no change of state: the span goes on)
  10:30:30 REGISTERED    available
  12:00:00 PAUSE lunch   paused        (3600 s)
  13:00:00 UNPAUSE       available
  17:00:00 AGENTLOGOFF   logged_out
  -> logged in 09:00-17:00 = 28800 s; paused 3600 (lunch); ringing 5; talk 240; hold 60;
     wrap-up 30; handle 330; available 28800 - 3600 - 5 - 240 - 60 - 30 = 24865; 1 call;
     occupancy 330 / (28800 - 3600) = 330 / 25200; utilisation 330 / 28800;
     calls per hour 1 / (25200 / 3600) = 1 / 7.
at-bob, 2004-06-01 (UTC): login 09:50:00, CONNECT 09:59:00, CALLEND 10:01:30 (wrap-up),
  WRAPUPEND 10:02:00, logoff 10:10:00: the call crosses 10:00.
at-carol, 2004-06-01 (UTC): login 08:00 (available); PAUSE break 08:30; PAUSE meeting 08:40;
  REGISTERED 09:00 (still paused, reason meeting); UNPAUSE 09:30; PAUSE without a reason
  09:45; logoff 10:00.
at-dave, 2004-06-02 (UTC): login 08:00, still logged in (no logoff).
at-erin, America/New_York: 2026-11-01 login 00:30 EDT (04:30Z), logoff 03:30 EST (08:30Z),
  4 real hours (01:00-02:00 happens twice); 2026-03-08 login 01:30 EST (06:30Z), logoff
  03:30 EDT (07:30Z), 1 real hour (02:00-03:00 does not exist).
at-frank, America/New_York: logged in 2026-03-07 12:00 to 2026-03-09 12:00 and 2026-10-31
  12:00 to 2026-11-02 12:00 (whole days of 23 and 25 hours).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from callcenter.config import get_settings
from callcenter.reports.metrics import (
    AGENT_TIME_FIELDS,
    AgentTimeRow,
    MetricParams,
    parse_interval,
)
from db.agent_time_query import agent_time, agent_today
from db.engine import async_engine, sync_engine
from switchboard.cli.reports import report_app
from tests.support import query

pytestmark = pytest.mark.integration

NODE = "agent-time-test"
NY = ZoneInfo("America/New_York")
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # "now" for periods long over


def utc(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2004, 6, day, hh, mm, ss, tzinfo=UTC)


def event(
    url: str, agent: str, at: datetime, kind: str, state: str, reason: str | None = None
) -> None:
    query(
        url,
        "INSERT INTO agent_events (agent, node_id, occurred_at, type, state, reason) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        agent,
        NODE,
        at,
        kind,
        state,
        reason,
    )


def cleanup(url: str) -> None:
    query(url, "DELETE FROM agent_events WHERE node_id = %s", NODE)
    query(url, "DELETE FROM nodes WHERE id = %s", NODE)


@pytest.fixture
def records(database_url: str) -> Iterator[str]:
    url = database_url
    cleanup(url)
    query(url, "INSERT INTO nodes (id, hostname) VALUES (%s, 'test')", NODE)
    for at, kind, state, reason in (
        (utc(1, 9, 0), "AGENTLOGIN", "available", None),
        (utc(1, 9, 10, 0), "RINGING", "ringing", None),
        (utc(1, 9, 10, 5), "CONNECT", "on_call", None),
        (utc(1, 9, 12, 5), "HOLD", "on_hold", None),
        (utc(1, 9, 13, 5), "UNHOLD", "on_call", None),
        (utc(1, 9, 15, 5), "CALLEND", "wrap_up", None),
        (utc(1, 9, 15, 35), "WRAPUPEND", "available", None),
        (utc(1, 10, 30, 0), "UNREGISTERED", "available", None),
        (utc(1, 10, 30, 30), "REGISTERED", "available", None),
        (utc(1, 12, 0), "PAUSE", "paused", "lunch"),
        (utc(1, 13, 0), "UNPAUSE", "available", None),
        (utc(1, 17, 0), "AGENTLOGOFF", "logged_out", None),
    ):
        event(url, "at-alice", at, kind, state, reason)
    for at, kind, state in (
        (utc(1, 9, 50), "AGENTLOGIN", "available"),
        (utc(1, 9, 59), "CONNECT", "on_call"),
        (utc(1, 10, 1, 30), "CALLEND", "wrap_up"),
        (utc(1, 10, 2), "WRAPUPEND", "available"),
        (utc(1, 10, 10), "AGENTLOGOFF", "logged_out"),
    ):
        event(url, "at-bob", at, kind, state)
    for at, kind, state, reason in (
        (utc(1, 8, 0), "AGENTLOGIN", "available", None),
        (utc(1, 8, 30), "PAUSE", "paused", "break"),
        (utc(1, 8, 40), "PAUSE", "paused", "meeting"),
        (utc(1, 9, 0), "REGISTERED", "paused", "meeting"),
        (utc(1, 9, 30), "UNPAUSE", "available", None),
        (utc(1, 9, 45), "PAUSE", "paused", None),
        (utc(1, 10, 0), "AGENTLOGOFF", "logged_out", None),
    ):
        event(url, "at-carol", at, kind, state, reason)
    event(url, "at-dave", utc(2, 8, 0), "AGENTLOGIN", "available")
    for login, logoff in (
        (datetime(2026, 11, 1, 0, 30, tzinfo=NY), datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        (datetime(2026, 3, 8, 1, 30, tzinfo=NY), datetime(2026, 3, 8, 3, 30, tzinfo=NY)),
    ):
        event(url, "at-erin", login, "AGENTLOGIN", "available")
        event(url, "at-erin", logoff, "AGENTLOGOFF", "logged_out")
    for login, logoff in (
        (datetime(2026, 3, 7, 12, tzinfo=NY), datetime(2026, 3, 9, 12, tzinfo=NY)),
        (datetime(2026, 10, 31, 12, tzinfo=NY), datetime(2026, 11, 2, 12, tzinfo=NY)),
    ):
        event(url, "at-frank", login, "AGENTLOGIN", "available")
        event(url, "at-frank", logoff, "AGENTLOGOFF", "logged_out")
    yield url
    cleanup(url)


@pytest.fixture
def engine(records: str) -> Iterator[Engine]:
    sync = sync_engine(records.replace("postgresql://", "postgresql+psycopg://", 1))
    yield sync
    sync.dispose()


def mine(rows: list[AgentTimeRow]) -> list[AgentTimeRow]:
    return [r for r in rows if r.group.startswith("at-")]


def seconds(row: AgentTimeRow) -> tuple[float, ...]:
    """logged in, paused, available, ringing, talk, hold, wrap-up, handle."""
    return (
        row.logged_in_seconds,
        row.paused_seconds,
        row.available_seconds,
        row.ringing_seconds,
        row.talk_seconds,
        row.hold_seconds,
        row.wrap_up_seconds,
        row.handle_seconds,
    )


def params(interval: str = "day", tz: str = "UTC") -> MetricParams:
    return MetricParams(interval=parse_interval(interval), tz=tz)


# --- (1) a day in UTC ------------------------------------------------------------------------


def test_alice_day(engine: Engine) -> None:
    rows = agent_time(engine, utc(1, 0), utc(2, 0), params(), agent="at-alice", now=LATER)
    assert len(rows) == 1
    row = rows[0]
    assert (row.group, row.interval_start) == ("at-alice", utc(1, 0))
    # 09:00-17:00; 12:00-13:00 lunch; 09:15:35-12:00 and 13:00-17:00 with 09:00-09:10
    # available = 28800 - 3600 - 5 - 240 - 60 - 30
    assert seconds(row) == (28800, 3600, 24865, 5, 240, 60, 30, 330)
    assert row.paused_by_reason == {"lunch": 3600}
    assert row.calls == 1  # CONNECT 09:10:05
    assert row.occupancy == pytest.approx(330 / 25200)  # 1.31 %
    assert row.utilisation == pytest.approx(330 / 28800)
    assert row.calls_per_hour == pytest.approx(1 / 7)  # 25200 s = 7 h unpaused
    assert row.as_dict()["interval_start"] == "2004-06-01T00:00:00+00:00"
    assert tuple(row.as_dict()) == AGENT_TIME_FIELDS
    # The whole report (every agent) has the same row for alice, and bob's and carol's.
    everyone = mine(agent_time(engine, utc(1, 0), utc(2, 0), params(), now=LATER))
    assert [r.group for r in everyone] == ["at-alice", "at-bob", "at-carol"]
    assert everyone[0] == row


# --- (2) the same day by the hour ------------------------------------------------------------


def test_alice_by_the_hour(engine: Engine) -> None:
    rows = agent_time(engine, utc(1, 0), utc(2, 0), params("60m"), agent="at-alice", now=LATER)
    assert [r.interval_start for r in rows] == [utc(1, h) for h in range(9, 17)]  # 09..16
    first, *rest = rows
    # 09:00-09:10 600 + 09:15:35-10:00 2665 available; the call as on the day.
    assert seconds(first) == (3600, 0, 3265, 5, 240, 60, 30, 330)
    assert (first.calls, first.paused_by_reason) == (1, {})
    assert first.occupancy == pytest.approx(330 / 3600)
    assert first.calls_per_hour == pytest.approx(1.0)
    for row in rest:
        if row.interval_start == utc(1, 12):  # lunch
            assert seconds(row) == (3600, 3600, 0, 0, 0, 0, 0, 0)
            assert row.paused_by_reason == {"lunch": 3600}
            assert (row.occupancy, row.calls_per_hour) == (None, None)  # no unpaused time
            assert row.utilisation == 0.0
        else:  # 10, 11, 13, 14, 15, 16: available all hour
            assert seconds(row) == (3600, 0, 3600, 0, 0, 0, 0, 0)
            assert (row.calls, row.occupancy, row.calls_per_hour) == (0, 0.0, 0.0)
    assert sum(r.logged_in_seconds for r in rows) == 28800


def test_period_starting_and_ending_mid_state(engine: Engine) -> None:
    # 09:30-10:30 by the hour: the state at 09:30 comes from the last row before it
    # (WRAPUPEND 09:15:35: available); 17:00 logoff is after the end.
    rows = agent_time(
        engine, utc(1, 9, 30), utc(1, 10, 30), params("60m"), agent="at-alice", now=LATER
    )
    assert [(r.interval_start, seconds(r), r.calls) for r in rows] == [
        (utc(1, 9), (1800, 0, 1800, 0, 0, 0, 0, 0), 0),  # 09:30-10:00; CONNECT was before
        (utc(1, 10), (1800, 0, 1800, 0, 0, 0, 0, 0), 0),  # 10:00-10:30
    ]
    assert agent_time(engine, utc(1, 17), utc(1, 18), params(), agent="at-alice") == []


# --- (3) a span across an interval boundary --------------------------------------------------


def test_call_across_the_hour(engine: Engine) -> None:
    rows = agent_time(engine, utc(1, 0), utc(2, 0), params("60m"), agent="at-bob", now=LATER)
    assert [(r.interval_start, seconds(r), r.calls) for r in rows] == [
        # 09:50-09:59 available 540; on call 09:59:00-10:00 60
        (utc(1, 9), (600, 0, 540, 0, 60, 0, 0, 60), 1),
        # on call 10:00-10:01:30 90, wrap-up 10:01:30-10:02 30, available 10:02-10:10 480
        (utc(1, 10), (600, 0, 480, 0, 90, 0, 30, 120), 0),
    ]
    assert rows[1].occupancy == pytest.approx(120 / 600)
    assert rows[1].calls_per_hour == 0.0
    halves = agent_time(engine, utc(1, 0), utc(2, 0), params("30m"), agent="at-bob", now=LATER)
    assert [(r.interval_start, r.logged_in_seconds, r.talk_seconds) for r in halves] == [
        (utc(1, 9, 30), 600, 60),  # 09:50-10:00
        (utc(1, 10, 0), 600, 90),  # 10:00-10:10
    ]
    fifteen = agent_time(engine, utc(1, 0), utc(2, 0), params("15m"), agent="at-bob", now=LATER)
    assert [(r.interval_start, r.logged_in_seconds) for r in fifteen] == [
        (utc(1, 9, 45), 600),  # 09:50-10:00
        (utc(1, 10, 0), 600),  # 10:00-10:10
    ]


# --- (4) daylight saving time ----------------------------------------------------------------


def ny(rows: list[AgentTimeRow]) -> list[tuple[str, float]]:
    return [(r.interval_start.isoformat(), r.logged_in_seconds) for r in rows]


def test_fall_back(engine: Engine) -> None:
    day = datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)  # 25 h
    hours = agent_time(engine, *day, params("60m", "America/New_York"), "at-erin", LATER)
    assert ny(hours) == [
        ("2026-11-01T00:00:00-04:00", 1800),  # 00:30-01:00 EDT
        ("2026-11-01T01:00:00-04:00", 3600),  # 01:00-02:00 EDT
        ("2026-11-01T01:00:00-05:00", 3600),  # 01:00-02:00 EST, the repeated hour
        ("2026-11-01T02:00:00-05:00", 3600),
        ("2026-11-01T03:00:00-05:00", 1800),  # 03:00-03:30 EST
    ]
    assert all(r.interval_start.tzinfo == NY for r in hours)
    whole = agent_time(engine, *day, params("day", "America/New_York"), "at-erin", LATER)
    assert ny(whole) == [("2026-11-01T00:00:00-04:00", 14400)]  # 4 real hours
    frank = agent_time(engine, *day, params("60m", "America/New_York"), "at-frank", LATER)
    assert len(frank) == 25 and {r.logged_in_seconds for r in frank} == {3600}
    frank_day = agent_time(engine, *day, params("day", "America/New_York"), "at-frank", LATER)
    assert ny(frank_day) == [("2026-11-01T00:00:00-04:00", 90000)]  # 25 h
    # The next day is a normal one, from its own (EST) midnight: 00:00-12:00 = 12 h.
    two = (day[0], datetime(2026, 11, 3, tzinfo=NY))
    frank_days = agent_time(engine, *two, params("day", "America/New_York"), "at-frank", LATER)
    assert ny(frank_days) == [
        ("2026-11-01T00:00:00-04:00", 90000),
        ("2026-11-02T00:00:00-05:00", 43200),
    ]


def test_spring_forward(engine: Engine) -> None:
    day = datetime(2026, 3, 8, tzinfo=NY), datetime(2026, 3, 9, tzinfo=NY)  # 23 h
    hours = agent_time(engine, *day, params("60m", "America/New_York"), "at-erin", LATER)
    assert ny(hours) == [
        ("2026-03-08T01:00:00-05:00", 1800),  # 01:30-02:00 EST (06:30-07:00Z)
        ("2026-03-08T03:00:00-04:00", 1800),  # 03:00-03:30 EDT (07:00-07:30Z)
    ]
    whole = agent_time(engine, *day, params("day", "America/New_York"), "at-erin", LATER)
    assert ny(whole) == [("2026-03-08T00:00:00-05:00", 3600)]  # 1 real hour
    frank = agent_time(engine, *day, params("60m", "America/New_York"), "at-frank", LATER)
    assert len(frank) == 23 and {r.logged_in_seconds for r in frank} == {3600}
    assert [r.interval_start.hour for r in frank][:4] == [0, 1, 3, 4]
    frank_day = agent_time(engine, *day, params("day", "America/New_York"), "at-frank", LATER)
    assert ny(frank_day) == [("2026-03-08T00:00:00-05:00", 82800)]  # 23 h


# --- (5) pause reasons -----------------------------------------------------------------------


def test_pause_reasons(engine: Engine) -> None:
    rows = agent_time(engine, utc(1, 0), utc(2, 0), params(), agent="at-carol", now=LATER)
    assert len(rows) == 1
    row = rows[0]
    # 08:00-10:00 logged in; available 08:00-08:30 1800 + 09:30-09:45 900; paused break
    # 08:30-08:40 600, meeting 08:40-09:30 3000 (REGISTERED at 09:00 keeps it), none
    # 09:45-10:00 900
    assert seconds(row) == (7200, 4500, 2700, 0, 0, 0, 0, 0)
    assert row.paused_by_reason == {"(no reason)": 900, "break": 600, "meeting": 3000}
    assert (row.occupancy, row.utilisation, row.calls_per_hour) == (0.0, 0.0, 0.0)
    hours = agent_time(engine, utc(1, 0), utc(2, 0), params("60m"), agent="at-carol", now=LATER)
    assert [(r.interval_start, r.paused_by_reason) for r in hours] == [
        (utc(1, 8), {"break": 600, "meeting": 1200}),  # 08:30-08:40, 08:40-09:00
        (utc(1, 9), {"(no reason)": 900, "meeting": 1800}),  # 09:00-09:30, 09:45-10:00
    ]


# --- (6) still logged in ---------------------------------------------------------------------


def test_still_logged_in(engine: Engine) -> None:
    now = utc(2, 10, 30)
    rows = agent_time(engine, utc(2, 0), utc(3, 0), params("60m"), agent="at-dave", now=now)
    assert [(r.interval_start, r.logged_in_seconds) for r in rows] == [
        (utc(2, 8), 3600),
        (utc(2, 9), 3600),
        (utc(2, 10), 1800),  # 10:00 to now, 10:30
    ]
    day = agent_time(engine, utc(2, 0), utc(3, 0), params(), agent="at-dave", now=now)
    assert [r.available_seconds for r in day] == [9000]  # 08:00-10:30
    # Once the period is over, at its end (08:00-24:00); the database's clock by default.
    for later in (LATER, None):
        day = agent_time(engine, utc(2, 0), utc(3, 0), params(), agent="at-dave", now=later)
        assert [r.logged_in_seconds for r in day] == [57600]
    # Next day: logged in since before the period, all day.
    next_day = agent_time(engine, utc(3, 0), utc(4, 0), params(), agent="at-dave", now=LATER)
    assert [r.logged_in_seconds for r in next_day] == [86400]
    # "now" before the period: nothing yet.
    assert agent_time(engine, utc(3, 0), utc(4, 0), params(), agent="at-dave", now=now) == []


# --- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """get_settings() is cached: read the environment again, before and after."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def cli(url: str, *args: str, zone: str | None = None) -> Any:
    env = {"DATABASE_URL": url, "COLUMNS": "250", "SWITCHBOARD_TIMEZONE": zone}
    return CliRunner().invoke(report_app, list(args), env=env)


ALICE_DAY = ["agents", "--time", "--from", "2004-06-01", "--to", "2004-06-01"]


def test_cli_json(records: str, fresh_settings: None) -> None:
    result = cli(records, *ALICE_DAY, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.output) if r["group"].startswith("at-")]
    assert [r["group"] for r in rows] == ["at-alice", "at-bob", "at-carol"]
    assert rows[0] == {
        "group": "at-alice",
        "interval_start": "2004-06-01T00:00:00+00:00",
        "logged_in_seconds": 28800.0,
        "paused_seconds": 3600.0,
        "paused_by_reason": {"lunch": 3600.0},
        "available_seconds": 24865.0,
        "ringing_seconds": 5.0,
        "talk_seconds": 240.0,
        "hold_seconds": 60.0,
        "wrap_up_seconds": 30.0,
        "handle_seconds": 330.0,
        "calls": 1,
        "occupancy": pytest.approx(330 / 25200),
        "utilisation": pytest.approx(330 / 28800),
        "calls_per_hour": pytest.approx(1 / 7),
    }
    none = cli(records, *ALICE_DAY, "--agent", "at-nobody", "--format", "json")
    assert none.exit_code == 0 and json.loads(none.output) == []


def test_cli_csv_and_table(records: str, fresh_settings: None) -> None:
    result = cli(records, *ALICE_DAY, "--agent", "at-carol", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 1 and tuple(rows[0]) == AGENT_TIME_FIELDS
    assert rows[0]["logged_in_seconds"] == "7200.0"
    assert json.loads(rows[0]["paused_by_reason"]) == {
        "(no reason)": 900,
        "break": 600,
        "meeting": 3000,
    }
    assert rows[0]["calls_per_hour"] == "0.0"
    table = cli(records, *ALICE_DAY, "--agent", "at-alice")
    assert table.exit_code == 0, table.output
    out = table.output
    assert "agent time, day intervals (UTC)" in out
    assert "8:00:00" in out  # logged in
    assert "6:54:25" in out  # available 24865 s
    assert "0:05:30" in out  # handle 330 s
    assert "1.3%" in out  # occupancy 330 / 25200
    assert "1.1%" in out  # utilisation 330 / 28800
    assert "0.14" in out  # calls per hour 1 / 7
    assert "lunch 1:00:00" in out
    empty = cli(records, *ALICE_DAY, "--agent", "at-nobody")
    assert empty.exit_code == 0 and "no agent logged in from 2004-06-01" in empty.output


def logged_in_by_interval(output: str) -> list[tuple[str, float]]:
    return [(r["interval_start"], r["logged_in_seconds"]) for r in json.loads(output)]


def test_center_time_zone_is_the_default(records: str, fresh_settings: None) -> None:
    args = ["agents", "--time", "--from", "2026-11-01", "--to", "2026-11-01", "--agent",
            "at-erin", "--interval", "60m", "--format", "json"]  # fmt: skip
    local = cli(records, *args, zone="America/New_York")
    assert local.exit_code == 0, local.output
    assert logged_in_by_interval(local.output) == [
        ("2026-11-01T00:00:00-04:00", 1800.0),  # 00:30-01:00 EDT
        ("2026-11-01T01:00:00-04:00", 3600.0),
        ("2026-11-01T01:00:00-05:00", 3600.0),
        ("2026-11-01T02:00:00-05:00", 3600.0),
        ("2026-11-01T03:00:00-05:00", 1800.0),  # 03:00-03:30 EST
    ]
    # --tz overrides it; the day 2026-11-01 in UTC: 04:30Z-08:30Z
    for zone in ("America/New_York", None):
        get_settings.cache_clear()
        given = cli(records, *args, "--tz", "UTC", zone=zone)
        assert given.exit_code == 0, given.output
        assert logged_in_by_interval(given.output) == [
            ("2026-11-01T04:00:00+00:00", 1800.0),
            ("2026-11-01T05:00:00+00:00", 3600.0),
            ("2026-11-01T06:00:00+00:00", 3600.0),
            ("2026-11-01T07:00:00+00:00", 3600.0),
            ("2026-11-01T08:00:00+00:00", 1800.0),
        ], zone
    get_settings.cache_clear()
    unset = cli(records, *args)  # no setting: UTC
    assert unset.exit_code == 0, unset.output
    assert json.loads(unset.output)[0]["interval_start"] == "2026-11-01T04:00:00+00:00"
    # Every report reads its period in the center's zone.
    day = ["--from", "2004-06-01", "--to", "2004-06-01"]
    for command in (
        ["queues", *day, "--queue", "at-none"],
        ["agents", *day, "--agent", "at-none"],
        ["agents", "--time", *day, "--agent", "at-none"],
        ["campaigns", *day, "--campaign", "at-none"],
        ["survey", *day, "--queue", "at-none"],
        ["chart", *day, "--queue", "at-none", "--out", "/nonexistent/x.png"],
    ):
        get_settings.cache_clear()
        result = cli(records, *command, zone="America/New_York")
        assert "from 2004-06-01T00:00:00-04:00 to 2004-06-02T00:00:00-04:00" in result.output, (
            command,
            result.output,
        )
    get_settings.cache_clear()
    bad = cli(records, *args, zone="Mars/Olympus")
    assert bad.exit_code == 2 and "unknown time zone" in bad.output


def test_the_desks_figures_for_today(records: str) -> None:
    """at-alice's desk at 14:00 UTC (center in UTC): since midnight, logged in 09:00-14:00 =
    18000 s, paused 3600 (lunch), 1 call handled in 330 s -> AHT 330 s, occupancy 330 /
    14400 = 0.023. at-erin's in New York at 03:30 EST on the fall-back day: midnight was
    00:00 EDT (04:00Z), logged in since 00:30 EDT = 4 real hours, no call: no AHT,
    occupancy 0."""
    url = records.replace("postgresql://", "postgresql+psycopg://", 1)

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        engine = async_engine(url)
        try:
            alice = await agent_today(engine, "UTC", "at-alice", now=utc(1, 14, 0))
            erin = await agent_today(
                engine, "America/New_York", "at-erin", now=datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
            )
        finally:
            await engine.dispose()
        return alice, erin

    alice, erin = asyncio.run(both())
    assert alice == {
        "agent": "at-alice",
        "since": "2004-06-01T00:00:00+00:00",
        "calls": 1,
        "handle_seconds": 330.0,
        "aht_seconds": 330.0,
        "occupancy": 0.023,
        "logged_in_seconds": 18000.0,
    }
    assert erin["since"] == "2026-11-01T00:00:00-04:00"
    assert (erin["calls"], erin["aht_seconds"], erin["occupancy"]) == (0, None, 0.0)
    assert erin["logged_in_seconds"] == 14400.0
