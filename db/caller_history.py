"""A caller's recent calls and open callbacks: what the screen pop reads while an agent's
phone rings, once per offer.

Both reads go on one kept connection of their own (autocommit, statements prepared once by
the driver, the two sent in one pipeline): through a pooled SQLAlchemy connection they cost
a checkout with its liveness ping and two statements built and bridged each time, a fair
share of the app's CPU per call. A failed read drops the connection; the next one connects
again. The reads are bounded in time: a slow database must not hold a call's ring."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from db.driver import driver_dsn

_RECENT_CALLS = (
    "SELECT id, arrived_at, queue, agent, queue_exit, outcome, ivr_path FROM calls "
    "WHERE caller_number = %s AND id <> %s ORDER BY arrived_at DESC LIMIT %s"
)
_OPEN_CALLBACKS = (
    "SELECT id, requested_at, queue FROM callback_requests "
    "WHERE number = %s AND status = 'pending' ORDER BY requested_at"
)


@dataclass(frozen=True)
class PastCall:
    id: uuid.UUID
    arrived_at: datetime
    queue: str | None
    agent: str | None
    queue_exit: str | None
    outcome: str | None
    ivr_path: Any


@dataclass(frozen=True)
class OpenCallback:
    id: uuid.UUID
    requested_at: datetime
    queue: str | None


class CallerHistory:
    def __init__(self, database_url: str, timeout_s: float = 2.0) -> None:
        self._conninfo = driver_dsn(database_url)
        self._timeout_s = timeout_s
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()  # one read at a time on the one connection

    async def read(
        self, caller_number: str, call_id: str, limit: int
    ) -> tuple[list[PastCall], list[OpenCallback]]:
        """The caller's latest ``limit`` calls but this one (newest first) and their pending
        callbacks (oldest first)."""
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self._read(caller_number, call_id, limit)
            except BaseException:
                await self.close()
                raise

    async def _read(
        self, caller_number: str, call_id: str, limit: int
    ) -> tuple[list[PastCall], list[OpenCallback]]:
        connection = self._connection
        if connection is None:
            connection = self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, prepare_threshold=0
            )
        async with connection.pipeline():
            calls = await connection.execute(
                _RECENT_CALLS, (caller_number, uuid.UUID(call_id), limit)
            )
            callbacks = await connection.execute(_OPEN_CALLBACKS, (caller_number,))
        return (
            [PastCall(*row) for row in await calls.fetchall()],
            [OpenCallback(*row) for row in await callbacks.fetchall()],
        )

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
