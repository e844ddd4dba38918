"""Recordings: found and listed by the CLI and the API, purged in two steps.

Purging marks a recording (``deleted_at``); the app of the node that holds its file deletes
the file through ARI, then the row (``ari_app/recording_keeper.py``), so a purge asked from
anywhere reaches the right machine and a file is never left without the row that names it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Call, CallbackRequest, Recording

CHANNEL = "switchboard_recordings"


class RecordingError(ValueError):
    """A recording request that cannot be carried out (the message says why)."""


_COLUMNS = (
    Recording.id,
    Recording.kind,
    Recording.name,
    Recording.format,
    Recording.call_id,
    Recording.node_id,
    Recording.queue,
    Recording.agent,
    Recording.started_at,
    Recording.ended_at,
    Recording.duration_seconds,
    Recording.paused_seconds,
    Recording.gaps,
)


def _listing() -> Any:
    callback = (
        select(CallbackRequest.status)
        .where(CallbackRequest.recording_id == Recording.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            *_COLUMNS,
            Call.caller_number,
            Call.caller_name,
            callback.label("callback_status"),
        )
        .outerjoin(Call, Call.id == Recording.call_id)
        .where(Recording.deleted_at.is_(None))
    )


def list_recordings(
    conn: Connection,
    *,
    queue: str | None = None,
    kind: str | None = None,
    call_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Recordings, newest first."""
    if kind is not None and kind not in ("call", "voicemail"):
        raise RecordingError(f"kind {kind!r}: call or voicemail")
    query = _listing().order_by(Recording.started_at.desc(), Recording.id)
    if queue is not None:
        query = query.where(Recording.queue == queue)
    if kind is not None:
        query = query.where(Recording.kind == kind)
    if call_id is not None:
        query = query.where(Recording.call_id == call_id)
    if since is not None:
        query = query.where(Recording.started_at >= since)
    if until is not None:
        query = query.where(Recording.started_at < until)
    rows = conn.execute(query.limit(limit).offset(offset))
    return [dict(row._mapping) for row in rows]


def find_recording(conn: Connection, key: str) -> dict[str, Any]:
    """A recording by its id, its name, or the id of its call (that call's recording)."""
    query = _listing()
    try:
        as_id = uuid.UUID(key)
    except ValueError:
        rows = conn.execute(query.where(Recording.name == key)).all()
    else:
        rows = conn.execute(
            query.where(or_(Recording.id == as_id, Recording.call_id == as_id)).order_by(
                (Recording.id == as_id).desc(), Recording.started_at
            )
        ).all()
    if not rows:
        raise RecordingError(f"no recording {key!r} (give its id, its name or its call's id)")
    return dict(rows[0]._mapping)


def request_purge(
    conn: Connection,
    *,
    older_than: timedelta | None = None,
    now: datetime | None = None,
    call_ids: Any = None,
    recording_ids: list[uuid.UUID] | None = None,
) -> int:
    """Mark recordings for deletion (the app holding each file deletes it, then its row):
    those started more than ``older_than`` before ``now``, those of ``call_ids`` (a list or
    a subquery of call ids), or those named. Returns how many were marked."""
    conditions = []
    if older_than is not None:
        if older_than <= timedelta(0):
            raise RecordingError("the age of recordings to purge must be more than zero")
        conditions.append(Recording.started_at < (now or func.now()) - older_than)
    if call_ids is not None:
        conditions.append(Recording.call_id.in_(call_ids))
    if recording_ids is not None:
        conditions.append(Recording.id.in_(recording_ids))
    if not conditions:
        raise RecordingError("say which recordings to purge")
    names = list(
        conn.execute(
            update(Recording)
            # A recording still being made is left alone (its next snapshot would bring it
            # back).
            .where(
                Recording.deleted_at.is_(None),
                Recording.ended_at.is_not(None),
                or_(*conditions),
            )
            .values(deleted_at=func.now())
            .returning(Recording.name)
        ).scalars()
    )
    marked = len(names)
    if marked:
        conn.execute(update(Call).where(Call.recording.in_(names)).values(recording=None))
        conn.execute(text(f"SELECT pg_notify('{CHANNEL}', 'purge')"))
    return int(marked)


def waiting_purge(conn: Connection) -> list[dict[str, Any]]:
    """Recordings marked for deletion whose file is not deleted yet, per node."""
    rows = conn.execute(
        select(Recording.node_id, func.count())
        .where(Recording.deleted_at.is_not(None))
        .group_by(Recording.node_id)
    )
    return [{"node_id": r[0], "count": int(r[1])} for r in rows]


# --- the keeper's side (the app, for its own node) ------------------------------------------


async def mark_expired(engine: AsyncEngine, node_id: str, retention: timedelta) -> int:
    """Recordings of this node past the retention: marked for deletion."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(Recording)
            .where(
                Recording.node_id == node_id,
                Recording.deleted_at.is_(None),
                Recording.ended_at.is_not(None),
                Recording.started_at < func.now() - retention,
                # A voicemail whose callback is still to be made is kept until it is made.
                ~Recording.id.in_(
                    select(CallbackRequest.recording_id).where(
                        and_(
                            CallbackRequest.recording_id.is_not(None),
                            CallbackRequest.status.in_(("pending", "dialing")),
                        )
                    )
                ),
            )
            .values(deleted_at=func.now())
        )
    return int(result.rowcount)


async def doomed(
    engine: AsyncEngine, node_id: str, limit: int = 200
) -> list[tuple[uuid.UUID, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Recording.id, Recording.name)
            .where(Recording.node_id == node_id, Recording.deleted_at.is_not(None))
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]


async def forget(engine: AsyncEngine, recording_id: uuid.UUID) -> None:
    """The file is gone: the row goes too."""
    async with engine.begin() as conn:
        await conn.execute(delete(Recording).where(Recording.id == recording_id))
