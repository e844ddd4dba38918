"""Reads and writes of call records. Every write is idempotent, so a retry is harmless."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Call, CallbackRequest, CallEvent, CallLeg, Node
from switchboard.calls.record import CallEventRecord, CallRecord


@dataclass(frozen=True)
class LiveCall:
    """A call the database still thinks is in progress."""

    id: uuid.UUID
    channel_id: str
    arrived_at: datetime
    last_event_at: datetime


class CallStore:
    def __init__(self, engine: AsyncEngine, node_id: str) -> None:
        self.engine = engine
        self.node_id = node_id

    async def register_node(self, asterisk_version: str | None) -> None:
        statement = insert(Node).values(
            id=self.node_id, hostname=socket.gethostname(), asterisk_version=asterisk_version
        )
        statement = statement.on_conflict_do_update(
            index_elements=[Node.id],
            set_={
                "hostname": statement.excluded.hostname,
                "asterisk_version": statement.excluded.asterisk_version,
                "last_seen_at": func.now(),
            },
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def save_call(self, record_row: dict[str, Any]) -> None:
        """Insert or update the call row from a full snapshot."""
        statement = insert(Call).values(**record_row)
        changing = {k: statement.excluded[k] for k in record_row if k != "id"}
        statement = statement.on_conflict_do_update(index_elements=[Call.id], set_=changing)
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def save_leg(self, leg_row: dict[str, Any]) -> None:
        statement = insert(CallLeg).values(**leg_row)
        changing = {k: statement.excluded[k] for k in leg_row if k not in ("channel_id",)}
        statement = statement.on_conflict_do_update(
            index_elements=[CallLeg.channel_id], set_=changing
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def append_event(self, event: CallEventRecord) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                insert(CallEvent).values(
                    call_id=event.call_id,
                    node_id=self.node_id,
                    occurred_at=event.occurred_at,
                    type=event.type,
                    channel_id=event.channel_id,
                    data=event.data,
                )
            )

    async def save_callback(self, row: dict[str, Any]) -> None:
        """Store a callback request; the id is ours, so a retried insert is a no-op."""
        statement = (
            insert(CallbackRequest)
            .values(**row)
            .on_conflict_do_nothing(index_elements=[CallbackRequest.id])
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def live_calls(self) -> list[LiveCall]:
        last_event = (
            select(func.max(CallEvent.occurred_at))
            .where(CallEvent.call_id == Call.id)
            .scalar_subquery()
        )
        query = select(Call.id, Call.channel_id, Call.arrived_at, last_event).where(
            Call.node_id == self.node_id, Call.ended_at.is_(None)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [LiveCall(r[0], r[1], r[2], r[3] or r[2]) for r in rows]

    async def close_call(
        self,
        call_id: uuid.UUID,
        *,
        ended_at: datetime,
        cause: int | None,
        cause_text: str,
        party: str,
        outcome: str,
    ) -> bool:
        """Close a call that is still open; returns False if someone closed it already."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(Call)
                .where(Call.id == call_id, Call.ended_at.is_(None))
                .values(
                    ended_at=func.greatest(ended_at, Call.arrived_at),
                    hangup_cause=cause,
                    hangup_cause_text=cause_text,
                    hangup_party=func.coalesce(Call.hangup_party, party),
                    outcome=outcome,
                )
            )
            if result.rowcount == 0:
                return False
            await connection.execute(
                update(CallLeg)
                .where(CallLeg.call_id == call_id, CallLeg.ended_at.is_(None))
                .values(ended_at=ended_at, hangup_cause=cause, hangup_cause_text=cause_text)
            )
            await connection.execute(
                insert(CallEvent).values(
                    call_id=call_id,
                    node_id=self.node_id,
                    occurred_at=ended_at,
                    type="RECONCILED",
                    data={"cause": cause, "cause_text": cause_text, "party": party},
                )
            )
        return True


def leg_row(record: CallRecord, channel_name: str | None, role: str) -> dict[str, Any]:
    return {
        "call_id": record.id,
        "channel_id": record.channel_id,
        "channel_name": channel_name,
        "role": role,
        "created_at": record.arrived_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "hangup_cause": record.hangup_cause,
        "hangup_cause_text": record.hangup_cause_text,
    }
