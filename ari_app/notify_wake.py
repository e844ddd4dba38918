"""Wake a background task when PostgreSQL says so: LISTEN on a channel, set an event on
each NOTIFY (and once on every (re)connection, for whatever came while not listening)."""

from __future__ import annotations

import asyncio

import psycopg
import structlog

from db.driver import driver_dsn

log = structlog.get_logger(__name__)


async def wake_on_notify(database_url: str, channel: str, wake: asyncio.Event) -> None:
    """Runs until cancelled; a lost connection is made again after 2 s."""
    url = driver_dsn(database_url)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {channel}")
                wake.set()
                async for _note in conn.notifies():
                    wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("notify.listen_failed", channel=channel, error=str(exc)[:200])
            await asyncio.sleep(2)
