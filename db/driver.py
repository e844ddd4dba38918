"""The driver's own connection under a SQLAlchemy one, for the hot paths that send prepared
SQL text to psycopg directly (in the same transaction)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection as DriverConnection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection


def driver_dsn(database_url: str) -> str:
    """The application's database URL as psycopg takes it (for a connection of its own)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def driver_of(connection: AsyncConnection) -> DriverConnection[Any]:
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - the pool always has one
        raise RuntimeError("no database connection under the transaction")
    return driver  # type: ignore[no-any-return]
