"""The abandonment read (db/abandonment_query.py) against a real PostgreSQL, no Asterisk: the
rolling 24 h and 30 d windows of a campaign by placed_at over every instance's attempts
(node_id), the reading instance's own attempts since its budget began left out, the
settled/recent split giving the same counts as one read, machine verdicts for the UK
estimate, the other instances seen. The history is issue 15's example
(tests/abandonment_example.py) plus attempts of two other instances."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import psycopg
import pytest

from ari_app.dialer import Dialer
from callcenter.outbound.pacing import DAY, MONTH, Abandonment, BudgetRead, Tally
from db.abandonment_query import CampaignWindows, SqlAttemptCounts, campaign_queues
from db.engine import async_engine
from tests.abandonment_example import (
    AT_1930,
    AT_2000,
    CAMPAIGN,
    RESTART,
    Row,
    today_rows,
    yesterday_rows,
)
from tests.support import query

pytestmark = pytest.mark.integration

QUEUE = "abq"
B_LIVE = datetime(2026, 6, 10, 19, 10, tzinfo=UTC)
B_MACHINE = datetime(2026, 6, 10, 19, 20, tzinfo=UTC)
C_MONTH = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)  # 21 days before: in 30 d only
C_OLD = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # 40 days before: in neither window
NODE_B = [  # today 19:10:00-19:19:00, one a minute: 10 live, 2 dropped (19:10, 19:11)
    Row(B_LIVE + timedelta(minutes=n), "node-b", live=True, dropped=n < 2) for n in range(10)
] + [  # today 19:20:00-19:24:00: 5 machine verdicts
    Row(B_MACHINE + timedelta(minutes=n), "node-b", live=False, machine=True) for n in range(5)
]
NODE_C = [  # 4 live, 1 dropped in 30 d; 3 live and dropped in neither window
    Row(C_MONTH + timedelta(seconds=n), "node-c", live=True, dropped=n == 0) for n in range(4)
] + [Row(C_OLD + timedelta(seconds=n), "node-c", live=True, dropped=True) for n in range(3)]
ELSEWHERE = [  # another campaign's attempts, inside the windows: never counted
    Row(datetime(2026, 6, 10, 19, 0, tzinfo=UTC), "node-b", True, True, campaign="autumn")
]


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def attempts(database_url: str) -> Iterator[None]:
    def clean() -> None:
        query(database_url, "DELETE FROM dial_attempts WHERE campaign IN (%s, 'autumn')", CAMPAIGN)
        query(database_url, "DELETE FROM campaigns WHERE name IN (%s, 'autumn')", CAMPAIGN)
        query(database_url, "DELETE FROM queues WHERE name = %s", QUEUE)

    clean()
    query(database_url, "INSERT INTO queues (name) VALUES (%s)", QUEUE)
    query(
        database_url,
        "INSERT INTO campaigns (name, queue, caller_id) VALUES (%s, %s, '+12125550000')",
        CAMPAIGN,
        QUEUE,
    )
    rows = yesterday_rows() + today_rows() + NODE_B + NODE_C + ELSEWHERE
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO dial_attempts (id, campaign, number, node_id, channel_id, placed_at,"
            " result, live, dropped, mode) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " 'predictive')",
            [
                (
                    uuid.uuid4(),
                    row.campaign,
                    f"+1212555{n % 10_000:04d}",
                    row.node_id,
                    f"chan-{uuid.uuid4()}",
                    row.placed_at,
                    "machine" if row.machine else "dropped" if row.dropped else "connected",
                    row.live,
                    row.dropped,
                )
                for n, row in enumerate(rows)
            ],
        )
    yield
    clean()


def test_the_windows_count_every_instance_by_placed_at(database_url: str, attempts: None) -> None:
    async def main() -> tuple[dict[str, BudgetRead], ...]:
        engine = async_engine(async_url(database_url))
        try:
            counts = SqlAttemptCounts(engine)
            day, month = timedelta(seconds=DAY), timedelta(seconds=MONTH)
            # an instance with no attempt of its own (node-z): everything, in one read
            whole = await counts.count(
                {CAMPAIGN: RESTART},
                node_id="node-z",
                day_from=AT_1930 - day,
                month_from=AT_1930 - month,
                until=None,
            )
            # the same through the dialer's reads (settled part + recent part)
            split = await CampaignWindows(counts, node_id="node-z").read(
                {CAMPAIGN: RESTART}, AT_1930
            )
            # node-a, restarted at 08:00: its attempts since then are its pacer's own
            node_a = CampaignWindows(counts, node_id="node-a")
            own_1930 = await node_a.read({CAMPAIGN: RESTART}, AT_1930)
            own_2000 = await node_a.read({CAMPAIGN: RESTART}, AT_2000)
            queues = await campaign_queues(engine)
            assert QUEUE in queues
            return whole, split, own_1930, own_2000
        finally:
            await engine.dispose()

    whole, split, own_1930, own_2000 = asyncio.run(main())
    # 24 h at 19:30 (placed at or after yesterday 19:30:00): node-a 300 + 550 live, 8 + 14
    # drops; node-b 10 live, 2 drops, 5 machines; node-c nothing. 30 d: node-a 600 + 550 and
    # 18 + 14, node-b the same, node-c 4 and 1 (40 days ago: out).
    everything = BudgetRead(
        day=Tally(850 + 10, 22 + 2, 5), month=Tally(1150 + 10 + 4, 32 + 2 + 1, 5), other_nodes=2
    )
    assert whole == {CAMPAIGN: everything}
    # the split read: the same counts; other instances: those that dialed since 19:15
    # (node-b; node-a's last was at 18:58:48)
    assert split == {CAMPAIGN: BudgetRead(everything.day, everything.month, other_nodes=1)}
    budget = Abandonment()
    budget.sync(0.0, split[CAMPAIGN])
    assert budget.rates(0.0) == pytest.approx((24 / 860, 35 / 1164))  # 2.79%, 3.01%
    # node-a's own 550 and 14 since 08:00 are left out: 300 + 10 live, 8 + 2 drops
    assert own_1930 == {
        CAMPAIGN: BudgetRead(Tally(310, 10, 5), Tally(600 + 10 + 4, 18 + 2 + 1, 5), other_nodes=1)
    }
    # 20:00: yesterday's have left the 24 h window; node-b's stay (placed 19:10-19:24), but
    # it has not dialed in the last 15 minutes: no other instance dialing now
    assert own_2000 == {
        CAMPAIGN: BudgetRead(Tally(10, 2, 5), Tally(600 + 10 + 4, 18 + 2 + 1, 5), other_nodes=0)
    }


def test_the_dialer_paces_on_every_instances_figures(database_url: str, attempts: None) -> None:
    """The dialer's own path, no Asterisk: its refresh finds the campaign, reads the windows
    of every instance into the campaign's budget, and reports them."""
    query(database_url, "UPDATE campaigns SET state = 'running', uk_mode = true")

    async def main() -> dict[str, Any]:
        engine = async_engine(async_url(database_url))
        acd = SimpleNamespace(agents={}, queues={}, outbound_uri="")  # no trunk: no dial
        none = cast(Any, None)
        dialer = Dialer(
            cast(Any, acd), none, none, engine, none, none, node_id="node-z", clock=lambda: AT_1930
        )
        try:
            assert await dialer.once() == 0
            return dialer.status()
        finally:
            await engine.dispose()

    status = asyncio.run(main())[CAMPAIGN]
    # every instance's attempts (node-z has none): 24 h 860 live, 24 drops, 5 machines;
    # 30 d 1164, 35, 5; UK: + 5% x 5 = 0.25 estimated false positives on both sides
    assert status["abandonment_24h"] == pytest.approx(24.25 / 860.25)
    assert status["abandonment_30d"] == pytest.approx(35.25 / 1164.25)
