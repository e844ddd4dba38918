"""One campaign dial, from the claim to its end: what it does with its channel's events
before a call begins (answer, AMD, no answer), and the attempt and lead rows it leaves.

The dialer (``ari_app/dialer.py``) places attempts; the answered call is
``ari_app/campaign_call.py`` and an agent's preview dial ``ari_app/preview_call.py``. Each
of them sees the dialer only through ``AttemptDialer``, and an attempt sees a preview only
through ``PreviewLeg``, so none of these modules imports another back."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ari_app.client import AriClient, AriError
from ari_app.events import ChannelDestroyed, Event, StasisStart
from ari_app.session import CallSession, utcnow
from callcenter.calls.dispositions import CAUSE_BUSY, CONGESTION_CAUSES, NO_ANSWER_CAUSES
from callcenter.calls.record import CallRecord
from callcenter.outbound.pacing import DialResult, Pacer
from db.campaign_store import CampaignConfig, Claimed, lead_after
from db.record_ops import RecordOp
from db.writer import RecordWriter

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime
    from ari_app.registry import CallRegistry
    from ari_app.session import CallSink

log = structlog.get_logger(__name__)

AMD_CONTEXT = "switchboard-amd"


class AttemptDialer(Protocol):
    """What an attempt and the calls it becomes use of the dialer that placed it."""

    acd: AcdRuntime
    registry: CallRegistry
    ari: AriClient
    sink: CallSink
    writer: RecordWriter
    clock: Callable[[], datetime]

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None: ...

    def write(self, op: RecordOp) -> None: ...

    def write_attempt(self, attempt: Attempt, **values: Any) -> None: ...

    def forget(self, attempt: Attempt) -> None: ...

    def pacer(self, campaign: CampaignConfig) -> Pacer: ...


class PreviewLeg(Protocol):
    """An agent's preview dial, as the attempt that dials their customer sees it."""

    agent: str

    async def customer_failed(self) -> None: ...

    def take_agent(self, session: CallSession) -> tuple[str, str, datetime] | None: ...


def unanswered_result(cause: int | None) -> str:
    """An attempt's result from the cause of a dial that was never answered."""
    if cause == CAUSE_BUSY:
        return "busy"
    if cause in NO_ANSWER_CAUSES or cause in (0, 16, None):
        return "no_answer"
    if cause in CONGESTION_CAUSES:
        return "congestion"
    return "failed"


@dataclass
class Attempt:
    """One dial, from the claim to its end."""

    dialer: AttemptDialer
    campaign: CampaignConfig
    claimed: Claimed
    record: CallRecord
    placed: float  # monotonic
    answered: float | None = None
    done: bool = False
    preview: PreviewLeg | None = None  # an agent's preview dial: the agent is on the line
    connected: bool = False  # an agent took the answered call
    live: bool = True  # a person answered (not a machine)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.claimed.attempt_id)

    def deliver(self, event: Event) -> None:
        # Events arrive from the websocket reader: handle them on a task of their own.
        self.dialer.spawn(self._handle(event))

    async def _handle(self, event: Event) -> None:
        if self.done:
            return
        if isinstance(event, StasisStart) and event.channel.id == self.claimed.channel_id:
            role = event.args[0] if event.args else ""
            if role != "campaign-dial":
                return  # back from AMD: the registry makes it a call (may_start)
            self.answered = time.monotonic()
            self.record.answer(utcnow())
            self.dialer.write_attempt(self, answered_at=self.record.answered_at)
            if self.campaign.amd != "off":
                await self._detect_machine()
            else:
                self.dialer.registry.start_call(event)
        elif isinstance(event, ChannelDestroyed) and event.channel.id == self.claimed.channel_id:
            if self.dialer.registry.get(self.claimed.channel_id) is not None:
                return  # a call now: its flow reports the end
            self.unanswered(event.cause, event.cause_txt)

    async def _detect_machine(self) -> None:
        registry = self.dialer.registry
        registry.attach_target(self.claimed.channel_id, self, starts_call=True)
        try:
            await self.dialer.ari.post(
                f"/channels/{self.claimed.channel_id}/continue",
                context=AMD_CONTEXT,
                extension="s",
                priority=1,
            )
        except AriError as exc:
            log.warning("dialer.amd_failed", attempt=self.id, error=str(exc)[:200])

    def unanswered(self, cause: int | None, cause_text: str | None) -> None:
        """The dial ended before a call began (busy, no answer, refused, hung up in AMD)."""
        now = utcnow()
        result = unanswered_result(cause) if self.answered is None else "interrupted"
        record = self.record
        self.dialer.sink.save(record, None)
        ended = record.end(now, cause=cause, cause_text=cause_text or None, party="callee")
        if ended is not None:
            self.dialer.sink.log_event(ended)
        self.dialer.sink.save(record, None)
        self.dialer.sink.ended(record)
        ring = (self.answered or time.monotonic()) - self.placed
        seen: DialResult = "failed"
        if result in ("busy", "no_answer"):
            seen = "busy" if result == "busy" else "no_answer"
        self.dialer.pacer(self.campaign).on_dial_ended(time.monotonic(), seen, ring)
        self.finish(result, ended_at=now, hangup_cause=cause)
        if self.preview is not None:
            self.dialer.spawn(self.preview.customer_failed())

    def finish(self, result: str, **values: Any) -> None:
        """Write the attempt's result and what becomes of its lead; forget the attempt."""
        if self.done:
            return
        self.done = True
        values.setdefault("ended_at", utcnow())
        if self.record.answered_at is not None:
            values.setdefault("answered_at", self.record.answered_at)
        self.dialer.write(
            RecordOp("attempt", {"id": self.claimed.attempt_id, "result": result, **values})
        )
        lead = lead_after(self.campaign, result, self.claimed.attempts, self.dialer.clock())
        lead.update(id=self.claimed.lead_id, lease_owner_was=str(self.claimed.attempt_id))
        self.dialer.write(RecordOp("lead", lead))
        self.dialer.forget(self)
        log.info(
            "dialer.attempt_done",
            campaign=self.campaign.name,
            attempt=self.id,
            number=self.claimed.number,
            result=result,
        )
