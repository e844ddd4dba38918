"""Record operations: what the app asks to be stored, as data that can be spooled to disk,
replayed after a crash and applied to PostgreSQL in batches.

Every operation is idempotent (an upsert keyed by an id the app chose, or an insert that
ignores an id it already holds), so applying one twice stores it once.

Text is stored exactly as handed over (any Unicode: quotes, backslashes, SQL, escape
sequences, emoji), with one exception: PostgreSQL cannot store the NUL character (U+0000) in
text or JSONB, so a NUL anywhere in a row (a caller name, a value or key in event data) is
stored as U+FFFD, the replacement character, rather than the whole record being refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from psycopg import AsyncConnection as DriverConnection
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, case, func, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.disposition_store import system_dispositions
from db.driver import driver_of
from db.models import Agent as AgentRow
from db.models import (
    AgentEvent,
    AgentSegment,
    Call,
    CallbackRequest,
    CallEvent,
    CallLeg,
    CallSurvey,
    DialAttempt,
    DncEntry,
    Lead,
    QueueVisit,
    Recording,
)

Kind = Literal[
    "call",
    "leg",
    "recording",
    "callback",
    "event",
    "disposition",
    "call_patch",
    "agent_event",
    "agent_state",
    "attempt",
    "lead",
    "survey",
    "visit",
    "segment",
    "segment_wrap_up",
    "dnc_entry",
]
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True)
class RecordOp:
    kind: Kind
    row: dict[str, Any]

    @property
    def what(self) -> str:
        key = self.row.get("id") or self.row.get("uid") or self.row.get("channel_id") or ""
        return f"{self.kind} {key}"


class BadRecordOp(ValueError):
    """A spooled line that is not an operation (a bug, or a damaged file)."""


# --- the spool's line format ----------------------------------------------------------------


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$uuid" in obj:
            return uuid.UUID(obj["$uuid"])
    return obj


def encode(op: RecordOp) -> bytes:
    text = json.dumps([op.kind, op.row], default=_tag, ensure_ascii=True, separators=(",", ":"))
    return text.encode("ascii")


def decode(line: bytes) -> RecordOp:
    try:
        kind, row = json.loads(line, object_hook=_untag)
    except (ValueError, TypeError) as exc:
        raise BadRecordOp(f"not a record operation: {line[:80]!r}") from exc
    if kind not in KINDS or not isinstance(row, dict):
        raise BadRecordOp(f"unknown record operation {kind!r}")
    return RecordOp(kind, row)


# --- applying a batch -----------------------------------------------------------------------

# Rows that others point to go first; within a kind, the order of hand-over is kept.
_ORDER: dict[str, int] = {kind: i for i, kind in enumerate(KINDS)}


def _last_by(rows: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Snapshots of the same row: only the last counts (each one is complete)."""
    latest: dict[Any, dict[str, Any]] = {}
    for row in rows:
        latest.pop(row[key], None)
        latest[row[key]] = row
    return list(latest.values())


NUL = "\x00"
NUL_STORED_AS = "\ufffd"


def storable(value: Any) -> Any:
    """``value`` as PostgreSQL can store it: NUL characters in text, in lists and in mapping
    keys and values replaced with U+FFFD; everything else as it is. A new object when
    something changed (the operation itself stays as it was handed over)."""
    if isinstance(value, str):
        return value.replace(NUL, NUL_STORED_AS) if NUL in value else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, tuple):
        return tuple(storable(v) for v in value)
    return value


async def apply_ops(connection: AsyncConnection, ops: list[RecordOp]) -> None:
    """Apply a batch in the caller's transaction.

    The kinds every call writes (snapshots, events, agent states) go straight to the driver
    as one prepared statement per table and set of columns, sent with ``executemany`` in
    one pipeline: building SQLAlchemy statements for them cost more CPU than the database's
    work. The rare kinds keep SQLAlchemy. Both run in the same transaction."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for op in sorted(ops, key=lambda o: _ORDER[o.kind]):  # sorted() is stable
        by_kind.setdefault(op.kind, []).append(storable(op.row))
    driver: DriverConnection[Any] | None = None
    for kind, rows in by_kind.items():
        direct = _DIRECT.get(kind)
        if direct is None:
            await _APPLY[kind](connection, rows)
            continue
        if driver is None:
            driver = await driver_of(connection)
        await direct(driver, rows)


class _Table:
    """One table's statements as SQL text, built once per set of columns."""

    def __init__(self, model: Any) -> None:
        table = model.__table__
        self.name = table.name
        self.columns = frozenset(c.name for c in table.columns)
        self.json = frozenset(c.name for c in table.columns if isinstance(c.type, JSON))
        self._sql: dict[tuple[str, str, tuple[str, ...], bool], str] = {}

    def _checked(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(columns) - self.columns
        if unknown:  # a bug or a damaged spool line: never let it into SQL text
            raise BadRecordOp(f"{self.name} has no column {sorted(unknown)[0]!r}")
        return columns

    def insert(self, key: str, columns: tuple[str, ...], *, replace: bool) -> str:
        """INSERT ... ON CONFLICT on ``key``: the row replaced (a snapshot) or left as it
        is (an insert that ignores an id it already holds)."""
        found = self._sql.get(("insert", key, columns, replace))
        if found is None:
            names = ", ".join(f'"{c}"' for c in self._checked(columns))
            values = ", ".join(["%s"] * len(columns))
            changes = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != key)
            action = f"DO UPDATE SET {changes}" if replace and changes else "DO NOTHING"
            found = (
                f'INSERT INTO "{self.name}" ({names}) VALUES ({values}) '
                f'ON CONFLICT ("{key}") {action}'
            )
            self._sql[("insert", key, columns, replace)] = found
        return found

    def update(self, key: str, columns: tuple[str, ...]) -> str:
        found = self._sql.get(("update", key, columns, False))
        if found is None:
            changes = ", ".join(f'"{c}" = %s' for c in self._checked(columns))
            found = f'UPDATE "{self.name}" SET {changes} WHERE "{self._checked((key,))[0]}" = %s'
            self._sql[("update", key, columns, False)] = found
        return found

    def values(self, row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
        # A JSON column's value is sent as JSON, None included (as SQLAlchemy stores it).
        return tuple(Jsonb(row[c]) if c in self.json else row[c] for c in columns)


def _by_columns(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups


async def _direct_insert(
    driver: DriverConnection[Any],
    table: _Table,
    key: str,
    rows: list[dict[str, Any]],
    *,
    replace: bool,
) -> None:
    """Snapshots (``replace``): only the last of a row counts; new rows otherwise."""
    async with driver.cursor() as cursor:
        for columns, group in _by_columns(_last_by(rows, key) if replace else rows).items():
            await cursor.executemany(
                table.insert(key, columns, replace=replace),
                [table.values(r, columns) for r in group],
            )


async def _direct_update(
    driver: DriverConnection[Any], table: _Table, key: str, rows: list[dict[str, Any]]
) -> None:
    """One update per row, in the order given: rows in a run with the same columns go in
    one ``executemany``."""
    runs: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    for row in rows:
        columns = tuple(sorted(c for c in row if c != key))
        if not runs or runs[-1][0] != columns:
            runs.append((columns, []))
        runs[-1][1].append((*table.values(row, columns), row[key]))
    async with driver.cursor() as cursor:
        for columns, params in runs:
            await cursor.executemany(table.update(key, columns), params)


# The end of an agent's wrap-up after their part of a call: on their ended segments of that
# call that have none yet (never before the segment's end; a supervisor's are not theirs).
_SEGMENT_WRAP_UP = (
    "UPDATE agent_segments SET wrap_up_ended_at = %(at)s "
    "WHERE call_id = %(call_id)s AND agent = %(agent)s AND answered_at IS NOT NULL "
    "AND ended_at IS NOT NULL AND ended_at <= %(at)s AND wrap_up_ended_at IS NULL "
    "AND kind <> 'supervisor'"
)


async def _segment_wrap_ups(driver: DriverConnection[Any], rows: list[dict[str, Any]]) -> None:
    async with driver.cursor() as cursor:
        await cursor.executemany(
            _SEGMENT_WRAP_UP,
            [{"at": r["at"], "call_id": r["call_id"], "agent": r["agent"]} for r in rows],
        )


_CALLS, _LEGS, _EVENTS = _Table(Call), _Table(CallLeg), _Table(CallEvent)
_AGENT_EVENTS, _AGENTS = _Table(AgentEvent), _Table(AgentRow)
_VISITS, _SEGMENTS = _Table(QueueVisit), _Table(AgentSegment)

DirectApply = Callable[[DriverConnection[Any], list[dict[str, Any]]], Awaitable[None]]
_DIRECT: dict[str, DirectApply] = {
    "call": lambda d, rows: _direct_insert(d, _CALLS, "id", rows, replace=True),
    "leg": lambda d, rows: _direct_insert(d, _LEGS, "channel_id", rows, replace=True),
    "event": lambda d, rows: _direct_insert(d, _EVENTS, "uid", rows, replace=False),
    "agent_event": lambda d, rows: _direct_insert(d, _AGENT_EVENTS, "uid", rows, replace=False),
    "agent_state": lambda d, rows: _direct_update(d, _AGENTS, "name", _last_by(rows, "name")),
    "visit": lambda d, rows: _direct_insert(d, _VISITS, "id", rows, replace=True),
    "segment": lambda d, rows: _direct_insert(d, _SEGMENTS, "id", rows, replace=True),
    # Patches of a call row (its wrap-up's end), in the order they came.
    "call_patch": lambda d, rows: _direct_update(d, _CALLS, "id", rows),
    "segment_wrap_up": _segment_wrap_ups,
}


async def _upsert(
    connection: AsyncConnection, table: Any, key: Any, rows: list[dict[str, Any]]
) -> None:
    # One statement per set of columns (snapshots of one kind normally share them all).
    for columns, group in _by_columns(_last_by(rows, key.key)).items():
        await connection.execute(_upsert_statement(table, key, columns), group)


_UPSERTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _upsert_statement(table: Any, key: Any, columns: tuple[str, ...]) -> Any:
    """The INSERT ... ON CONFLICT DO UPDATE for one table and set of columns, built once:
    building it (its ``excluded`` columns) cost more CPU than sending a batch."""
    cache_key = (table.__tablename__, key.key, columns)
    statement = _UPSERTS.get(cache_key)
    if statement is None:
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[key],
            set_={c: statement.excluded[c] for c in columns if c != key.key},
        )
        _UPSERTS[cache_key] = statement
    return statement


async def _insert_new(
    connection: AsyncConnection, table: Any, key: Any, rows: list[dict[str, Any]]
) -> None:
    await connection.execute(insert(table).on_conflict_do_nothing(index_elements=[key]), rows)


async def _recordings(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await _upsert(connection, Recording, Recording.id, rows)


async def _callbacks(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await _insert_new(connection, CallbackRequest, CallbackRequest.id, rows)


async def _dispositions(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    # Copies: the rows stay as they are for a retry of the batch.
    await system_dispositions(connection, [dict(row) for row in rows])


async def _attempts(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    # Updates of an attempt row the claim wrote; later ones add to earlier ones.
    for row in rows:
        values = {k: v for k, v in row.items() if k != "id"}
        await connection.execute(
            update(DialAttempt).where(DialAttempt.id == row["id"]).values(**values)
        )


async def _leads(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    # A lead's fate after an attempt; only while the lease is still this attempt's.
    for row in rows:
        values = {k: v for k, v in row.items() if k not in ("id", "lease_owner_was")}
        await connection.execute(
            update(Lead)
            .where(Lead.id == row["id"], Lead.lease_owner == row["lease_owner_was"])
            .values(**values)
        )


async def _surveys(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await _upsert(connection, CallSurvey, CallSurvey.call_id, rows)


async def _dnc_entries(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Numbers put on a do-not-call list by the callee (an opt-out key): the longer ban wins
    over an entry already there; "for good" (no end) beats any date."""
    for row in rows:
        statement = insert(DncEntry).values(**row)
        old, new = DncEntry.expires_at, statement.excluded.expires_at
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[DncEntry.list_name, DncEntry.number],
                set_={
                    "expires_at": case(
                        (or_(old.is_(None), new.is_(None)), None),
                        else_=func.greatest(old, new),
                    ),
                    "reason": statement.excluded.reason,
                    "call_id": statement.excluded.call_id,
                },
            )
        )


_APPLY = {
    "recording": _recordings,
    "callback": _callbacks,
    "disposition": _dispositions,
    "attempt": _attempts,
    "lead": _leads,
    "survey": _surveys,
    "dnc_entry": _dnc_entries,
}
