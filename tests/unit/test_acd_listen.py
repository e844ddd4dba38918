"""The ACD's LISTEN connection (a CLI change reloads agents and queues) waits on its socket:
a notification is taken at once, and an idle wait does no work (psycopg's own notifies()
looked every 0.1 s)."""

from __future__ import annotations

import asyncio

import psycopg

from ari_app.acd import _readable
from db.driver import driver_dsn


async def test_a_notification_wakes_the_wait_and_nothing_else_does(database_url: str) -> None:
    url = driver_dsn(database_url)
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as cli,
    ):
        await listener.execute("LISTEN sb_test_listen")
        waiting = asyncio.create_task(_readable(listener.fileno()))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # nothing to read: still waiting, no polling
        await cli.execute("SELECT pg_notify('sb_test_listen', 'agent:ann')")
        await asyncio.wait_for(waiting, 5)
        got = [n.payload async for n in listener.notifies(timeout=0)]
        assert got == ["agent:ann"]
        # Read: the next wait waits again.
        again = asyncio.create_task(_readable(listener.fileno()))
        await asyncio.sleep(0.3)
        assert not again.done()
        again.cancel()
