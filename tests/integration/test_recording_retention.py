"""The retention of recordings on the real PostgreSQL: what the keeper marks for deletion
(its own node's, past the retention, finished), and what it keeps (a voicemail whose
callback is still to be made, another node's, a recent one, one still being made)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from db.engine import async_engine
from db.recording_store import mark_expired
from tests.support import query

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


@pytest.fixture
def nodes(database_url: str) -> Iterator[None]:
    for node in ("keep-a", "keep-b"):
        query(database_url, "INSERT INTO nodes (id) VALUES (%s) ON CONFLICT DO NOTHING", node)
    yield
    query(database_url, "DELETE FROM callback_requests WHERE number = '+15558700101'")
    query(database_url, "DELETE FROM recordings WHERE node_id IN ('keep-a', 'keep-b')")


def recording(url: str, name: str, node: str, days_ago: float, *, ended: bool = True,
              kind: str = "call") -> uuid.UUID:  # fmt: skip
    made = NOW - timedelta(days=days_ago)
    rid = uuid.uuid4()
    query(
        url,
        "INSERT INTO recordings (id, kind, name, node_id, started_at, ended_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        rid,
        kind,
        name,
        node,
        made,
        made + timedelta(minutes=3) if ended else None,
    )
    return rid


def test_retention_marks_only_what_this_node_may_delete(database_url: str, nodes: None) -> None:
    url = database_url
    old = recording(url, "keep-old", "keep-a", 91)
    recording(url, "keep-recent", "keep-a", 89)
    recording(url, "keep-other-node", "keep-b", 120)
    recording(url, "keep-live", "keep-a", 100, ended=False)
    waiting = recording(url, "keep-vm-waiting", "keep-a", 95, kind="voicemail")
    called = recording(url, "keep-vm-called", "keep-a", 95, kind="voicemail")
    for rid, status in ((waiting, "pending"), (called, "done")):
        query(
            url,
            "INSERT INTO callback_requests (id, number, queue, source, requested_at, status, "
            "recording_id) VALUES (%s, '+15558700101', 'q', 'voicemail', now(), %s, %s)",
            uuid.uuid4(),
            status,
            rid,
        )

    async def run() -> int:
        engine = async_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            return await mark_expired(engine, "keep-a", timedelta(days=90))
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == 2
    marked = query(
        url,
        "SELECT id FROM recordings WHERE node_id IN ('keep-a', 'keep-b') "
        "AND deleted_at IS NOT NULL ORDER BY name",
    )
    assert {m["id"] for m in marked} == {old, called}
