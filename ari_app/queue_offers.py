"""A queued call and the agents' phones it rings: the state every part of a queue call
shares (``ari_app/queue_call.py`` puts the parts together), the offers' originates, and
their withdrawal. The data of a visit to a queue and of a ringing leg live here too."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ari_app.acd import (
    AcdRuntime,
    utcnow,
)
from ari_app.client import AriError, AriNotFound
from ari_app.registry import CallRegistry
from ari_app.screen_pop import screen_pop
from ari_app.session import CallSession
from callcenter.calls.record import CAUSE_NORMAL_CLEARING

log = structlog.get_logger(__name__)

# Ask the agent's phone to answer at once (the 2-second rule leaves no time to ring): the de
# facto Call-Info answer-after=0 that most desk and soft phones' auto-answer honours, and the
# Alert-Info form some phones want instead.
AUTO_ANSWER_HEADERS = {
    "PJSIP_HEADER(add,Call-Info)": "<sip:switchboard.invalid>;answer-after=0",
    "PJSIP_HEADER(add,Alert-Info)": "<http://switchboard.invalid>;info=alert-autoanswer;delay=0",
}


@dataclass
@dataclass
class Ringing:
    agent: str  # an agent's name, or "number:+..." for an outside party
    channel_id: str
    started: datetime
    external: bool = False


@dataclass
class QueueVisit:
    queue: str
    joined: datetime
    position: int
    ringing: dict[str, Ringing] = field(default_factory=dict)  # by channel id
    attempt: int = 0
    last_announce: datetime | None = None
    announcing: str | None = None  # the playback id of a position announcement
    callback_offered: bool = False
    deadline: datetime | None = None  # an agent must answer by then (outbound live answers)
    left: bool = False  # the caller left this queue (answered, timeout, callback, ...)


def _ms(since: datetime, now: datetime) -> int:
    return max(0, round((now - since).total_seconds() * 1000))


def _seconds(since: datetime, now: datetime) -> float:
    return round((now - since).total_seconds(), 3)


class OfferingCall:
    """Rings agents for a queued call and takes the rings back."""

    def __init__(self, acd: AcdRuntime, registry: CallRegistry, session: CallSession) -> None:
        self.acd = acd
        self.registry = registry
        self.call = session
        self.call_id = str(session.record.id)
        self._direct = 0
        self._rings = 0  # numbers each ring of this call (every queue it visits)
        self._kept_place = False
        self._holding: str | None = None
        # Whatever path the call ends on, no agent stays ringing or talking for it.
        session.on_end("acd", lambda: acd.call_gone(self.call_id, session.deliver))

    def _event(self, kind: str, at: datetime | None = None, **data: Any) -> None:
        record = self.call.record
        self.call.sink.log_event(record.event(at or utcnow(), kind, **data))

    def _save(self) -> None:
        self.call.sink.save(self.call.record, self.call.channel.name)

    async def _originate(
        self, channel_id: str, endpoint: str, timeout: float, variables: dict[str, str]
    ) -> None:
        """Ring a leg of this call (an agent, a supervisor, an outside number) into our app,
        showing the caller's number; its events come to this call's handler. Raises
        AriError when it cannot be placed (and then forgets it)."""
        record = self.call.record
        self.registry.attach(channel_id, self.call)
        role = "callee" if "@" in endpoint else variables.get("SB_LEG_ROLE", "agent")
        try:
            await self.call.ari.post(
                "/channels",
                body={"variables": {"SB_CALL_ID": self.call_id, **variables}},
                endpoint=endpoint,
                app=self.call.ari.app,
                appArgs=f"agent,{self.call_id}",
                channelId=channel_id,
                callerId=f'"{record.caller_name or ""}" <{record.caller_number or ""}>',
                timeout=max(1, round(timeout)),
            )
        except AriError:
            self.registry.detach(channel_id, self.call)
            raise
        self.call.leg_started(channel_id, role, utcnow())

    async def _ring(self, visit: QueueVisit, agent: str, timeout: float) -> None:
        # Unique over the whole call: a second queue's first ring is not the first's.
        self._rings += 1
        channel_id = f"{self.call_id}-{agent}-{self._rings}"
        settings = self.acd.settings.get(visit.queue)
        record = self.call.record
        now = utcnow()
        variables = {"SB_QUEUE": visit.queue}
        if visit.deadline is not None:
            # A live answer has 2 s: the agent's phone answers at once instead of ringing.
            variables.update(AUTO_ANSWER_HEADERS)
        try:
            await self._originate(channel_id, f"PJSIP/{agent}", timeout, variables)
        except AriError as exc:
            # The phone cannot be reached at all (not registered, unknown): not a ring.
            self.acd.rang_out(self.call_id, agent, visit.queue)
            self._event("RINGFAILED", now, queue=visit.queue, agent=agent, error=str(exc)[:200])
            return
        visit.ringing[channel_id] = Ringing(agent, channel_id, now)
        self._event("RINGING", now, queue=visit.queue, agent=agent, channel=channel_id)
        try:
            pop = await screen_pop(
                self.acd.history,
                call_id=self.call_id,
                caller_number=record.caller_number,
                caller_name=record.caller_name,
                queue=visit.queue,
                waited_seconds=(now - visit.joined).total_seconds(),
                now=now,
                repeat_window=self.acd.repeat_window,
                agent=agent,
                collected=self.call.collected,
                script=settings.script if settings else None,
            )
        except Exception as exc:  # the phone rings anyway; the desktop shows less
            self.call.log.warning("queue.screen_pop_failed", error=str(exc))
            pop = {"call_id": self.call_id, "caller_number": record.caller_number}
        self.acd.offered(agent, pop)

    async def _cancel_others(self, visit: QueueVisit, now: datetime) -> None:
        for ringing in list(visit.ringing.values()):
            self._event(
                "RINGCANCELED",
                now,
                queue=visit.queue,
                agent=ringing.agent,
                ringtime_ms=_ms(ringing.started, now),
            )
            self.acd.withdraw(self.call_id, ringing.agent)
            await self._drop(ringing.channel_id)
        visit.ringing.clear()

    async def _drop(self, channel_id: str) -> None:
        self.registry.detach(channel_id, self.call)  # its end is none of this call's business
        self.call.leg_ended(channel_id, utcnow(), CAUSE_NORMAL_CLEARING)
        with contextlib.suppress(AriNotFound, AriError):
            await self.call.ari.delete(f"/channels/{channel_id}")
