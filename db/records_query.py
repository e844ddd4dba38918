"""Reads for the HTTP read API: agent segments and dispositions, filtered and paginated
(calls: ``db/call_query.py``; recordings: ``db/recording_store.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from db.models import AgentSegment, CallDisposition


def list_segments(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    agent: str | None = None,
    queue: str | None = None,
    call_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Agents' parts in calls (offered, answered, ended, wrap-up), latest offer first."""
    query = select(
        AgentSegment.call_id,
        AgentSegment.seq,
        AgentSegment.agent,
        AgentSegment.kind,
        AgentSegment.queue,
        AgentSegment.offered_at,
        AgentSegment.answered_at,
        AgentSegment.ended_at,
        AgentSegment.end_reason,
        AgentSegment.ring_seconds,
        AgentSegment.talk_seconds,
        AgentSegment.hold_seconds,
        AgentSegment.hold_count,
        AgentSegment.wrap_up_seconds,
    ).order_by(AgentSegment.offered_at.desc(), AgentSegment.call_id, AgentSegment.seq)
    if since is not None:
        query = query.where(AgentSegment.offered_at >= since)
    if until is not None:
        query = query.where(AgentSegment.offered_at < until)
    if agent is not None:
        query = query.where(AgentSegment.agent == agent)
    if queue is not None:
        query = query.where(AgentSegment.queue == queue)
    if call_id is not None:
        query = query.where(AgentSegment.call_id == call_id)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit).offset(offset))]


def list_dispositions(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    agent: str | None = None,
    code: str | None = None,
    call_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Codes set on calls (the platform's and people's), latest first."""
    query = select(
        CallDisposition.call_id,
        CallDisposition.code_set,
        CallDisposition.code,
        CallDisposition.set_by,
        CallDisposition.agent,
        CallDisposition.set_at,
        CallDisposition.note,
        CallDisposition.callback_at,
    ).order_by(CallDisposition.set_at.desc(), CallDisposition.id.desc())
    if since is not None:
        query = query.where(CallDisposition.set_at >= since)
    if until is not None:
        query = query.where(CallDisposition.set_at < until)
    if agent is not None:
        query = query.where(CallDisposition.agent == agent)
    if code is not None:
        query = query.where(CallDisposition.code == code)
    if call_id is not None:
        query = query.where(CallDisposition.call_id == call_id)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit).offset(offset))]
