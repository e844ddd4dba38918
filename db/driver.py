"""The driver's own connection under a SQLAlchemy one, for the hot paths that send prepared
SQL text to psycopg directly (in the same transaction)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection as DriverConnection
from sqlalchemy.ext.asyncio import AsyncConnection


async def driver_of(connection: AsyncConnection) -> DriverConnection[Any]:
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - the pool always has one
        raise RuntimeError("no database connection under the transaction")
    return driver  # type: ignore[no-any-return]
