"""Alembic: up, down, up again, and the models agree with the migrations."""

from __future__ import annotations

import pytest

from db import migrate
from tests.support import query

pytestmark = pytest.mark.integration

CORE_TABLES = {"nodes", "calls", "call_legs", "call_events"}


def tables(url: str) -> set[str]:
    rows = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


def test_upgrade_downgrade_upgrade_and_no_drift(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    assert tables(url) >= CORE_TABLES
    assert migrate.current_revision(url) == migrate.head_revision(url)

    migrate.downgrade(url, "base")
    assert tables(url) <= {"alembic_version"}
    assert migrate.current_revision(url) is None

    migrate.upgrade(url)
    assert tables(url) >= CORE_TABLES
    assert migrate.drift(url) == []


def test_the_database_refuses_an_impossible_call(database_url: str) -> None:
    import psycopg

    query(database_url, "INSERT INTO nodes (id) VALUES ('ck-node') ON CONFLICT DO NOTHING")
    with pytest.raises(psycopg.errors.CheckViolation):
        query(
            database_url,
            "INSERT INTO calls (id, node_id, channel_id, direction, arrived_at, ended_at) "
            "VALUES (gen_random_uuid(), 'ck-node', 'ck-1', 'inbound', now(), "
            "now() - interval '1 minute')",
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        query(
            database_url,
            "INSERT INTO calls (id, node_id, channel_id, direction, arrived_at) "
            "VALUES (gen_random_uuid(), 'ck-node', 'ck-2', 'sideways', now())",
        )
