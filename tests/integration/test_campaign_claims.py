"""Claiming leads (db/campaign_store.py) against a real PostgreSQL, no Asterisk: concurrent
claimers never get the same lead, a crashed claimer's lease runs out and its lead comes
back, callbacks come first, the compliance gate reschedules or closes what it refuses, and a
refusal of the whole campaign touches no lead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from db.campaign_store import CampaignConfig, claim_leads
from db.engine import async_engine
from tests.support import query

pytestmark = pytest.mark.integration

NOW = datetime.fromisoformat("2026-06-10T18:00:00+00:00")  # 14:00 in New York


def config(**changes: Any) -> CampaignConfig:
    row = SimpleNamespace(
        name="claims",
        mode="progressive",
        state="running",
        queue="claimq",
        caller_id="+12125550000",
        caller_name=None,
        abandon_limit=0.03,
        ring_seconds=25,
        amd="off",
        message_prompt="sound:please-try-call-later",
        max_attempts=3,
        retry_delays={},
        hours={},
        max_calls_24h=3,
        max_calls_30d=None,
        uk_mode=False,
        national_dnc=None,
        seller_name="Acme Ltd",
        optout_key="9",
    )
    for key, value in changes.items():
        setattr(row, key, value)
    return CampaignConfig.from_row(row)


@pytest.fixture
def leads(database_url: str) -> Iterator[list[str]]:
    for table in ("dial_attempts", "leads", "campaigns", "dnc_entries"):
        query(database_url, f"DELETE FROM {table}")
    query(database_url, "DELETE FROM queues WHERE name = 'claimq'")
    query(database_url, "INSERT INTO queues (name) VALUES ('claimq')")
    query(
        database_url,
        "INSERT INTO campaigns (name, queue, caller_id, state) "
        "VALUES ('claims', 'claimq', '+12125550000', 'running')",
    )
    numbers = [f"+1212555{n:04d}" for n in range(1000, 1200)]
    for number in numbers:
        query(
            database_url,
            "INSERT INTO leads (campaign, number, time_zones) "
            "VALUES ('claims', %s, '[\"America/New_York\"]')",
            number,
        )
    yield numbers
    for table in ("dial_attempts", "leads", "campaigns", "dnc_entries"):
        query(database_url, f"DELETE FROM {table}")
    query(database_url, "DELETE FROM queues WHERE name = 'claimq'")


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def test_concurrent_claimers_never_share_a_lead(database_url: str, leads: list[str]) -> None:
    async def main() -> list[str]:
        engines = [async_engine(async_url(database_url)) for _ in range(4)]
        try:

            async def claimer(index: int) -> list[str]:
                got: list[str] = []
                while True:
                    report = await claim_leads(
                        engines[index], config(), 7, node_id=f"n{index}", now=NOW, abandonment=None
                    )
                    if not report.claimed:
                        return got
                    got += [c.number for c in report.claimed]

            results = await asyncio.gather(*(claimer(i) for i in range(4)))
        finally:
            for engine in engines:
                await engine.dispose()
        assert all(results), "every claimer got some"
        return [n for r in results for n in r]

    claimed = asyncio.run(main())
    assert sorted(claimed) == sorted(leads)  # every lead once, none twice
    rows = query(
        database_url, "SELECT count(*) AS n, count(DISTINCT lead_id) AS d FROM dial_attempts"
    )
    assert rows[0]["n"] == rows[0]["d"] == len(leads)


def test_a_crashed_claimers_leads_come_back_when_the_lease_runs_out(
    database_url: str, leads: list[str]
) -> None:
    async def claim(now: datetime, wanted: int) -> list[str]:
        engine = async_engine(async_url(database_url))
        try:
            report = await claim_leads(
                engine, config(), wanted, node_id="n", now=now, abandonment=None
            )
            return [c.number for c in report.claimed]
        finally:
            await engine.dispose()

    first = asyncio.run(claim(NOW, 3))
    # The claimer dies. Within its lease nobody else gets them; after it, they come back.
    during = asyncio.run(claim(NOW + timedelta(minutes=10), 200))
    assert not set(first) & set(during)
    after = asyncio.run(claim(NOW + timedelta(minutes=16), 10))
    assert sorted(after) == sorted(first)


def test_callbacks_first_and_the_gate_reschedules_or_closes(
    database_url: str, leads: list[str]
) -> None:
    callback, retry, listed, tokyo = leads[-1], leads[-2], leads[0], leads[1]
    query(database_url, "UPDATE leads SET priority = 0 WHERE number = %s", callback)
    query(database_url, "UPDATE leads SET priority = 1 WHERE number = %s", retry)
    query(
        database_url,
        "INSERT INTO dnc_entries (list_name, number, added_at) VALUES ('internal', %s, now())",
        listed,
    )
    query(
        database_url,
        "UPDATE leads SET time_zones = '[\"Asia/Tokyo\"]' WHERE number = %s",
        tokyo,
    )

    async def main() -> Any:
        engine = async_engine(async_url(database_url))
        try:
            return await claim_leads(engine, config(), 4, node_id="n", now=NOW, abandonment=None)
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    assert [c.number for c in report.claimed][:2] == [callback, retry]
    refused = {number: verdict.rule for _, number, verdict in report.refused}
    assert refused == {listed: "dnc_internal", tokyo: "calling_hours"}
    rows = {
        r["number"]: r
        for r in query(database_url, "SELECT * FROM leads WHERE number = ANY(%s)", [listed, tokyo])
    }
    assert rows[listed]["state"] == "done" and rows[listed]["closed_reason"].startswith("dnc")
    assert rows[tokyo]["state"] == "pending"
    assert rows[tokyo]["next_attempt_at"] == datetime.fromisoformat("2026-06-10T23:00:00+00:00")


def test_a_campaign_over_its_abandonment_limit_touches_no_lead(
    database_url: str, leads: list[str]
) -> None:
    async def main() -> Any:
        engine = async_engine(async_url(database_url))
        try:
            return await claim_leads(
                engine, config(), 5, node_id="n", now=NOW, abandonment=(0.05, 0.01)
            )
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    assert report.claimed == [] and report.held is not None
    assert report.held.rule == "abandon_limit"
    untouched = query(
        database_url,
        "SELECT count(*) AS n FROM leads WHERE state = 'pending' AND next_attempt_at IS NULL",
    )
    assert untouched[0]["n"] == len(leads)


def test_a_number_two_campaigns_share_is_not_dialed_twice_at_once(
    database_url: str, leads: list[str]
) -> None:
    shared = leads[0]
    query(
        database_url,
        "INSERT INTO campaigns (name, queue, caller_id, state) "
        "VALUES ('other', 'claimq', '+12125550000', 'running')",
    )
    query(
        database_url,
        "INSERT INTO leads (campaign, number, time_zones) "
        "VALUES ('other', %s, '[\"America/New_York\"]')",
        shared,
    )

    async def main() -> tuple[list[str], list[str]]:
        engine = async_engine(async_url(database_url))
        try:
            first = await claim_leads(engine, config(), 1, node_id="n", now=NOW, abandonment=None)
            second = await claim_leads(
                engine, config(name="other"), 1, node_id="n", now=NOW, abandonment=None
            )
            return [c.number for c in first.claimed], [c.number for c in second.claimed]
        finally:
            await engine.dispose()

    first, second = asyncio.run(main())
    assert first == [shared] and second == []
    (held,) = query(database_url, "SELECT * FROM leads WHERE campaign = 'other'")
    assert held["state"] == "pending" and held["next_attempt_at"] == NOW + timedelta(minutes=5)
