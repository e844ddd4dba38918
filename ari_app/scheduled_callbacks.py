"""Callbacks promised for later (a disposition's callback, a caller's request in the IVR):
when one is due, the customer waits in its queue like a caller would, and when an agent is
free the agent is rung first, then the customer (ari_app/callback_call.py).

Nothing is dialed past the do-not-call lists: a number on one is held until the entry
expires (or cancelled, when it is there for good), and that is written on the call's log.
Requests are claimed with ``FOR UPDATE SKIP LOCKED``, so two instances never dial one twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.acd import AcdRuntime, JoinRefused
from ari_app.callback_call import CallbackRunner
from ari_app.session import utcnow
from callcenter.acd.agents import AgentState
from callcenter.calls.numbers import normalize
from callcenter.calls.record import CallEventRecord
from db.call_store import event_op
from db.disposition_store import dnc_entry
from db.models import Call, CallbackRequest, Recording
from db.writer import RecordWriter

if TYPE_CHECKING:
    from ari_app.client import AriClient
    from ari_app.registry import CallRegistry

log = structlog.get_logger(__name__)

SOURCES = ("ivr", "disposition", "voicemail")
RETRY_LATER = timedelta(minutes=1)


class CallbackScheduler:
    def __init__(
        self,
        acd: AcdRuntime,
        registry: CallRegistry,
        ari: AriClient,
        engine: AsyncEngine,
        writer: RecordWriter,
        *,
        node_id: str,
        region: str,
        clock: Callable[[], datetime],
        poll_seconds: float = 2.0,
    ) -> None:
        self.acd = acd
        self.registry = registry
        self.ari = ari
        self.engine = engine
        self.writer = writer
        self.node_id = node_id
        self.region = region
        self.clock = clock
        self.poll_seconds = poll_seconds

    async def run(self) -> None:
        await self.acd.loaded.wait()
        while True:
            try:
                await self.once()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("callbacks.database_unavailable", error=str(exc)[:200])
            except Exception:
                log.exception("callbacks.failed")
            await asyncio.sleep(self.poll_seconds)

    async def once(self) -> int:
        """Start what is due now; returns how many callbacks started."""
        if not self.acd.outbound_uri:
            return 0
        now = self.clock()
        started = 0
        async with self.engine.begin() as connection:
            due = (
                await connection.execute(
                    select(
                        CallbackRequest,
                        # A voicemail's message, played to the agent before the dial.
                        select(Recording.name)
                        .where(Recording.id == CallbackRequest.recording_id)
                        .scalar_subquery()
                        .label("message"),
                    )
                    .where(
                        CallbackRequest.status == "pending",
                        CallbackRequest.source.in_(SOURCES),
                        or_(CallbackRequest.due_at.is_(None), CallbackRequest.due_at <= now),
                    )
                    .order_by(CallbackRequest.due_at.nulls_first(), CallbackRequest.requested_at)
                    .limit(20)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for request in due:
                number = normalize(request.number, self.region) or request.number
                blocked = await dnc_entry(connection, number, now)
                if blocked is not None:
                    until = blocked.expires_at
                    values: dict[str, Any] = (
                        {"due_at": until} if until is not None else {"status": "cancelled"}
                    )
                    await connection.execute(
                        update(CallbackRequest)
                        .where(CallbackRequest.id == request.id)
                        .values(**values)
                    )
                    self._event(
                        request,
                        "CALLBACKHELD" if until is not None else "CALLBACKCANCELLED",
                        reason=f"do-not-call list {blocked.list_name}",
                        until=until.isoformat() if until is not None else None,
                    )
                    log.info("callbacks.dnc", request=str(request.id), until=str(until))
                    continue
                # A callback an agent coded on an inbound call rings the caller's own caller
                # ID back: as untrusted as a number the caller keyed (it can be forged).
                from_caller = request.source != "disposition" or (
                    request.call_id is not None
                    and (
                        await connection.execute(
                            select(Call.direction).where(Call.id == request.call_id)
                        )
                    ).scalar()
                    != "outbound"
                )
                if not self._start(request, now, from_caller, request.message):
                    await connection.execute(
                        update(CallbackRequest)
                        .where(CallbackRequest.id == request.id)
                        .values(due_at=now + RETRY_LATER)
                    )
                    continue
                await connection.execute(
                    update(CallbackRequest)
                    .where(CallbackRequest.id == request.id)
                    .values(status="dialing")
                )
                started += 1
        return started

    def _start(
        self, request: Any, now: datetime, from_caller: bool = True, message: str | None = None
    ) -> bool:
        queue = request.queue
        origin = request.call_id or request.id
        key = str(origin)
        if not queue or key in self.acd.calls:
            return False
        kept_for = request.agent
        if kept_for is not None:
            agent = self.acd.agents.get(kept_for)
            state = self.acd.queues.get(queue)
            if agent is None:
                kept_for = None  # the agent is gone: the callback goes to the queue
            elif (
                agent.state is AgentState.LOGGED_OUT
                or state is None
                or kept_for not in state.members
            ):
                return False  # it waits for its agent (logged in, in its queue)

        def log_event(kind: str, data: dict[str, Any]) -> None:
            self._event(request, kind, **data)

        runner = CallbackRunner(
            self.acd,
            self.registry,
            self.ari,
            origin,
            log_event,
            request.id,
            request.number,
            queue,
            now,
            0,
        )
        runner.caller_supplied = from_caller
        runner.message = message
        # A voicemail's callback keeps the caller's age: in the queue from when they called.
        arrived = request.due_at or (
            request.requested_at if request.source == "voicemail" else None
        )
        try:
            position = self.acd.join(
                key, queue, 0, {}, runner.deliver, arrived=arrived, only_agent=kept_for
            )
        except JoinRefused as exc:
            log.info("callbacks.queue_refused", request=str(request.id), reason=str(exc))
            return False
        runner.position = position
        self.acd.start_callback(runner)
        self._event(request, "CALLBACKQUEUED", queue=queue, position=position, agent=kept_for)
        return True

    def _event(self, request: Any, kind: str, **data: Any) -> None:
        if request.call_id is None:
            return
        with contextlib.suppress(ValueError):
            event = CallEventRecord(
                uuid.UUID(str(request.call_id)),
                utcnow(),
                kind,
                None,
                {"callback": str(request.id), **data},
            )
            self.writer.submit(event_op(self.node_id, event))
