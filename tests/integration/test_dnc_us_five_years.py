"""A code with the action ``dnc:30`` against a real PostgreSQL (no Asterisk): a US number's
entry lasts 5 years (47 CFR 64.1200(d)(6)), a French number's 30 days; defining such a code
warns about it. The clock is injected (``now`` and the moment each lookup is made at)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.calls.dispositions import US_DNC_DAYS
from db.campaign_store import _dnc_facts
from db.disposition_admin import add_code, add_set, change_code
from db.disposition_store import dnc_entry, set_disposition
from db.engine import async_engine, sync_engine
from tests.support import query

pytestmark = pytest.mark.integration

SET, QUEUE, NODE = "dncfloor", "dncfloorq", "dncfloor-node"
US_NUMBER, FR_NUMBER = "+12125559802", "+33140009802"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _clean(url: str) -> None:
    query(url, "DELETE FROM calls WHERE node_id = %s", NODE)
    query(url, "DELETE FROM dnc_entries WHERE number IN (%s, %s)", US_NUMBER, FR_NUMBER)
    query(url, "DELETE FROM queues WHERE name = %s", QUEUE)
    query(url, "DELETE FROM disposition_sets WHERE name = %s", SET)
    query(url, "DELETE FROM nodes WHERE id = %s", NODE)


@pytest.fixture
def catalogue(database_url: str) -> Iterator[list[str]]:
    _clean(database_url)
    engine = sync_engine(database_url)
    try:
        add_set(engine, SET, None)
        warnings = add_code(
            engine, SET, "nocall30", {"label": "No calls for 30 days", "actions": [
                {"do": "dnc", "days": 30}
            ]},
        )  # fmt: skip
    finally:
        engine.dispose()
    query(database_url, "INSERT INTO queues (name, disposition_set) VALUES (%s, %s)", QUEUE, SET)
    query(database_url, "INSERT INTO nodes (id) VALUES (%s)", NODE)
    yield warnings
    _clean(database_url)


def outbound_call(url: str, number: str) -> str:
    call_id = uuid.uuid4()
    query(
        url,
        "INSERT INTO calls (id, node_id, channel_id, direction, dialed_number, queue, arrived_at) "
        "VALUES (%s, %s, %s, 'outbound', %s, %s, %s)",
        call_id,
        NODE,
        f"dncfloor-{call_id}",
        number,
        QUEUE,
        T0 - timedelta(minutes=5),
    )
    return str(call_id)


def code(url: str, call_id: str) -> Any:
    async def main() -> Any:
        engine = async_engine(async_url(url))
        try:
            return await set_disposition(
                engine, code="nocall30", call_id=call_id, operator="test", now=T0, region="US"
            )
        finally:
            await engine.dispose()

    return asyncio.run(main())


def listed(url: str, number: str, at: datetime) -> bool:
    """Both readers of the list agree: the callbacks' ``dnc_entry`` and the dialer's gate facts."""

    async def main() -> tuple[bool, bool]:
        engine = async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                entry = await dnc_entry(connection, number, at)
                facts, _ = await _dnc_facts(connection, [number], at, None)
        finally:
            await engine.dispose()
        return entry is not None, facts[number].internal_until is not None

    by_entry, by_gate = asyncio.run(main())
    assert by_entry == by_gate
    return by_entry


def test_defining_dnc_30_warns_that_us_numbers_get_five_years(
    database_url: str, catalogue: list[str]
) -> None:
    (warning,) = catalogue
    assert "dnc:30" in warning and "5 years" in warning
    engine = sync_engine(database_url)
    try:
        longer = change_code(engine, SET, "nocall30", {"actions": [{"do": "dnc", "days": 2000}]})
        shorter = change_code(engine, SET, "nocall30", {"actions": [{"do": "dnc", "days": 7}]})
        label_only = change_code(engine, SET, "nocall30", {"label": "No calls"})
    finally:
        engine.dispose()
    assert longer == [] and label_only == []
    assert len(shorter) == 1 and "dnc:7" in shorter[0]


def test_a_us_number_coded_dnc_30_stays_on_the_list_for_five_years(
    database_url: str, catalogue: list[str]
) -> None:
    call_id = code(database_url, outbound_call(database_url, US_NUMBER)).call_id
    (entry,) = query(database_url, "SELECT * FROM dnc_entries WHERE number = %s", US_NUMBER)
    assert entry["list_name"] == "internal" and entry["reason"] == "disposition"
    assert entry["expires_at"] == T0 + timedelta(days=US_DNC_DAYS)
    assert listed(database_url, US_NUMBER, T0 + timedelta(days=30))
    assert listed(database_url, US_NUMBER, T0 + timedelta(days=31))
    assert listed(database_url, US_NUMBER, T0.replace(year=2030))  # 4 years on
    assert listed(database_url, US_NUMBER, T0.replace(year=2031) - timedelta(seconds=1))
    assert not listed(database_url, US_NUMBER, T0.replace(year=2031) + timedelta(days=1))
    # The call's event says what the code asked and why it was lengthened.
    (event,) = query(
        database_url,
        "SELECT data FROM call_events WHERE call_id = %s AND type = 'ACTION_DNC'",
        call_id,
    )
    assert event["data"]["asked_days"] == 30 and "64.1200(d)(6)" in event["data"]["law"]


def test_a_french_number_coded_dnc_30_leaves_the_list_after_30_days(
    database_url: str, catalogue: list[str]
) -> None:
    code(database_url, outbound_call(database_url, FR_NUMBER))
    (entry,) = query(database_url, "SELECT * FROM dnc_entries WHERE number = %s", FR_NUMBER)
    assert entry["expires_at"] == T0 + timedelta(days=30)
    assert listed(database_url, FR_NUMBER, T0 + timedelta(days=29))
    assert not listed(database_url, FR_NUMBER, T0 + timedelta(days=30))
    assert not listed(database_url, FR_NUMBER, T0 + timedelta(days=31))


def test_a_longer_entry_is_never_shortened_by_a_later_code(
    database_url: str, catalogue: list[str]
) -> None:
    query(
        database_url,
        "INSERT INTO dnc_entries (list_name, number, added_at, expires_at) "
        "VALUES ('internal', %s, %s, %s)",
        US_NUMBER,
        T0,
        T0 + timedelta(days=4000),
    )
    code(database_url, outbound_call(database_url, US_NUMBER))
    (entry,) = query(database_url, "SELECT * FROM dnc_entries WHERE number = %s", US_NUMBER)
    assert entry["expires_at"] == T0 + timedelta(days=4000)
