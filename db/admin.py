"""Create and drop whole databases (set-up and tests)."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


class DatabaseUnavailable(RuntimeError):
    pass


def _server_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    name = parsed.database or ""
    server = parsed.set(drivername="postgresql", database="postgres")
    return server.render_as_string(hide_password=False), name


def create_database_if_missing(url: str) -> bool:
    dsn, name = _server_dsn(url)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL ({first}). Is it running, and is DATABASE_URL right?"
        ) from exc


def drop_database(url: str) -> None:
    dsn, name = _server_dsn(url)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
