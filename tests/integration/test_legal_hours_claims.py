"""The claim path (db/campaign_store.py claim_leads) holds a campaign with wide hours to the
legal hours of each callee's country, against a real PostgreSQL (no Asterisk): a lead the
law does not allow yet is rescheduled to the legal opening, never dialed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from db.campaign_store import CampaignConfig, ClaimReport, claim_leads
from db.engine import async_engine
from tests.support import query

pytestmark = pytest.mark.integration

CAMPAIGN, QUEUE = "legalhours", "legalq"
NEW_YORK, PARIS = "+12125559801", "+33140009801"
# The operator typed --hours mon-sun=07:00-23:00: wider than US and French law.
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WIDE = {"days": {day: [["07:00", "23:00"]] for day in DAYS}}


def config() -> CampaignConfig:
    row = SimpleNamespace(
        name=CAMPAIGN,
        mode="progressive",
        state="running",
        queue=QUEUE,
        caller_id="+12125550000",
        caller_name=None,
        abandon_limit=0.03,
        ring_seconds=25,
        amd="off",
        message_prompt="sound:please-try-call-later",
        # (Columns being added elsewhere; extra attributes are harmless to older code.)
        seller_name=None,
        optout_key="9",
        max_attempts=5,
        retry_delays={},
        hours=WIDE,
        max_calls_24h=None,
        max_calls_30d=None,
        uk_mode=False,
        national_dnc=None,
    )
    return CampaignConfig.from_row(row)


def _clean(url: str) -> None:
    query(url, "DELETE FROM dial_attempts WHERE campaign = %s", CAMPAIGN)
    query(url, "DELETE FROM leads WHERE campaign = %s", CAMPAIGN)
    query(url, "DELETE FROM campaigns WHERE name = %s", CAMPAIGN)
    query(url, "DELETE FROM queues WHERE name = %s", QUEUE)


@pytest.fixture
def campaign(database_url: str) -> Iterator[str]:
    _clean(database_url)
    query(database_url, "INSERT INTO queues (name) VALUES (%s)", QUEUE)
    query(
        database_url,
        "INSERT INTO campaigns (name, queue, caller_id, state) "
        "VALUES (%s, %s, '+12125550000', 'running')",
        CAMPAIGN,
        QUEUE,
    )
    for number, zone, region in (
        (NEW_YORK, "America/New_York", "US"),
        (PARIS, "Europe/Paris", "FR"),
    ):
        query(
            database_url,
            "INSERT INTO leads (campaign, number, time_zones, region) "
            "VALUES (%s, %s, jsonb_build_array(%s::text), %s)",
            CAMPAIGN,
            number,
            zone,
            region,
        )
    yield database_url
    _clean(database_url)


def claim(url: str, now: str) -> ClaimReport:
    async def main() -> ClaimReport:
        engine = async_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            return await claim_leads(
                engine, config(), 2, node_id="n", now=datetime.fromisoformat(now), abandonment=None
            )
        finally:
            await engine.dispose()

    return asyncio.run(main())


def lead(url: str, number: str) -> dict[str, Any]:
    (row,) = query(url, "SELECT * FROM leads WHERE number = %s AND campaign = %s", number, CAMPAIGN)
    return row


def test_claims_hold_a_wide_campaign_to_the_legal_hours(campaign: str) -> None:
    # Monday 2026-03-09 22:30 in New York (EDT), 03:30 on Tuesday in Paris: both refused.
    report = claim(campaign, "2026-03-10T02:30:00+00:00")
    assert report.claimed == []
    refused = {number: verdict.rule for _, number, verdict in report.refused}
    assert refused == {NEW_YORK: "calling_hours", PARIS: "calling_hours"}
    # Rescheduled to the law's opening: 08:00 EDT and 10:00 CET on Tuesday.
    assert lead(campaign, NEW_YORK)["next_attempt_at"] == datetime.fromisoformat(
        "2026-03-10T12:00:00+00:00"
    )
    assert lead(campaign, PARIS)["next_attempt_at"] == datetime.fromisoformat(
        "2026-03-10T09:00:00+00:00"
    )

    # Tuesday 13:30 in Paris (the French lunch break), 08:30 in New York.
    report = claim(campaign, "2026-03-10T12:30:00+00:00")
    assert [c.number for c in report.claimed] == [NEW_YORK]
    refused = {number: verdict.rule for _, number, verdict in report.refused}
    assert refused == {PARIS: "calling_hours"}
    assert lead(campaign, PARIS)["next_attempt_at"] == datetime.fromisoformat(
        "2026-03-10T13:00:00+00:00"
    )


def test_claims_skip_a_french_public_holiday(campaign: str) -> None:
    query(campaign, "DELETE FROM leads WHERE number = %s", NEW_YORK)
    # Wednesday 11 November 2026, 10:30 in Paris: inside the campaign's hours, a jour férié.
    report = claim(campaign, "2026-11-11T09:30:00+00:00")
    assert report.claimed == []
    assert [(n, v.rule) for _, n, v in report.refused] == [(PARIS, "holiday")]
    assert lead(campaign, PARIS)["next_attempt_at"] == datetime.fromisoformat(
        "2026-11-12T09:00:00+00:00"
    )
