"""A callback that keeps the caller's place in the queue.

The caller asked to be called back and hung up; their place in the queue is held by a
``CallbackRunner`` instead of their call. When their turn comes the runner rings an agent
first; once the agent answers, it calls the customer through the outbound trunk. When the
customer answers, their new call (an outbound ``CallSession``) takes the agent's leg and the
conversation goes on as any queue call does (hold, transfer, records).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import update

from ari_app.acd import AcdOffer, AcdRuntime, utcnow
from ari_app.client import AriClient, AriError, AriNotFound
from ari_app.events import ChannelDestroyed, Event, PlaybackFinished, StasisEnd, StasisStart
from callcenter.config import get_settings
from callcenter.security.toll_fraud import callback_refusal
from db.models import CallbackRequest

if TYPE_CHECKING:
    from ari_app.registry import CallRegistry
    from ari_app.session import CallSession

log = structlog.get_logger(__name__)

TRUNK = "trunk-out"


@dataclass
class AgentLeg:
    agent: str
    channel_id: str
    started: datetime


class CallbackRunner:
    def __init__(
        self,
        acd: AcdRuntime,
        registry: CallRegistry,
        ari: AriClient,
        origin_call_id: uuid.UUID,
        log_event: Callable[[str, dict[str, Any]], None],
        request_id: uuid.UUID,
        number: str,
        queue: str,
        joined: datetime,
        position: int,
    ) -> None:
        self.acd = acd
        self.registry = registry
        self.ari = ari
        # The call that asked (ended by now): the callback's events go on its log.
        self._log_event = log_event
        self.request_id = request_id
        self.number = number
        self.queue = queue
        self.joined = joined
        self.position = position
        self.call_id = str(origin_call_id)
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._ringing: dict[str, AgentLeg] = {}
        self.agent: AgentLeg | None = None
        self.customer_channel = f"cb-{request_id}"
        # The number came from the caller (their caller ID or keys), not from an agent's
        # disposition: it must pass the callback-fraud guard before anybody is rung.
        self.caller_supplied = True
        self._attempt = 0
        self.done = asyncio.Event()
        # A voicemail's callback: the message (a stored recording) the agent hears first.
        self.message: str | None = None
        self._playing: str | None = None

    def deliver(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _event(self, kind: str, **data: Any) -> None:
        self._log_event(kind, {"callback": str(self.request_id), **data})

    async def set_status(self, status: str) -> None:
        """The callback request's status in PostgreSQL (pending, done, failed, cancelled)."""
        async with self.acd.engine.begin() as connection:
            await connection.execute(
                update(CallbackRequest)
                .where(CallbackRequest.id == self.request_id)
                .values(status=status)
            )

    async def run(self) -> None:
        try:
            while not self.done.is_set():
                event = await self._events.get()
                await self._handle(event)
        except Exception:
            log.exception("callback.failed", request=str(self.request_id))
            await self._give_up("error")

    async def _handle(self, event: Event) -> None:
        settings = self.acd.settings.get(self.queue)
        if isinstance(event, AcdOffer) and self.agent is None:
            refusal = (
                callback_refusal(self.number, get_settings().default_region)
                if self.caller_supplied
                else None
            )
            if refusal is not None:
                # A number the caller gave or forged: never rung for, never dialed
                # (callback fraud, docs/security.md).
                for name in event.agents:
                    self.acd.withdraw(self.call_id, name)
                self._event("CALLBACKREFUSED", number=self.number, reason=refusal)
                log.warning("callback.refused", request=str(self.request_id), reason=refusal)
                await self._give_up("cancelled")
                return
            self._attempt += 1
            for name in event.agents:
                channel_id = f"cba-{self.request_id}-{name}-{self._attempt}"
                self.registry.attach_target(channel_id, self)
                try:
                    await self.ari.post(
                        "/channels",
                        body={"variables": {"SB_CALL_ID": self.call_id}},
                        endpoint=f"PJSIP/{name}",
                        app=self.ari.app,
                        appArgs=f"agent,{self.call_id}",
                        channelId=channel_id,
                        callerId=f'"Callback" <{self.number}>',
                        timeout=max(1, round(settings.ring_timeout if settings else 15)),
                    )
                except AriError as exc:
                    self.registry.detach_target(channel_id)
                    self.acd.rang_out(self.call_id, name, self.queue)
                    self._event("RINGFAILED", queue=self.queue, agent=name, error=str(exc)[:200])
                    continue
                self._ringing[channel_id] = AgentLeg(name, channel_id, utcnow())
                self._event("RINGING", queue=self.queue, agent=name, channel=channel_id)
            if not self._ringing:
                self.acd.offer_over(self.call_id, settings.retry_seconds if settings else 1)
        elif isinstance(event, StasisStart) and event.channel.id in self._ringing:
            leg = self._ringing.pop(event.channel.id)
            if self.agent is not None or not self.acd.answered(
                self.call_id, leg.agent, self.queue, self.deliver
            ):
                await self._drop(leg.channel_id)
                return
            self.agent = leg
            for other in list(self._ringing.values()):
                self.acd.withdraw(self.call_id, other.agent)
                await self._drop(other.channel_id)
            self._ringing.clear()
            if not await self._play_message():
                await self._dial_customer()
        elif (
            isinstance(event, PlaybackFinished)
            and self._playing is not None
            and event.playback.id == self._playing
        ):
            self._playing = None
            await self._dial_customer()
        elif isinstance(event, ChannelDestroyed) and event.channel.id in self._ringing:
            leg = self._ringing.pop(event.channel.id)
            now = utcnow()
            paused = self.acd.rang_out(self.call_id, leg.agent, self.queue)
            self._event(
                "RINGNOANSWER",
                queue=self.queue,
                agent=leg.agent,
                ringtime_ms=round((now - leg.started).total_seconds() * 1000),
                autopaused=paused,
            )
            self.registry.detach_target(leg.channel_id)
            if not self._ringing and self.agent is None:
                self.acd.offer_over(self.call_id, settings.retry_seconds if settings else 1)
        elif (
            isinstance(event, ChannelDestroyed | StasisEnd)
            and self.agent is not None
            and event.channel.id == self.agent.channel_id
        ):
            # The agent gave up before the customer answered.
            with contextlib.suppress(AriNotFound, AriError):
                await self.ari.delete(f"/channels/{self.customer_channel}")
            self.acd.call_over(self.agent.agent, self.queue, self.call_id)
            await self._give_up("failed")
        elif isinstance(event, ChannelDestroyed) and event.channel.id == self.customer_channel:
            # The customer did not answer (or the trunk refused): the agent is freed.
            self._event("CALLBACKFAILED", number=self.number, cause=event.cause)
            if self.agent is not None:
                await self._drop(self.agent.channel_id)
                self.acd.call_over(self.agent.agent, self.queue, self.call_id)
            await self._give_up("failed")

    async def _play_message(self) -> bool:
        """The agent hears the caller's message before the caller is dialed back (True:
        playing; the dial follows its end)."""
        if self.message is None or self.agent is None:
            return False
        playback = f"vmp-{self.request_id}"
        try:
            await self.ari.post(
                f"/channels/{self.agent.channel_id}/play/{playback}",
                media=f"recording:{self.message}",
            )
        except AriError as exc:
            self._event("VOICEMAILPLAYFAILED", agent=self.agent.agent, error=str(exc)[:200])
            return False
        self._playing = playback
        self._event("VOICEMAILPLAYED", agent=self.agent.agent, message=self.message)
        return True

    async def _dial_customer(self) -> None:
        assert self.agent is not None
        with contextlib.suppress(AriError):
            await self.ari.post(f"/channels/{self.agent.channel_id}/ring")
        self.registry.attach_target(self.customer_channel, self, starts_call=True)
        try:
            await self.ari.post(
                "/channels",
                body={"variables": {"SB_CALL_ID": self.call_id}},
                endpoint=f"PJSIP/{self.number}@{TRUNK}",
                app=self.ari.app,
                appArgs=f"callback,{self.request_id}",
                channelId=self.customer_channel,
                timeout=30,
            )
        except AriError as exc:
            self._event("CALLBACKFAILED", number=self.number, error=str(exc)[:200])
            await self._drop(self.agent.channel_id)
            self.acd.call_over(self.agent.agent, self.queue, self.call_id)
            await self._give_up("failed")
            return
        self._event("CALLBACKDIAL", number=self.number, agent=self.agent.agent)

    def take_agent(self, session: CallSession) -> AgentLeg | None:
        """The customer answered: their call takes the agent's leg from here on."""
        leg = self.agent
        self.registry.detach_target(self.customer_channel)
        if leg is None:
            return None
        self.registry.detach_target(leg.channel_id)
        self.registry.attach(leg.channel_id, session)
        self.acd.hand_over(leg.agent, str(session.record.id), session.deliver)
        self.done.set()
        self._event(
            "CALLBACKANSWERED", number=self.number, agent=leg.agent, call=str(session.record.id)
        )
        return leg

    async def _drop(self, channel_id: str) -> None:
        with contextlib.suppress(AriNotFound, AriError):
            await self.ari.delete(f"/channels/{channel_id}")
        self.registry.detach_target(channel_id)

    async def _give_up(self, status: str) -> None:
        self.acd.leave(self.call_id)
        if self.agent is not None and not self.done.is_set():
            # The agent answered for this callback, which ends here: they are let go.
            self.acd.call_over(self.agent.agent, self.queue, self.call_id)
            await self._drop(self.agent.channel_id)
        for leg in list(self._ringing.values()):
            self.acd.withdraw(self.call_id, leg.agent)
            await self._drop(leg.channel_id)
        self._ringing.clear()
        self.registry.detach_target(self.customer_channel)
        with contextlib.suppress(Exception):
            await self.set_status(status)
        self.done.set()
