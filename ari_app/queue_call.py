"""A caller in an ACD queue, from joining to the end of their talk with an agent.

Runs inside the caller's own handler (``CallSession``), so the caller's channel, the agents'
channels and the ACD's commands are handled one at a time. Every step is a call event named
like Asterisk's queue_log (ENTERQUEUE, RINGNOANSWER, RINGCANCELED, CONNECT, ABANDON,
COMPLETECALLER, COMPLETEAGENT, EXITWITHTIMEOUT, EXITWITHKEY, ...).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ari_app.acd import AcdOffer, AcdRuntime, AcdTick, JoinRefused, utcnow
from ari_app.client import AriError, AriNotFound
from ari_app.events import ChannelDestroyed, ChannelDtmfReceived, StasisEnd, StasisStart
from ari_app.registry import CallRegistry
from ari_app.session import CallEnded, CallSession

log = structlog.get_logger(__name__)


@dataclass
class Ringing:
    agent: str
    channel_id: str
    started: datetime


@dataclass
class QueueVisit:
    queue: str
    joined: datetime
    position: int
    ringing: dict[str, Ringing] = field(default_factory=dict)  # by channel id
    attempt: int = 0
    last_announce: datetime | None = None


def _ms(since: datetime, now: datetime) -> int:
    return max(0, round((now - since).total_seconds() * 1000))


def _seconds(since: datetime, now: datetime) -> float:
    return round((now - since).total_seconds(), 3)


class QueueCall:
    def __init__(self, acd: AcdRuntime, registry: CallRegistry, session: CallSession) -> None:
        self.acd = acd
        self.registry = registry
        self.call = session
        self.call_id = str(session.record.id)

    def _event(self, kind: str, at: datetime | None = None, **data: Any) -> None:
        record = self.call.record
        self.call.sink.log_event(record.event(at or utcnow(), kind, **data))

    def _save(self) -> None:
        self.call.sink.save(self.call.record, self.call.channel.name)

    async def serve(self, queue: str, priority: int, skills: dict[str, int]) -> bool:
        """The caller waits in ``queue`` until an agent talks to them (True), or the queue
        refuses them at once (False: the IVR goes on). Raises CallEnded when the call ends."""
        record = self.call.record
        try:
            position = self.acd.join(self.call_id, queue, priority, skills, self.call.deliver)
        except JoinRefused as exc:
            self._event("JOINREFUSED", queue=queue, reason=exc.reason, detail=str(exc))
            return False
        now = utcnow()
        if record.queued_at is None:
            record.queued_at = now
            record.queue_position = position
        record.queue = queue
        self._save()
        self._event("ENTERQUEUE", now, queue=queue, position=position, priority=priority)
        visit = QueueVisit(queue, now, position)
        await self._hold_music(queue)
        try:
            connected = await self._wait(visit)
        except CallEnded:
            await self._abandon(visit)
            raise
        finally:
            self.acd.leave(self.call_id)
        if connected is None:
            return True
        await self._talk(visit, connected)
        return True

    async def _hold_music(self, queue: str) -> None:
        settings = self.acd.settings[queue]
        with contextlib.suppress(AriError):
            await self.call.ari.post(
                f"/channels/{self.call.channel_id}/moh", mohClass=settings.moh_class
            )

    async def _wait(self, visit: QueueVisit) -> Ringing | None:
        """Until an agent answers (their Ringing), or the caller leaves by rule (None)."""
        settings = self.acd.settings[visit.queue]
        while True:
            event = await self.call.next_event(timeout=None)
            now = utcnow()
            if isinstance(event, AcdOffer):
                visit.attempt += 1
                for agent in event.agents:
                    await self._ring(visit, agent, settings.ring_timeout)
                if not visit.ringing:
                    self.acd.offer_over(self.call_id, settings.retry_seconds)
            elif isinstance(event, StasisStart) and event.channel.id in visit.ringing:
                answered = visit.ringing.pop(event.channel.id)
                if self.acd.answered(self.call_id, answered.agent, visit.queue):
                    await self._cancel_others(visit, now)
                    return answered
                await self._drop(answered.channel_id)
            elif isinstance(event, ChannelDestroyed) and event.channel.id in visit.ringing:
                missed = visit.ringing.pop(event.channel.id)
                paused = self.acd.rang_out(self.call_id, missed.agent, visit.queue)
                self._event(
                    "RINGNOANSWER",
                    now,
                    queue=visit.queue,
                    agent=missed.agent,
                    ringtime_ms=_ms(missed.started, now),
                    cause=event.cause,
                    autopaused=paused,
                )
                self.registry.detach(missed.channel_id, self.call)
                if not visit.ringing:
                    self.acd.offer_over(self.call_id, settings.retry_seconds)
            elif (
                isinstance(event, ChannelDtmfReceived) and event.channel.id == self.call.channel_id
            ):
                self.call.discard_digits()
                if settings.exit_key and event.digit == settings.exit_key:
                    await self._cancel_others(visit, now)
                    self._leave(visit, "exitkey", "EXITWITHKEY", key=event.digit)
                    await self.call.hangup()
            elif isinstance(event, AcdTick):
                waited = (now - visit.joined).total_seconds()
                if settings.max_wait_seconds and waited >= settings.max_wait_seconds:
                    await self._cancel_others(visit, now)
                    self._leave(visit, "timeout", "EXITWITHTIMEOUT")
                    if settings.overflow_queue:
                        self.acd.leave(self.call_id)
                        if await self.serve(settings.overflow_queue, 0, {}):
                            return None
                    await self.call.hangup()
                if settings.leave_empty and not self.acd.staffed(visit.queue):
                    await self._cancel_others(visit, now)
                    self._leave(visit, "leaveempty", "EXITEMPTY")
                    await self.call.hangup()

    async def _ring(self, visit: QueueVisit, agent: str, timeout: float) -> None:
        channel_id = f"{self.call_id}-{agent}-{visit.attempt}"
        self.registry.attach(channel_id, self.call)
        record = self.call.record
        now = utcnow()
        try:
            await self.call.ari.post(
                "/channels",
                body={"variables": {"SB_CALL_ID": self.call_id, "SB_QUEUE": visit.queue}},
                endpoint=f"PJSIP/{agent}",
                app=self.call.ari.app,
                appArgs=f"agent,{self.call_id}",
                channelId=channel_id,
                callerId=f'"{record.caller_name or ""}" <{record.caller_number or ""}>',
                timeout=max(1, round(timeout)),
            )
        except AriError as exc:
            # The phone cannot be reached at all (not registered, unknown): not a ring.
            self.registry.detach(channel_id, self.call)
            self.acd.rang_out(self.call_id, agent, visit.queue)
            self._event("RINGFAILED", now, queue=visit.queue, agent=agent, error=str(exc)[:200])
            return
        visit.ringing[channel_id] = Ringing(agent, channel_id, now)
        self._event("RINGING", now, queue=visit.queue, agent=agent, channel=channel_id)

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
        with contextlib.suppress(AriNotFound, AriError):
            await self.call.ari.delete(f"/channels/{channel_id}")
        self.registry.detach(channel_id, self.call)

    def _leave(self, visit: QueueVisit, exit_: str, kind: str, **data: Any) -> None:
        now = utcnow()
        record = self.call.record
        record.queue_exit = exit_
        self._save()
        self._event(
            kind,
            now,
            queue=visit.queue,
            position=self.acd.position(self.call_id) or visit.position,
            origpos=visit.position,
            waittime=_seconds(visit.joined, now),
            **data,
        )
        self.acd.leave(self.call_id)

    async def _abandon(self, visit: QueueVisit) -> None:
        if self.call.record.queue_exit is not None:
            return
        now = utcnow()
        for ringing in list(visit.ringing.values()):
            self.acd.withdraw(self.call_id, ringing.agent)
            self._event(
                "RINGCANCELED",
                now,
                queue=visit.queue,
                agent=ringing.agent,
                ringtime_ms=_ms(ringing.started, now),
            )
        self._leave(visit, "abandoned", "ABANDON")
        dropped = [r.channel_id for r in visit.ringing.values()]
        visit.ringing.clear()
        for channel_id in dropped:
            await self._drop(channel_id)

    async def _talk(self, visit: QueueVisit, agent: Ringing) -> None:
        record = self.call.record
        now = utcnow()
        bridge_id = f"call-{self.call_id}"
        ari = self.call.ari
        with contextlib.suppress(AriError):
            await ari.delete(f"/channels/{self.call.channel_id}/moh")
        await ari.post(f"/bridges/{bridge_id}", type="mixing", name=bridge_id)
        await ari.post(
            f"/bridges/{bridge_id}/addChannel",
            channel=f"{self.call.channel_id},{agent.channel_id}",
        )
        record.agent = agent.agent
        record.connected_at = now
        record.queue_exit = "connected"
        self._save()
        self._event(
            "CONNECT",
            now,
            queue=visit.queue,
            agent=agent.agent,
            holdtime=_seconds(visit.joined, now),
            ringtime_ms=_ms(agent.started, now),
            channel=agent.channel_id,
        )
        try:
            while True:
                event = await self.call.next_event(timeout=None)
                if (
                    isinstance(event, ChannelDestroyed | StasisEnd)
                    and event.channel.id == agent.channel_id
                ):
                    end = utcnow()
                    self._event(
                        "COMPLETEAGENT",
                        end,
                        queue=visit.queue,
                        agent=agent.agent,
                        holdtime=_seconds(visit.joined, now),
                        calltime=_seconds(now, end),
                        origpos=visit.position,
                    )
                    self.acd.call_over(agent.agent, visit.queue, self.call_id)
                    record.note_hangup_party("agent")
                    await self.call.hangup()
        except CallEnded:
            if record.hangup_party != "agent":
                end = utcnow()
                self._event(
                    "COMPLETECALLER",
                    end,
                    queue=visit.queue,
                    agent=agent.agent,
                    holdtime=_seconds(visit.joined, now),
                    calltime=_seconds(now, end),
                    origpos=visit.position,
                )
                self.acd.call_over(agent.agent, visit.queue, self.call_id)
                with contextlib.suppress(AriNotFound, AriError):
                    await ari.delete(f"/channels/{agent.channel_id}")
            raise
        finally:
            with contextlib.suppress(AriNotFound, AriError):
                await ari.delete(f"/bridges/{bridge_id}")
