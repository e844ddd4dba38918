"""`switchboard staffing-plan`: agents per interval of the day from a queue's measured calls
(PostgreSQL, no Asterisk), checked against the Erlang C figures for the same load."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from switchboard.cli.main import app as main_app
from switchboard.reports.erlang import agents_needed
from tests.support import query

pytestmark = pytest.mark.integration

NODE = "plan-node"
QUEUE = "planq"


@pytest.fixture
def history(database_url: str) -> Iterator[None]:
    query(database_url, "INSERT INTO nodes (id) VALUES (%s) ON CONFLICT DO NOTHING", NODE)
    day = datetime.fromisoformat("2026-11-30T09:00:00+00:00")
    rows: list[tuple[datetime, datetime | None, datetime | None, datetime | None, str]] = []
    # 09:00-09:30: 20 calls handled in 150 s of talk + 30 s of wrap-up (AHT 180 s).
    for n in range(20):
        queued = day + timedelta(seconds=60 * n + 5)
        connected = queued + timedelta(seconds=10)
        talk_end = connected + timedelta(seconds=150)
        rows.append((queued, connected, talk_end, talk_end + timedelta(seconds=30), "connected"))
    # 09:30-10:00: two callers who gave up (no handle time of their own).
    for n in range(2):
        queued = day + timedelta(minutes=31 + n)
        rows.append((queued, None, None, None, "abandoned"))
    for entered, answered, talked, wrapped, exit_ in rows:
        query(
            database_url,
            "INSERT INTO calls (id, node_id, channel_id, direction, arrived_at, ended_at, "
            "queue, queued_at, queue_left_at, connected_at, talk_ended_at, wrap_up_ended_at, "
            "queue_exit) VALUES (%s, %s, %s, 'inbound', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            uuid.uuid4(), NODE, f"plan-{uuid.uuid4()}", entered, wrapped or entered,
            QUEUE, entered, answered or entered + timedelta(seconds=40), answered, talked,
            wrapped, exit_,
        )  # fmt: skip
    yield None
    query(database_url, "DELETE FROM calls WHERE queue = %s", QUEUE)


def test_a_plan_per_interval_from_the_measured_calls(database_url: str, history: None) -> None:
    result = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30", "--interval", "30m",
         "--target", "80/20", "--shrinkage", "0.25", "--json"],
        env={"DATABASE_URL": database_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {row["start"]: row for row in json.loads(result.output)}
    assert len(rows) == 48
    nine = rows["09:00"]
    assert nine["calls"] == 20 and nine["aht"] == 180.0
    expected = agents_needed(20 * 180 / 1800, 180, 0.8, 20, shrinkage=0.25)
    assert nine["agents"] == expected.agents and nine["scheduled_agents"] == (
        expected.scheduled_agents
    )
    # Only abandons: the period's handle time stands in for the interval's own.
    half_past = rows["09:30"]
    assert half_past["calls"] == 2 and half_past["aht"] == 180.0 and half_past["agents"] >= 1
    assert rows["03:00"]["calls"] == 0 and rows["03:00"]["agents"] == 0

    empty = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", "nobody", "--from", "2026-11-30"],
        env={"DATABASE_URL": database_url},
    )
    assert empty.exit_code == 0 and "no calls in queue nobody" in empty.output
    bad = CliRunner().invoke(
        main_app,
        ["staffing-plan", "--queue", QUEUE, "--from", "2026-11-30", "--to", "2026-11-01"],
        env={"DATABASE_URL": database_url},
    )
    assert bad.exit_code == 2 and "before --from" in bad.output
