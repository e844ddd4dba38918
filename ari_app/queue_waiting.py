"""A caller waiting in a queue: music, position announcements, offers to agents as they
come free, the callback offer, and leaving the queue (timeout, exit key, abandon)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from ari_app import voicemail
from ari_app.acd import (
    AcdCommand,
    AcdOffer,
    AcdTick,
    CommandRefused,
    JoinRefused,
    utcnow,
)
from ari_app.callback_call import CallbackRunner
from ari_app.client import AriError, AriHttpError, AriNotFound
from ari_app.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisStart,
)
from ari_app.queue_offers import OfferingCall, QueueVisit, Ringing, _ms, _seconds

log = structlog.get_logger(__name__)


class WaitingCall(OfferingCall):
    """The caller's time in a queue, until an agent answers or they leave."""

    # Served by ari_app/queue_call.py (QueueCall): an overflow joins the next queue through it.
    async def serve(
        self,
        queue: str,
        priority: int,
        skills: dict[str, int],
        arrived: datetime | None = None,
        *,
        connect_within: float | None = None,
        music: bool = True,
        on_connect: Callable[[], None] | None = None,
    ) -> bool:
        raise NotImplementedError

    async def _hold_music(self, queue: str, retry: bool = True) -> None:
        """Into the queue's holding bridge, where the bridge's music on hold plays to every
        waiting caller at once (measured about a third cheaper than music per channel)."""
        settings = self.acd.settings[queue]
        ari = self.call.ari
        bridge = f"queue-{queue}"
        if self._holding is not None and self._holding != bridge:
            await self._leave_holding()
        await self.call.stop_music()
        if bridge not in self.acd.holding_bridges:
            try:
                await ari.post(f"/bridges/{bridge}", type="holding", name=bridge)
            except AriHttpError as exc:
                if exc.status != 409:  # 409: it exists already (made before a restart of ours)
                    raise
            with contextlib.suppress(AriError):
                await ari.post(f"/bridges/{bridge}/moh", mohClass=settings.moh_class)
            self.acd.holding_bridges.add(bridge)
        try:
            await ari.post(
                f"/bridges/{bridge}/addChannel", channel=self.call.channel_id, role="participant"
            )
        except AriNotFound:
            # Asterisk restarted since: the bridge is gone, make it again (once: the
            # caller's channel may be the one that is gone).
            self.acd.holding_bridges.discard(bridge)
            if not retry:
                raise
            await self._hold_music(queue, retry=False)
            return
        self._holding = bridge

    async def _leave_holding(self) -> None:
        if self._holding is not None:
            with contextlib.suppress(AriError):
                await self.call.ari.post(
                    f"/bridges/{self._holding}/removeChannel", channel=self.call.channel_id
                )
            self._holding = None

    async def _wait(self, visit: QueueVisit) -> Ringing | None:
        """Until an agent answers (their Ringing), or the caller leaves by rule (None)."""
        settings = self.acd.settings[visit.queue]
        while True:
            timeout = None
            if visit.deadline is not None:
                timeout = max(0.0, (visit.deadline - utcnow()).total_seconds())
            event = await self.call.next_event(timeout=timeout)
            now = utcnow()
            if event is None:
                # No agent in time (an outbound live answer): out of the queue, on the line.
                await self._cancel_others(visit, now)
                self._leave(visit, "timeout", "EXITWITHTIMEOUT", limit="connect_within")
                return None
            if isinstance(event, AcdOffer):
                visit.attempt += 1
                for agent in event.agents:
                    await self._ring(visit, agent, settings.ring_timeout)
                if not visit.ringing:
                    self.acd.offer_over(self.call_id, settings.retry_seconds)
            elif isinstance(event, StasisStart) and event.channel.id in visit.ringing:
                answered = visit.ringing.pop(event.channel.id)
                if self.acd.answered(self.call_id, answered.agent, visit.queue, self.call.deliver):
                    visit.left = True
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
                if visit.deadline is not None:
                    continue  # an outbound live answer's 2 s: no keys, no ways out
                if settings.callback_key and event.digit == settings.callback_key:
                    await self._offer_callback(visit)
                elif settings.exit_key and event.digit == settings.exit_key:
                    await self._stop_announcing(visit)
                    await self._cancel_others(visit, now)
                    self._leave(visit, "exitkey", "EXITWITHKEY", key=event.digit)
                    await self.call.hangup()
            elif isinstance(event, PlaybackFinished) and event.playback.id == visit.announcing:
                visit.announcing = None
                visit.last_announce = now  # the next one comes a period after this one ends
            elif isinstance(event, AcdCommand) and event.action == "move":
                if await self._move(visit, event, now):
                    return None
            elif isinstance(event, AcdTick):
                waited = (now - visit.joined).total_seconds()
                if (
                    settings.announce_seconds
                    and not visit.ringing
                    and visit.announcing is None
                    and (now - (visit.last_announce or visit.joined)).total_seconds()
                    >= settings.announce_seconds
                ):
                    await self._announce(visit, now)
                if (
                    settings.max_wait_seconds
                    and visit.deadline is None
                    and waited >= settings.max_wait_seconds
                ):
                    await self._stop_announcing(visit)
                    await self._cancel_others(visit, now)
                    if settings.callback_key and not visit.callback_offered:
                        # Before giving up on the wait: offer to call back (keeping the
                        # place); declined, the caller moves on as the queue says.
                        visit.callback_offered = True
                        self._event("CALLBACKOFFER", now, queue=visit.queue, reason="max_wait")
                        await self._offer_callback(visit)
                    self._leave(visit, "timeout", "EXITWITHTIMEOUT")
                    if settings.overflow_queue:
                        self.acd.leave(self.call_id)
                        if await self.serve(settings.overflow_queue, 0, {}):
                            return None
                    elif settings.voicemail:
                        await self._voicemail(visit)
                    await self.call.hangup()
                if (
                    settings.leave_empty
                    and visit.deadline is None
                    and not self.acd.staffed(visit.queue)
                ):
                    await self._stop_announcing(visit)
                    await self._cancel_others(visit, now)
                    self._leave(visit, "leaveempty", "EXITEMPTY")
                    await self.call.hangup()

    async def _voicemail(self, visit: QueueVisit) -> None:
        """Nobody answered in time: the caller leaves a message, called back from the
        queue (their wait ended as a timeout, in this queue's figures)."""
        self.acd.leave(self.call_id)
        await self._leave_holding()
        await self.call.stop_music()
        await self.call.play(*voicemail.PROMPTS)
        if await voicemail.take_message(self.call, visit.queue) is not None:
            await self.call.play(*voicemail.SAVED)

    async def _move(self, visit: QueueVisit, command: AcdCommand, now: datetime) -> bool:
        """A supervisor moves the caller to another queue: they leave this one as an
        overflow does (its figures count the visit as passed on, neither answered nor
        abandoned) and wait there from their first arrival. True when they were served
        there; False when they stay here (the other queue refused them just now)."""
        reply = command.reply
        target = command.target or ""
        entry = self.acd.calls.get(self.call_id)
        try:
            if entry is None:
                raise CommandRefused(404, "the caller is not waiting any more")
            self.acd.check_join(target)
        except (CommandRefused, JoinRefused) as exc:
            if reply is not None and not reply.done():
                status = exc.status if isinstance(exc, CommandRefused) else 409
                reply.set_exception(CommandRefused(status, str(exc)))
            return False
        waiting = entry.waiting
        await self._stop_announcing(visit)
        await self._cancel_others(visit, now)
        # On the call row as an overflow's first queue ("timeout", until the next queue
        # says how the call left it); the journey counts the visit as passed on.
        self._leave(visit, "timeout", "MOVED", to=target, by=command.agent)
        if reply is not None and not reply.done():
            reply.set_result({"moved_to": target, "call": self.call_id})
        if await self.serve(target, waiting.priority, dict(waiting.skills), waiting.arrived):
            return True
        await self.call.hangup()  # refused after all (it filled up meanwhile): as an overflow
        return True

    async def _announce(self, visit: QueueVisit, now: datetime) -> None:
        """ "You are next" or "there are N calls waiting ahead of you", and the estimated
        wait in minutes when known and at least a minute, played to this caller in the
        holding bridge (the music stops for them meanwhile)."""
        position = self.acd.position(self.call_id) or visit.position
        ewt = self.acd.estimated_wait(visit.queue, position)
        if position <= 1:
            media = ["sound:queue-youarenext"]
        else:
            media = ["sound:queue-thereare", f"number:{position - 1}", "sound:queue-callswaiting"]
        if ewt is not None and ewt >= 60:
            media += ["sound:queue-holdtime", f"number:{round(ewt / 60)}", "sound:queue-minutes"]
        playback = str(uuid.uuid4())
        try:
            await self.call.ari.post(
                f"/channels/{self.call.channel_id}/play/{playback}", media=",".join(media)
            )
        except AriError as exc:
            self.call.log.warning("queue.announce_failed", error=str(exc))
            return
        visit.announcing = playback
        visit.last_announce = now
        self._event(
            "ANNOUNCE",
            now,
            queue=visit.queue,
            position=position,
            ewt_seconds=round(ewt) if ewt is not None else None,
        )

    async def _stop_announcing(self, visit: QueueVisit) -> None:
        if visit.announcing is not None:
            with contextlib.suppress(AriError):
                await self.call.ari.delete(f"/playbacks/{visit.announcing}")
            visit.announcing = None

    async def _offer_callback(self, visit: QueueVisit) -> None:
        """1: call me back on this number; 2: on another number (ends with #). Anything
        else: the caller keeps waiting as before."""
        now = utcnow()
        self.acd.hold_offers(self.call_id)
        await self._cancel_others(visit, now)
        await self._stop_announcing(visit)
        caller = self.call.record.caller_number or ""
        key = await self.call.play(
            "sound:vm-tocallback",
            "sound:digits/1",
            "sound:vm-tocallnum",
            "sound:digits/2",
            interruptible=True,
        )
        if key is None:
            key = await self.call.collect_digit(5)
        number: str | None = None
        if key == "1" and caller.lstrip("+").isdigit():
            number = caller
        elif key == "2":
            first = await self.call.play(
                "sound:vm-enter-num-to-call", "sound:vm-then-pound", interruptible=True
            )
            digits = first or ""
            while len(digits) <= 15:
                pressed = await self.call.collect_digit(5)
                if pressed is None or pressed == "#":
                    break
                digits += pressed
            if digits.endswith("#"):
                digits = digits[:-1]
            if digits.isdigit() and 3 <= len(digits) <= 15:
                number = digits
        if number is None:
            self._event("CALLBACKDECLINED", queue=visit.queue, key=key)
            self.acd.offer_over(self.call_id)
            return
        await self._become_callback(visit, number)

    async def _become_callback(self, visit: QueueVisit, number: str) -> None:
        now = utcnow()
        record = self.call.record
        request_id = uuid.uuid4()
        position = self.acd.position(self.call_id) or visit.position
        self.acd.save_callback(
            {
                "id": request_id,
                "call_id": record.id,
                "number": number,
                "queue": visit.queue,
                "source": "queue",
                "requested_at": now,
                "due_at": None,
                "status": "pending",
            }
        )

        def log_event(kind: str, data: dict[str, Any]) -> None:
            self.call.sink.log_event(record.event(utcnow(), kind, **data))

        runner = CallbackRunner(
            self.acd,
            self.registry,
            self.call.ari,
            record.id,
            log_event,
            request_id,
            number,
            visit.queue,
            visit.joined,
            position,
        )
        self.acd.start_callback(runner)
        self.acd.to_callback(self.call_id, runner.deliver)
        self._kept_place = True
        visit.left = True
        record.queue_exit = "callback"
        record.outcome = "callback"
        self._save()
        self._event(
            "CALLBACK",
            now,
            queue=visit.queue,
            number=number,
            position=position,
            origpos=visit.position,
            waittime=_seconds(visit.joined, now),
            request=str(request_id),
        )
        await self.call.play("sound:auth-thankyou")
        await self.call.hangup()

    def _leave(self, visit: QueueVisit, exit_: str, kind: str, **data: Any) -> None:
        now = utcnow()
        visit.left = True
        record = self.call.record
        record.queue_exit = exit_
        record.queue_left_at = now
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
        """The caller hung up while waiting in this visit's queue (the first one, or one
        they overflowed or were transferred to): its ringing offers are withdrawn."""
        if visit.left:
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
