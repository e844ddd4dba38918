"""`switchboard staffing-plan`: agents per interval of the day from a queue's measured calls
(PostgreSQL, no Asterisk), checked against the Erlang C figures for the same load; and
db/staffing_history.py on the journeys behind it (queue visits, agent segments).

The history, on 2026-11-30 (UTC), queues ``planq`` and ``planq-over``:

  09:00-09:30  20 inbound calls answered in planq after 10 s: 150 s with the agent, 20 s of
               it on hold (talk 130, hold 20), then 30 s of wrap-up -> 180 s each
               one inbound call answered at 09:20:10, still going on (no handle time yet)
               a campaign call in planq at 09:05, handled in 1000 s (not counted)
  09:30-10:00  two callers who gave up in planq (09:31, 09:32)
               one inbound call that overflowed from planq (09:40, after 60 s) to
               planq-over (09:41), answered there: talk 240, wrap-up unknown -> 240 s
  11:00        a campaign call in planq, abandoned (not counted)

planq: 09:00 -> 21 calls (20 handled + 1 going on), AHT 180 (the call going on is not a
0 s call: 20 * 180 / 21 = 171.4 would be); 09:30 -> 3 calls (2 abandons + the overflow),
none handled from planq: the period's AHT, 180; 11:00 -> 0.
planq-over: 09:30 -> 1 call, AHT 240.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from callcenter.reports.erlang import agents_needed
from db.engine import sync_engine
from db.staffing_history import IntervalHistory, interval_history
from switchboard.cli.main import app as main_app
from tests.support import query

pytestmark = pytest.mark.integration

NODE = "plan-node"
QUEUE = "planq"
OVER = "planq-over"
DST_QUEUE = "planq-dst"
NEW_YORK = "America/New_York"


def call(url: str, entered: datetime, campaign: str | None = None) -> uuid.UUID:
    call_id = uuid.uuid4()
    query(
        url,
        "INSERT INTO calls (id, node_id, channel_id, direction, arrived_at, campaign) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        call_id, NODE, f"plan-{call_id}", "outbound" if campaign else "inbound",
        entered - timedelta(seconds=5), campaign,
    )  # fmt: skip
    return call_id


def visit(
    url: str, call_id: uuid.UUID, seq: int, queue: str, entered: datetime, wait: float, exit_: str
) -> datetime:
    """The call's ``seq``-th queue visit; returns when it left the queue."""
    left = entered + timedelta(seconds=wait)
    query(
        url,
        "INSERT INTO queue_visits (id, call_id, seq, queue, entered_at, left_at, exit, agent) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        uuid.uuid4(), call_id, seq, queue, entered, left, exit_,
        "plan-agent" if exit_ == "answered" else None,
    )  # fmt: skip
    return left


def segment(
    url: str,
    call_id: uuid.UUID,
    visit_seq: int,
    queue: str,
    answered: datetime,
    span: float | None,
    hold: float = 0,
    wrap: float | None = None,
) -> None:
    """The agent's segment answered from the visit: ``span`` s with the caller (hold
    included; None: still going on), then ``wrap`` s of wrap-up (None: unknown)."""
    ended = answered + timedelta(seconds=span) if span is not None else None
    wrapped = ended + timedelta(seconds=wrap) if ended and wrap is not None else None
    query(
        url,
        "INSERT INTO agent_segments (id, call_id, seq, agent, kind, queue, visit_seq, "
        "offered_at, answered_at, ended_at, hold_seconds, wrap_up_ended_at) "
        "VALUES (%s, %s, 1, 'plan-agent', 'queue', %s, %s, %s, %s, %s, %s, %s)",
        uuid.uuid4(), call_id, queue, visit_seq, answered, answered, ended, hold, wrapped,
    )  # fmt: skip


def answered_call(
    url: str,
    queue: str,
    entered: datetime,
    span: float | None,
    hold: float = 0,
    wrap: float | None = None,
    campaign: str | None = None,
) -> None:
    call_id = call(url, entered, campaign)
    left = visit(url, call_id, 1, queue, entered, 10, "answered")
    segment(url, call_id, 1, queue, left, span, hold, wrap)


def cleanup(url: str) -> None:
    query(url, "DELETE FROM calls WHERE node_id = %s", NODE)
    query(url, "DELETE FROM nodes WHERE id = %s", NODE)


@pytest.fixture
def history(database_url: str) -> Iterator[str]:
    url = database_url
    cleanup(url)
    query(url, "INSERT INTO nodes (id) VALUES (%s)", NODE)
    day = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    for n in range(20):
        answered_call(url, QUEUE, day + timedelta(seconds=60 * n + 5), 150, hold=20, wrap=30)
    answered_call(url, QUEUE, day + timedelta(minutes=20), None)  # still going on
    answered_call(url, QUEUE, day + timedelta(minutes=5), 900, wrap=100, campaign="plan-camp")
    for n in range(2):
        entered = day + timedelta(minutes=31 + n)
        visit(url, call(url, entered), 1, QUEUE, entered, 40, "abandoned")
    overflowed = call(url, day + timedelta(minutes=40))
    left = visit(url, overflowed, 1, QUEUE, day + timedelta(minutes=40), 60, "overflow")
    answered = visit(url, overflowed, 2, OVER, left, 10, "answered")
    segment(url, overflowed, 2, OVER, answered, 240)
    dialed = call(url, day + timedelta(hours=2), campaign="plan-camp")
    visit(url, dialed, 1, QUEUE, day + timedelta(hours=2), 3, "abandoned")
    yield url
    cleanup(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = sync_engine(database_url)
    yield engine
    engine.dispose()


def by_start(rows: list[IntervalHistory]) -> dict[str, IntervalHistory]:
    return {row.start: row for row in rows}


def test_a_plan_per_interval_from_the_measured_calls(history: str) -> None:
    result = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30", "--interval", "30m",
         "--target", "80/20", "--shrinkage", "0.25", "--json"],
        env={"DATABASE_URL": history},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {row["start"]: row for row in json.loads(result.output)}
    assert len(rows) == 48
    nine = rows["09:00"]
    assert nine["calls"] == 21 and nine["aht"] == 180.0
    # 2.1 Erlangs on 4-5 agents: far below any occupancy cap, the service level decides.
    expected = agents_needed(21 * 180 / 1800, 180, 0.8, 20, shrinkage=0.25)
    assert nine["agents"] == expected.agents and nine["scheduled_agents"] == (
        expected.scheduled_agents
    )
    # Only abandons and an overflow: the period's handle time stands in for the interval's.
    half_past = rows["09:30"]
    assert half_past["calls"] == 3 and half_past["aht"] == 180.0 and half_past["agents"] >= 1
    assert rows["03:00"]["calls"] == 0 and rows["03:00"]["agents"] == 0
    assert rows["11:00"]["calls"] == 0  # the campaign's call only

    empty = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", "nobody", "--from", "2026-11-30"],
        env={"DATABASE_URL": history},
    )
    assert empty.exit_code == 0 and "no calls in queue nobody" in empty.output
    bad = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30", "--to", "2026-11-01"],
        env={"DATABASE_URL": history},
    )
    assert bad.exit_code == 2 and "before --from" in bad.output


def test_each_queue_a_call_entered_is_offered_it(history: str, engine: Engine) -> None:
    since = datetime(2026, 11, 30, tzinfo=UTC)
    until = since + timedelta(days=1)
    planq = by_start(interval_history(engine, QUEUE, since, until, 1800))
    assert planq["09:00"] == IntervalHistory("09:00", 1, 21.0, 180.0)
    assert planq["09:30"] == IntervalHistory("09:30", 1, 3.0, 180.0)
    assert planq["11:00"] == IntervalHistory("11:00", 1, 0.0, None)
    over = by_start(interval_history(engine, OVER, since, until, 1800))
    assert over["09:30"] == IntervalHistory("09:30", 1, 1.0, 240.0)  # wrap-up unknown: 0 s
    assert sum(row.calls_per_day for row in over.values()) == 1
    # Over two days (the second empty): half a call a day.
    two_days = by_start(interval_history(engine, OVER, since, until + timedelta(days=1), 1800))
    assert two_days["09:30"] == IntervalHistory("09:30", 2, 0.5, 240.0)
    # Hours in Paris (UTC+1): the 09:00 UTC calls are 10:00 there.
    paris = by_start(interval_history(engine, QUEUE, since, until, 3600, "Europe/Paris"))
    assert paris["10:00"].calls_per_day == 24 and paris["10:00"].aht == 180.0


@pytest.fixture
def clock_changes(database_url: str) -> Iterator[str]:
    """Calls in New York on the days the clocks changed in 2026, each handled in 100 s.

    Fall back, 1 Nov: 01:00-02:00 happened twice (EDT 05:00-06:00Z, EST 06:00-07:00Z):
    3 calls at 01:10 EDT (05:10Z), 1 at 01:40 EDT (05:40Z), 3 at 01:10 EST (06:10Z), 1 at
    00:30 (04:30Z). Spring forward, 8 Mar: no 02:00-03:00; 2 calls at 03:15 EDT (07:15Z),
    1 at 01:15 EST (06:15Z)."""
    url = database_url
    cleanup(url)
    query(url, "INSERT INTO nodes (id) VALUES (%s)", NODE)
    times = [(11, 1, 5, 10)] * 3 + [(11, 1, 5, 40)] + [(11, 1, 6, 10)] * 3 + [(11, 1, 4, 30)]
    times += [(3, 8, 7, 15)] * 2 + [(3, 8, 6, 15)]
    for month, day, hh, mm in times:
        answered_call(url, DST_QUEUE, datetime(2026, month, day, hh, mm, tzinfo=UTC), 100)
    yield url
    cleanup(url)


def local_day(month: int, day: int) -> tuple[datetime, datetime]:
    """The local day, from midnight to midnight (as UTC instants)."""
    zone = ZoneInfo(NEW_YORK)
    start = datetime(2026, month, day, tzinfo=zone)
    return start.astimezone(UTC), datetime(2026, month, day + 1, tzinfo=zone).astimezone(UTC)


def test_a_clock_change_counts_the_real_intervals(clock_changes: str, engine: Engine) -> None:
    # Fall back: the repeated 01:00 hour happened twice, its calls are per occurrence.
    since, until = local_day(11, 1)
    assert until - since == timedelta(hours=25)
    hours = by_start(interval_history(engine, DST_QUEUE, since, until, 3600, NEW_YORK))
    assert hours["00:00"] == IntervalHistory("00:00", 1, 1.0, 100.0)
    assert hours["01:00"] == IntervalHistory("01:00", 1, 3.5, 100.0)  # 7 calls in 2 hours
    assert hours["02:00"].calls_per_day == 0
    halves = by_start(interval_history(engine, DST_QUEUE, since, until, 1800, NEW_YORK))
    assert halves["01:00"].calls_per_day == 3.0  # 6 calls in 2 half hours
    assert halves["01:30"].calls_per_day == 0.5  # 1 call in 2 half hours
    # Spring forward: no 02:00 that day; the other hours are ordinary.
    since, until = local_day(3, 8)
    assert until - since == timedelta(hours=23)
    hours = by_start(interval_history(engine, DST_QUEUE, since, until, 3600, NEW_YORK))
    assert hours["01:00"].calls_per_day == 1.0
    assert hours["02:00"] == IntervalHistory("02:00", 1, 0.0, None)
    assert hours["03:00"] == IntervalHistory("03:00", 1, 2.0, 100.0)
    # A week around it (local midnights): the 02:00 hour happened 6 times, the others 7.
    week = by_start(
        interval_history(engine, DST_QUEUE, local_day(3, 5)[0], local_day(3, 11)[1], 3600,
                         NEW_YORK)
    )  # fmt: skip
    assert week["03:00"].days == 7 and week["03:00"].calls_per_day == pytest.approx(2 / 7)
    assert week["01:00"].calls_per_day == pytest.approx(1 / 7)


def test_the_occupancy_cap_per_interval(history: str) -> None:
    # By hand, from the fixture's 09:00 interval (21 calls at 180 s: A = 2.1 Erlangs): 3
    # agents give 55.4% within 20 s, 4 give 83.9%, so the service level wants 4 (52.5%).
    # The default cap of 85% asks ceil(2.1 / 0.85) = 3: the service level decides. A cap of
    # 25% asks ceil(2.1 / 0.25) = ceil(8.4) = 9 agents (23.3%), ceil(9 / 0.75) = 12 scheduled.
    # 09:30 (3 calls at 180 s: A = 0.3): 1 agent gives 72.2%, 2 give 96.8% at 15%; the cap of
    # 25% asks ceil(0.3 / 0.25) = 2 as well: the service level decides.
    def plan(*extra: str) -> dict[str, dict[str, object]]:
        result = CliRunner().invoke(
            main_app,
            ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30", "--shrinkage", "0.25",
             "--json", *extra],
            env={"DATABASE_URL": history},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return {row["start"]: row for row in json.loads(result.output)}

    default = plan()
    assert (default["09:00"]["calls"], default["09:00"]["aht"]) == (21, 180.0)
    assert default["09:00"]["agents"] == 4 and default["09:00"]["scheduled_agents"] == 6
    assert default["09:00"]["decided_by"] == "service_level"
    assert default["09:00"]["max_occupancy"] == 0.85
    assert default["09:00"]["occupancy"] == pytest.approx(2.1 / 4)
    capped = plan("--max-occupancy", "25%")
    nine = capped["09:00"]
    assert (nine["agents"], nine["scheduled_agents"]) == (9, 12)
    assert nine["decided_by"] == "occupancy" and nine["service_level_agents"] == 4
    assert nine["occupancy"] == pytest.approx(2.1 / 9)
    half_past = capped["09:30"]
    assert (half_past["calls"], half_past["aht"]) == (3, 180.0)
    assert half_past["agents"] == 2 and half_past["decided_by"] == "service_level"
    assert capped["03:00"]["agents"] == 0
    assert plan("--max-occupancy", "1")["09:00"]["agents"] == 4  # no cap: the service level

    table = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30", "--max-occupancy", "0.25"],
        env={"DATABASE_URL": history},
    )
    assert table.exit_code == 0, table.output
    assert "decided by" in table.output and "occupancy cap 25%" in table.output
    lines = table.output.splitlines()
    nine_line = next(line for line in lines if "09:00" in line)
    assert " 9 " in nine_line and "23.3%" in nine_line and "occupancy cap" in nine_line
    assert "service level" in next(line for line in lines if "09:30" in line)

    for bad_cap, message in (("0", "occupancy cap"), ("1.5", "at most 100%"), ("85", "85%?")):
        refused = CliRunner().invoke(
            main_app,
            ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30",
             "--max-occupancy", bad_cap],
            env={"DATABASE_URL": history},
        )  # fmt: skip
        assert refused.exit_code == 2 and message in refused.output
