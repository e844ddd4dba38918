"""The wallboard's and Prometheus' "today" figures (ari_app/live_figures.py) from call journeys
written straight into a migrated database, against figures computed by hand.

Everything is on 2031-01-15 (New York is UTC-5 then), in queues ``lf-main`` (T = 20 s) and
``lf-over`` (T = 30 s), the clock at 15:00 UTC (10:00 in New York). Short abandons < 5 s.

  A  09:00Z  inbound, lf-main: answered after 10 s (in time)
  B  09:10Z  inbound, lf-main: overflowed after 60 s; 09:11Z lf-over: answered after 25 s
             (in time for lf-over's 30 s)
  C  09:20Z  campaign call, lf-main: abandoned after 40 s (no inbound figure counts it)
  D  04:30Z  inbound, lf-main: abandoned after 50 s; 23:30 on the 14th in New York: today in
             UTC, yesterday in New York
  E  10:00Z  inbound, lf-main: abandoned after 3 s (a short abandon)
  F  10:05Z  inbound, lf-main: left for a callback after 30 s (neither side of the SL)
  G  14:00Z  inbound, lf-main: answered after 30 s (late)

New York's today (since 05:00Z):
  lf-main  offered 5 (A B E F G), answered 2 (A G), in time 1 (A), abandoned 1 (E), short 1,
           unserved 1 (B) -> SL 1 / (2 + 1 + 1 - 1) = 1/3, abandonment (1 - 1) / (5 - 1) = 0
  lf-over  offered 1, answered 1, in time 1 -> SL 1/1, abandonment 0/1 = 0
UTC's today (since 00:00Z): lf-main also D: offered 6, abandoned 2, short 1 ->
  SL 1 / (2 + 2 + 1 - 1) = 1/4, abandonment (2 - 1) / (6 - 1) = 0.2; lf-over unchanged.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy import make_url

from ari_app.acd import QueueSettings
from ari_app.live_figures import LiveFigures, QueueToday
from callcenter.acd.routing import QueueState
from db.engine import async_engine
from tests.support import query

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime

pytestmark = pytest.mark.integration

NODE = "live-figures-test"
NS = uuid.UUID("1f0e5b7c-0000-4000-8000-000000000000")
NOW = datetime(2031, 1, 15, 15, 0, tzinfo=UTC)
MAIN, OVER = "lf-main", "lf-over"


def cid(name: str) -> uuid.UUID:
    return uuid.uuid5(NS, name)


def at(hh: int, mm: int) -> datetime:
    return datetime(2031, 1, 15, hh, mm, tzinfo=UTC)


def call(url: str, name: str, arrived: datetime, campaign: str | None = None) -> None:
    query(
        url,
        "INSERT INTO calls (id, node_id, channel_id, direction, arrived_at, campaign) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        cid(name), NODE, f"lf-{name}", "outbound" if campaign else "inbound", arrived, campaign,
    )  # fmt: skip


def visit(
    url: str, name: str, seq: int, queue: str, entered: datetime, wait: float, exit_: str
) -> None:
    query(
        url,
        "INSERT INTO queue_visits (id, call_id, seq, queue, entered_at, left_at, exit) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        uuid.uuid5(cid(name), f"visit-{seq}"), cid(name), seq, queue, entered,
        entered + timedelta(seconds=wait), exit_,
    )  # fmt: skip


def cleanup(url: str) -> None:
    query(url, "DELETE FROM calls WHERE node_id = %s", NODE)
    query(url, "DELETE FROM nodes WHERE id = %s", NODE)


@pytest.fixture
def journeys(database_url: str) -> Iterator[str]:
    url = database_url
    cleanup(url)
    query(url, "INSERT INTO nodes (id, hostname) VALUES (%s, 'test')", NODE)
    call(url, "A", at(9, 0))
    visit(url, "A", 1, MAIN, at(9, 0), 10, "answered")
    call(url, "B", at(9, 10))
    visit(url, "B", 1, MAIN, at(9, 10), 60, "overflow")
    visit(url, "B", 2, OVER, at(9, 11), 25, "answered")
    call(url, "C", at(9, 20), campaign="lf-camp")
    visit(url, "C", 1, MAIN, at(9, 20), 40, "abandoned")
    call(url, "D", at(4, 30))
    visit(url, "D", 1, MAIN, at(4, 30), 50, "abandoned")
    call(url, "E", at(10, 0))
    visit(url, "E", 1, MAIN, at(10, 0), 3, "abandoned")
    call(url, "F", at(10, 5))
    visit(url, "F", 1, MAIN, at(10, 5), 30, "callback")
    call(url, "G", at(14, 0))
    visit(url, "G", 1, MAIN, at(14, 0), 30, "answered")
    yield url
    cleanup(url)


def figures_today(url: str, timezone: str) -> tuple[LiveFigures, dict[str, Any]]:
    """Refresh today's figures as the app's background task does, and take a snapshot."""
    acd = SimpleNamespace(
        settings={
            MAIN: QueueSettings(MAIN, service_level_seconds=20),
            OVER: QueueSettings(OVER, service_level_seconds=30),
        },
        queues={MAIN: QueueState(MAIN), OVER: QueueState(OVER)},
        agents={},
    )

    async def refresh() -> LiveFigures:
        engine = async_engine(
            make_url(url).set(drivername="postgresql+psycopg").render_as_string(False)
        )
        try:
            figures = LiveFigures(
                cast("AcdRuntime", acd), None, engine, clock=lambda: NOW, timezone=timezone
            )
            await figures.refresh_today()
            return figures
        finally:
            await engine.dispose()

    figures = asyncio.run(refresh())
    snapshot = figures.snapshot()
    return figures, {q["name"]: q["today"] for q in snapshot["queues"]} | {
        "since": snapshot["today_since"]
    }


def test_today_in_new_york(journeys: str) -> None:
    figures, shown = figures_today(journeys, "America/New_York")
    assert figures.today_since == datetime(2031, 1, 15, 5, 0, tzinfo=UTC)
    assert shown["since"] == "2031-01-15T05:00:00+00:00"
    assert figures.today[MAIN] == QueueToday(
        offered=5, answered=2, answered_in_time=1, abandoned=1, short_abandons=1, unserved=1
    )
    assert figures.today[OVER] == QueueToday(offered=1, answered=1, answered_in_time=1)
    assert shown[MAIN] == {
        "offered": 5,
        "answered": 2,
        "abandoned": 1,
        "service_level": pytest.approx(1 / 3),
        "service_level_seconds": 20,
        "abandonment": 0.0,
    }
    assert shown[OVER] == {
        "offered": 1,
        "answered": 1,
        "abandoned": 0,
        "service_level": 1.0,
        "service_level_seconds": 30,
        "abandonment": 0.0,
    }


def test_today_in_utc(journeys: str) -> None:
    figures, shown = figures_today(journeys, "UTC")
    assert figures.today_since == datetime(2031, 1, 15, 0, 0, tzinfo=UTC)
    assert figures.today[MAIN] == QueueToday(
        offered=6, answered=2, answered_in_time=1, abandoned=2, short_abandons=1, unserved=1
    )
    assert shown[MAIN]["service_level"] == pytest.approx(0.25)
    assert shown[MAIN]["abandonment"] == pytest.approx(0.2)
    assert figures.today[OVER] == QueueToday(offered=1, answered=1, answered_in_time=1)
