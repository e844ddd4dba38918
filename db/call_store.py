"""Reads and writes of call records. Every write is idempotent, so a retry is harmless."""

from __future__ import annotations

import contextlib
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.calls.dispositions import SYSTEM_SET, system_code
from callcenter.calls.numbers import normalize
from callcenter.calls.record import CallEventRecord, CallRecord
from db.models import (
    AgentSegment,
    Call,
    CallDisposition,
    CallEvent,
    CallLeg,
    Node,
    QueueVisit,
    Recording,
)
from db.record_ops import RecordOp, apply_ops


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
        # The writer's own connection, kept between batches (a pool checkout with its
        # liveness ping per batch cost a round trip each); a new one after any failure.
        self._writer_connection: AsyncConnection | None = None

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

    async def apply(self, ops: list[RecordOp]) -> None:
        """Store a batch of record operations in one transaction (the writer's path)."""
        connection = self._writer_connection
        if connection is None:
            connection = self._writer_connection = await self.engine.connect()
        try:
            async with connection.begin():
                await apply_ops(connection, ops)
        except BaseException:
            # Broken or not, it goes back to the pool (which tests it before lending it
            # again); the next batch starts on a connection that is known to work.
            self._writer_connection = None
            with contextlib.suppress(Exception):
                await connection.close()
            raise

    async def close(self) -> None:
        connection, self._writer_connection = self._writer_connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

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
            await close_journey(connection, call_id, ended_at)
            # A recording still open when the app went: it ended with the call.
            await connection.execute(
                update(Recording)
                .where(Recording.call_id == call_id, Recording.ended_at.is_(None))
                .values(ended_at=func.greatest(ended_at, Recording.started_at))
            )
            await connection.execute(
                insert(CallEvent).values(
                    uid=uuid.uuid5(call_id, "reconciled"),
                    call_id=call_id,
                    node_id=self.node_id,
                    occurred_at=ended_at,
                    type="RECONCILED",
                    data={"cause": cause, "cause_text": cause_text, "party": party},
                )
            )
            await connection.execute(
                insert(CallDisposition)
                .values(
                    uid=uuid.uuid5(call_id, "system-disposition"),
                    call_id=call_id,
                    code_set=SYSTEM_SET,
                    code="interrupted",
                    set_by="system",
                    set_at=ended_at,
                )
                .on_conflict_do_nothing(index_elements=[CallDisposition.uid])
            )
        return True


async def close_journey(connection: AsyncConnection, call_id: uuid.UUID, at: datetime) -> None:
    """A call closed without its handler (reconciliation): the queue it was waiting in was
    left (abandoned) and every agent's part of it ended then."""
    await connection.execute(
        update(QueueVisit)
        .where(QueueVisit.call_id == call_id, QueueVisit.exit.is_(None))
        .values(left_at=func.greatest(at, QueueVisit.entered_at), exit="abandoned")
    )
    await connection.execute(
        update(AgentSegment)
        .where(AgentSegment.call_id == call_id, AgentSegment.ended_at.is_(None))
        .values(
            ended_at=func.greatest(at, AgentSegment.offered_at),
            end_reason=case((AgentSegment.answered_at.is_(None), "canceled"), else_="call_ended"),
        )
    )


def call_op(record: CallRecord, region: str | None = None) -> RecordOp:
    """The call row's snapshot; with ``region``, also the caller's number in E.164 (read in
    that region's plan), the key a repeat caller is recognised by."""
    row = record.row()
    if region is not None:
        row["caller_e164"] = normalize(record.caller_number, region)
    return RecordOp("call", row)


def event_op(node_id: str, event: CallEventRecord) -> RecordOp:
    return RecordOp(
        "event",
        {
            "uid": event.uid,
            "call_id": event.call_id,
            "node_id": node_id,
            "occurred_at": event.occurred_at,
            "type": event.type,
            "channel_id": event.channel_id,
            "data": event.data,
        },
    )


def system_disposition_op(record: CallRecord, region: str) -> RecordOp:
    """The platform's outcome code for a call that ended (one per call: its id is derived
    from the call's, so a replay cannot add a second)."""
    return RecordOp(
        "disposition",
        {
            "uid": uuid.uuid5(record.id, "system-disposition"),
            "call_id": record.id,
            "code_set": SYSTEM_SET,
            "code": system_code(record),
            "set_by": "system",
            "set_at": record.ended_at,
            "number": normalize(
                record.dialed_number if record.direction == "outbound" else record.caller_number,
                region,
            ),
            "node_id": record.node_id,
        },
    )


def leg_op(record: CallRecord, channel_name: str | None, role: str) -> RecordOp:
    return RecordOp("leg", leg_row(record, channel_name, role))


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
