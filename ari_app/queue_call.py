"""A caller in an ACD queue, from joining to the end of their talk with an agent.

Runs inside the caller's own handler (``CallSession``), so the caller's channel, the agents'
channels and the ACD's commands are handled one at a time. Every step is a call event named
like Asterisk's queue_log (ENTERQUEUE, RINGNOANSWER, RINGCANCELED, CONNECT, ABANDON,
COMPLETECALLER, COMPLETEAGENT, EXITWITHTIMEOUT, EXITWITHKEY, ...).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from ari_app.acd import (
    AcdCommand,
    AcdOffer,
    AcdRuntime,
    AcdTick,
    CommandRefused,
    JoinRefused,
    utcnow,
)
from ari_app.client import AriError, AriHttpError, AriNotFound
from ari_app.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from ari_app.registry import CallRegistry
from ari_app.screen_pop import screen_pop
from ari_app.session import CallEnded, CallSession
from db.record_ops import RecordOp
from switchboard.acd.agents import AgentStateError
from switchboard.calls.record import CAUSE_NORMAL_CLEARING
from switchboard.config import get_settings
from switchboard.security.toll_fraud import callback_refusal

log = structlog.get_logger(__name__)

# The post-call survey's prompts, from Asterisk's stock sounds (a beep, then the range of
# keys); a real center records its own ("How would you rate this call, 1 to 5?").
SURVEY_RATING_PROMPTS = ("sound:beep", "sound:digits/1", "sound:digits/5")
SURVEY_RESOLVED_PROMPTS = ("sound:beep", "sound:digits/1", "sound:digits/2")
SURVEY_THANKS = "sound:auth-thankyou"
SURVEY_KEY_SECONDS = 6.0

# Ask the agent's phone to answer at once (the 2-second rule leaves no time to ring): the de
# facto Call-Info answer-after=0 that most desk and soft phones' auto-answer honours, and the
# Alert-Info form some phones want instead.
AUTO_ANSWER_HEADERS = {
    "PJSIP_HEADER(add,Call-Info)": "<sip:switchboard.invalid>;answer-after=0",
    "PJSIP_HEADER(add,Alert-Info)": "<http://switchboard.invalid>;info=alert-autoanswer;delay=0",
}


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


class QueueCall:
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
        """The caller waits in ``queue`` until an agent talks to them (True), or the queue
        refuses them at once (False: the IVR goes on). Raises CallEnded when the call ends.

        ``connect_within``: seconds an agent has to answer (an outbound call's live answer
        has 2); past them the caller leaves the queue with exit ``timeout``, still on the
        line, and ``serve`` returns True with no agent on the record."""
        record = self.call.record
        try:
            position = self.acd.join(
                self.call_id, queue, priority, skills, self.call.deliver, arrived=arrived
            )
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
        if connect_within is not None:
            visit.deadline = now + timedelta(seconds=connect_within)
        try:
            try:
                if music:
                    await self._hold_music(queue)
            except AriError as exc:
                # No music is better than no queue: the caller keeps their place (and if
                # their channel is gone, the hangup arrives next).
                self.call.log.warning("queue.no_music", queue=queue, error=str(exc))
            connected = await self._wait(visit)
        except CallEnded:
            await self._abandon(visit)
            raise
        finally:
            if not self._kept_place:
                self.acd.leave(self.call_id)
        if connected is None:
            return True
        await self._stop_announcing(visit)
        if on_connect is not None:
            on_connect()
        try:
            await self._talk(visit, connected)
        except _Rejoin as again:
            # Transferred to a queue, or a blind transfer nobody took: wait again, in the
            # place the caller's first arrival gives them.
            return await self.serve(again.queue, priority, skills, arrived=again.arrived)
        return True

    async def _hold_music(self, queue: str, retry: bool = True) -> None:
        """Into the queue's holding bridge, where the bridge's music on hold plays to every
        waiting caller at once (measured about a third cheaper than music per channel)."""
        settings = self.acd.settings[queue]
        ari = self.call.ari
        bridge = f"queue-{queue}"
        if self._holding is not None and self._holding != bridge:
            await self._leave_holding()
        with contextlib.suppress(AriError):
            await ari.delete(f"/channels/{self.call.channel_id}/moh")
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

    # --- a callback that keeps the caller's place -------------------------------------

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
        from ari_app.callback_call import CallbackRunner

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
                self.acd.engine,
                call_id=self.call_id,
                caller_number=record.caller_number,
                caller_name=record.caller_name,
                queue=visit.queue,
                waited_seconds=(now - visit.joined).total_seconds(),
                now=now,
                repeat_window=self.acd.repeat_window,
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

    # --- the conversation ------------------------------------------------------------

    async def _talk(self, visit: QueueVisit, agent: Ringing) -> None:
        """Caller and agent talk until one hangs up; the agent may hold, unhold and
        transfer (blind, or attended with a consultation first)."""
        record = self.call.record
        now = utcnow()
        bridge = f"call-{self.call_id}"
        ari = self.call.ari
        await self._leave_holding()
        with contextlib.suppress(AriError):
            await ari.delete(f"/channels/{self.call.channel_id}/moh")
        try:
            await ari.post(f"/bridges/{bridge}", type="mixing", name=bridge)
            await ari.post(
                f"/bridges/{bridge}/addChannel",
                channel=f"{self.call.channel_id},{agent.channel_id}",
            )
        except AriError:
            # One side hung up as the agent answered: the agent is let go at once.
            await self._talk_failed(Talk(visit, agent, bridge, now))
            with contextlib.suppress(AriError):
                await ari.delete(f"/bridges/{bridge}")
            raise
        if record.agent is None:
            record.agent = agent.agent
            record.connected_at = now
            record.queue_exit = "connected"
            record.queue_left_at = now
            record.ring_seconds = _seconds(agent.started, now)
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
        talk = Talk(visit, agent, bridge, now)
        settings = self.acd.settings.get(visit.queue)
        if settings is not None and settings.record_calls and record.recording is None:
            await self._record(bridge, now)
        try:
            while True:
                event = await self.call.next_event(timeout=None)
                if await self._supervisor_event(talk, event):
                    continue
                if isinstance(event, AcdCommand):
                    await self._command(talk, event)
                elif isinstance(event, StasisStart) and talk.consult_ringing(event.channel.id):
                    await self._consult_answered(talk)
                elif isinstance(event, ChannelDestroyed) and talk.consult_ringing(event.channel.id):
                    await self._consult_failed(talk, event.cause)
                elif (
                    isinstance(event, ChannelDestroyed | StasisEnd)
                    and talk.consult is not None
                    and event.channel.id == talk.consult.channel_id
                ):
                    # The consulted agent hung up: back to the caller.
                    self._event("CONSULTEND", agent=talk.agent.agent, target=talk.consult.agent)
                    self.acd.call_over(talk.consult.agent, visit.queue, self.call_id)
                    talk.consult = None
                    talk.consult_up = False
                    await self._unhold(talk)
                elif (
                    isinstance(event, ChannelDestroyed | StasisEnd)
                    and event.channel.id == talk.agent.channel_id
                    and not talk.agent_done  # a blind transfer let this agent go already
                ):
                    if talk.consult is not None and talk.consult_up:
                        # The agent hung up during the consultation: the transfer completes.
                        await self._complete(talk)
                        continue
                    await self._agent_gone(talk)
        except CallEnded:
            await self._caller_gone(talk)
            raise
        except AriError:
            await self._talk_failed(talk)
            raise
        finally:
            if talk.supervisor is not None:
                if talk.supervisor_up:
                    self._event("SUPERVISORLEAVE", supervisor=talk.supervisor.agent, end=True)
                await self._drop(talk.supervisor.channel_id)
            with contextlib.suppress(AriNotFound, AriError):
                await ari.delete(f"/bridges/{bridge}")

    async def _record(self, bridge: str, now: datetime) -> None:
        """Record the whole conversation, transfers included (the bridge stays the same);
        its name goes on the call. A failure to record never stops the call."""
        name = f"call-{self.call_id}"
        try:
            await self.call.ari.post(
                f"/bridges/{bridge}/record", name=name, format="wav", ifExists="overwrite"
            )
        except AriError as exc:
            self.call.log.warning("queue.recording_failed", error=str(exc))
            self._event("RECORDINGFAILED", now, error=str(exc)[:200])
            return
        self.call.record.recording = name
        self._save()
        self._event("RECORDING", now, name=name, format="wav")

    def _summary(self, talk: Talk, end: datetime) -> dict[str, Any]:
        return {
            "queue": talk.visit.queue,
            "agent": talk.agent.agent,
            "holdtime": _seconds(talk.visit.joined, talk.connected),
            "calltime": _seconds(talk.connected, end),
            "origpos": talk.visit.position,
        }

    async def _agent_gone(self, talk: Talk) -> None:
        end = utcnow()
        self._close_hold(talk, end)
        self.call.record.talk_ended_at = end
        self._event("COMPLETEAGENT", end, **self._summary(talk, end))
        self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
        self.call.record.note_hangup_party("agent")
        settings = self.acd.settings.get(talk.visit.queue)
        if settings is not None and settings.survey:
            await self._survey(talk)
        await self.call.hangup()

    async def _survey(self, talk: Talk) -> None:
        """The agent hung up, the caller is still there: "rate us 1 to 5", then "was your
        issue resolved? 1 yes, 2 no". The answers are stored even if they hang up halfway."""
        record = self.call.record
        with contextlib.suppress(AriError):
            await self.call.ari.post(
                f"/bridges/{talk.bridge}/removeChannel", channel=self.call.channel_id
            )
        started = utcnow()
        row: dict[str, Any] = {
            "call_id": record.id,
            "agent": talk.agent.agent,
            "queue": talk.visit.queue,
            "rating": None,
            "resolved": None,
            "started_at": started,
            "answered_at": None,
        }
        self._event("SURVEYSTART", started, queue=talk.visit.queue, agent=talk.agent.agent)
        self.call.discard_digits()
        try:
            rating = await self._ask(SURVEY_RATING_PROMPTS, "12345")
            if rating is not None:
                row.update(rating=int(rating), answered_at=utcnow())
            resolved = await self._ask(SURVEY_RESOLVED_PROMPTS, "12")
            if resolved is not None:
                row.update(resolved=resolved == "1", answered_at=utcnow())
            await self.call.play(SURVEY_THANKS)
        finally:
            self.acd.writer.submit(RecordOp("survey", row))
            self._event("SURVEY", utcnow(), rating=row["rating"], resolved=row["resolved"])

    async def _ask(self, prompts: tuple[str, ...], keys: str, tries: int = 2) -> str | None:
        """One key among ``keys``: the prompt (a key stops it), then a few seconds to press."""
        for _ in range(tries):
            digit = await self.call.play(*prompts, interruptible=True)
            if digit is None:
                digit = await self.call.collect_digit(SURVEY_KEY_SECONDS)
            if digit is not None and digit in keys:
                return digit
        return None

    async def _caller_gone(self, talk: Talk) -> None:
        """The caller hung up: the agent's talk is over, and a transfer's target that
        still rings (blind or attended) stops ringing at once."""
        record = self.call.record
        end = utcnow()
        if record.hangup_party != "agent" and not talk.agent_done:
            self._close_hold(talk, end)
            record.talk_ended_at = end
            self._save()
            self._event("COMPLETECALLER", end, **self._summary(talk, end))
            self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
            await self._drop(talk.agent.channel_id)
        leg = talk.consult
        if leg is not None:
            talk.consult = None
            if talk.consult_up:
                self.acd.call_over(leg.agent, talk.visit.queue, self.call_id)
            else:
                self._event(
                    "RINGCANCELED",
                    end,
                    queue=talk.visit.queue,
                    agent=leg.agent,
                    ringtime_ms=_ms(leg.started, end),
                    transfer=True,
                )
                if not leg.external:
                    self.acd.withdraw(self.call_id, leg.agent)
            await self._drop(leg.channel_id)

    async def _talk_failed(self, talk: Talk) -> None:
        """A command on the call failed (a channel vanished under it): the agents on it
        are let go and their legs hung up; the caller's end follows."""
        if not talk.agent_done and not talk.agent.external:
            self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
        await self._drop(talk.agent.channel_id)
        leg = talk.consult
        if leg is not None:
            talk.consult = None
            if talk.consult_up:
                self.acd.call_over(leg.agent, talk.visit.queue, self.call_id)
            elif not leg.external:
                self.acd.withdraw(self.call_id, leg.agent)
            await self._drop(leg.channel_id)

    async def _command(self, talk: Talk, command: AcdCommand) -> None:
        reply = command.reply
        try:
            if command.agent != talk.agent.agent:
                raise CommandRefused(409, f"agent {command.agent!r} is not on this call")
            result = await self._carry_out(talk, command)
        except CommandRefused as exc:
            if reply is not None and not reply.done():
                reply.set_exception(exc)
            return
        except _Rejoin as again:
            # Transferred to a queue: done, the caller waits there now (the agent who asked
            # hears so at once, not after the API's time-out).
            if reply is not None and not reply.done():
                reply.set_result({"transferred_to": f"queue:{again.queue}"})
            raise
        if reply is not None and not reply.done():
            reply.set_result(result)

    async def _carry_out(self, talk: Talk, command: AcdCommand) -> dict[str, Any]:
        action = command.action
        if action == "hold":
            if talk.held_since is not None:
                raise CommandRefused(409, "the caller is already on hold")
            await self._hold(talk)
            return {"held": True}
        if action == "unhold":
            if talk.held_since is None:
                raise CommandRefused(409, "the caller is not on hold")
            if talk.consult is not None:
                raise CommandRefused(409, "finish or cancel the consultation first")
            await self._unhold(talk)
            return {"held": False}
        if action == "transfer":
            return await self._transfer(talk, command.target or "", command.attended)
        if action == "supervise":
            return await self._supervise(talk, command.target or "")
        if action == "complete":
            if talk.consult is None or not talk.consult_up:
                raise CommandRefused(409, "no consultation to complete")
            await self._complete(talk)
            return {"transferred_to": talk.agent.agent}
        if action == "cancel":
            if talk.consult is None:
                raise CommandRefused(409, "no consultation to cancel")
            leg = talk.consult
            if talk.consult_up:
                self.acd.call_over(leg.agent, talk.visit.queue, self.call_id)
            else:
                self.acd.withdraw(self.call_id, leg.agent)
            talk.consult = None
            talk.consult_up = False
            await self._drop(leg.channel_id)
            self._event("CONSULTCANCELED", agent=talk.agent.agent, target=leg.agent)
            await self._unhold(talk)
            return {"canceled": True}
        raise CommandRefused(404, f"no action {action!r}")

    async def _supervise(self, talk: Talk, supervisor: str) -> dict[str, Any]:
        """A supervisor joins the conversation from their own softphone (all three hear
        each other)."""
        if talk.supervisor is not None:
            raise CommandRefused(409, "a supervisor is already on this call")
        if supervisor == talk.agent.agent:
            raise CommandRefused(400, "the agent is already on the call")
        self.acd.check_supervisor(supervisor)  # raises CommandRefused
        leg = await self._ring_direct(supervisor, external=False, supervisor=True)
        talk.supervisor = Ringing(supervisor, leg.channel_id, leg.started, external=True)
        return {"ringing": supervisor}

    async def _supervisor_event(self, talk: Talk, event: Event | None) -> bool:
        """Handle the supervisor's leg; True when the event was theirs."""
        leg = talk.supervisor
        if leg is None or getattr(getattr(event, "channel", None), "id", None) != leg.channel_id:
            return False
        now = utcnow()
        if isinstance(event, StasisStart) and not talk.supervisor_up:
            talk.supervisor_up = True
            await self.call.ari.post(f"/bridges/{talk.bridge}/addChannel", channel=leg.channel_id)
            self._event("SUPERVISORJOIN", now, supervisor=leg.agent, agent=talk.agent.agent)
        elif isinstance(event, ChannelDestroyed | StasisEnd):
            if talk.supervisor_up:
                self._event("SUPERVISORLEAVE", now, supervisor=leg.agent)
            else:
                self._event("RINGNOANSWER", now, agent=leg.agent, supervisor=True)
            self.registry.detach(leg.channel_id, self.call)
            talk.supervisor = None
            talk.supervisor_up = False
        return True

    async def _hold(self, talk: Talk) -> None:
        ari = self.call.ari
        settings = self.acd.settings.get(talk.visit.queue)
        await ari.post(f"/bridges/{talk.bridge}/removeChannel", channel=self.call.channel_id)
        with contextlib.suppress(AriError):
            await ari.post(
                f"/channels/{self.call.channel_id}/moh",
                mohClass=settings.moh_class if settings else "default",
            )
        now = utcnow()
        talk.held_since = now
        if not talk.agent.external:
            self.acd.hold(talk.agent.agent, True)
        record = self.call.record
        record.hold_count = (record.hold_count or 0) + 1
        self._save()
        self._event("CALLERONHOLD", now, queue=talk.visit.queue, agent=talk.agent.agent)

    async def _unhold(self, talk: Talk) -> None:
        ari = self.call.ari
        with contextlib.suppress(AriError):
            await ari.delete(f"/channels/{self.call.channel_id}/moh")
        await ari.post(f"/bridges/{talk.bridge}/addChannel", channel=self.call.channel_id)
        now = utcnow()
        held = self._close_hold(talk, now)
        if not talk.agent.external:
            with contextlib.suppress(AgentStateError, KeyError):
                self.acd.hold(talk.agent.agent, False)
        self._save()
        self._event("CALLEROFFHOLD", now, queue=talk.visit.queue, agent=talk.agent.agent, held=held)

    def _close_hold(self, talk: Talk, now: datetime) -> float:
        if talk.held_since is None:
            return 0.0
        held = _seconds(talk.held_since, now)
        record = self.call.record
        record.hold_seconds = round((record.hold_seconds or 0.0) + held, 3)
        talk.held_since = None
        return held

    async def _transfer(self, talk: Talk, target: str, attended: bool) -> dict[str, Any]:
        kind, _, name = target.partition(":")
        if kind == "queue":
            if attended:
                raise CommandRefused(400, "an attended transfer goes to an agent")
            if name not in self.acd.settings:
                raise CommandRefused(404, f"no queue {name!r}")
            await self._blind_to_queue(talk, name)
            return {"transferred_to": target}
        if kind == "agent":
            if name == talk.agent.agent:
                raise CommandRefused(400, "an agent cannot transfer a call to themselves")
            if talk.consult is not None:
                raise CommandRefused(409, "a consultation is already going on")
            # raises CommandRefused
            self.acd.direct_offer(self.call_id, name, self.call.deliver, talk.visit.queue)
            await self._ring_transfer(talk, target, attended, name)
            return {"ringing": name, "attended": attended}
        if kind == "number":
            number = name.strip()
            if not (number.lstrip("+").isdigit() and 3 <= len(number.lstrip("+")) <= 20):
                raise CommandRefused(400, f"{number!r} is not a phone number")
            # The same toll-fraud guard as callbacks: a stolen agent token must not be a way
            # to bridge callers to international or premium numbers (docs/security.md).
            refusal = callback_refusal(number, get_settings().default_region)
            if refusal is not None:
                raise CommandRefused(403, f"transfers to {number} are not allowed: {refusal}")
            if not self.acd.outbound_uri:
                raise CommandRefused(
                    409, "no outbound trunk is configured (SWITCHBOARD_OUTBOUND_URI)"
                )
            if talk.consult is not None:
                raise CommandRefused(409, "a consultation is already going on")
            await self._ring_transfer(
                talk, target, attended, target, endpoint=f"PJSIP/{number}@trunk-out"
            )
            return {"ringing": target, "attended": attended}
        raise CommandRefused(
            400, f"unknown transfer target {target!r} (agent:NAME, queue:NAME or number:+...)"
        )

    async def _ring_transfer(
        self,
        talk: Talk,
        target: str,
        attended: bool,
        who: str,
        endpoint: str | None = None,
    ) -> None:
        """Ring the transfer's target with the caller on hold. Blind: the first agent is
        done at once, and the caller hears music until the target answers."""
        if talk.held_since is None:
            await self._hold(talk)
        talk.consult = await self._ring_direct(
            who, endpoint=endpoint, external=endpoint is not None
        )
        talk.attended = attended
        if not attended:
            self._event("BLINDTRANSFER", target=target, **self._summary(talk, utcnow()))
            talk.agent_done = True
            self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
            await self._drop(talk.agent.channel_id)

    async def _ring_direct(
        self,
        agent: str,
        endpoint: str | None = None,
        external: bool = False,
        supervisor: bool = False,
    ) -> Ringing:
        self._direct += 1
        label = "ext" if external else agent
        channel_id = f"{self.call_id}-{label}-t{self._direct}"
        now = utcnow()
        try:
            await self._originate(channel_id, endpoint or f"PJSIP/{agent}", 30, {})
        except AriError as exc:
            if not external:
                self.acd.withdraw(self.call_id, agent)
            raise CommandRefused(502, f"could not ring {agent}: {exc}") from None
        if supervisor:
            self._event("RINGING", now, agent=agent, channel=channel_id, supervisor=True)
        else:
            self._event("RINGING", now, agent=agent, channel=channel_id, transfer=True)
        return Ringing(agent, channel_id, now, external=external)

    async def _consult_answered(self, talk: Talk) -> None:
        leg = talk.consult
        assert leg is not None
        now = utcnow()
        if not leg.external and not self.acd.answered(
            self.call_id, leg.agent, talk.visit.queue, self.call.deliver
        ):
            await self._drop(leg.channel_id)
            talk.consult = None
            await self._unhold(talk)
            return
        if talk.agent_done:
            # A blind transfer: the caller meets the new agent at once.
            talk.agent = leg
            talk.consult = None
            talk.agent_done = False
            talk.connected = now
            await self.call.ari.post(f"/bridges/{talk.bridge}/addChannel", channel=leg.channel_id)
            await self._unhold(talk)
            self._event("CONNECT", now, queue=talk.visit.queue, agent=leg.agent, transfer=True)
            return
        talk.consult_up = True
        await self.call.ari.post(f"/bridges/{talk.bridge}/addChannel", channel=leg.channel_id)
        self._event("CONSULT", now, agent=talk.agent.agent, target=leg.agent)

    async def _consult_failed(self, talk: Talk, cause: int | None) -> None:
        leg = talk.consult
        assert leg is not None
        now = utcnow()
        self.acd.rang_out(self.call_id, leg.agent, talk.visit.queue)
        self._event(
            "RINGNOANSWER", now, agent=leg.agent, ringtime_ms=_ms(leg.started, now), cause=cause
        )
        self.registry.detach(leg.channel_id, self.call)
        talk.consult = None
        if talk.agent_done:
            # Nobody took the blind transfer: the caller goes back to the queue, first.
            talk.agent_done = False
            await self._rejoin(talk)
            return
        await self._unhold(talk)

    async def _complete(self, talk: Talk) -> None:
        leg = talk.consult
        assert leg is not None
        now = utcnow()
        self._event(
            "ATTENDEDTRANSFER", now, target=f"agent:{leg.agent}", **self._summary(talk, now)
        )
        self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
        await self._drop(talk.agent.channel_id)
        talk.agent = leg
        talk.consult = None
        talk.consult_up = False
        talk.connected = now
        await self._unhold(talk)

    async def _blind_to_queue(self, talk: Talk, queue: str) -> None:
        now = utcnow()
        self._close_hold(talk, now)
        self._event("BLINDTRANSFER", now, target=f"queue:{queue}", **self._summary(talk, now))
        talk.agent_done = True
        self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
        await self._drop(talk.agent.channel_id)
        talk.visit = QueueVisit(queue, now, 0)
        await self._rejoin(talk)

    async def _rejoin(self, talk: Talk) -> None:
        """Back into a queue (after a transfer), keeping the caller's first arrival."""
        with contextlib.suppress(AriError):
            await self.call.ari.post(
                f"/bridges/{talk.bridge}/removeChannel", channel=self.call.channel_id
            )
        talk.held_since = None
        arrived = self.call.record.queued_at
        raise _Rejoin(talk.visit.queue, arrived)


@dataclass
class Talk:
    visit: QueueVisit
    agent: Ringing
    bridge: str
    connected: datetime
    held_since: datetime | None = None
    consult: Ringing | None = None
    consult_up: bool = False
    attended: bool = False
    agent_done: bool = False
    supervisor: Ringing | None = None
    supervisor_up: bool = False

    def consult_ringing(self, channel_id: str) -> bool:
        return (
            self.consult is not None
            and not self.consult_up
            and self.consult.channel_id == channel_id
        )


class _Rejoin(Exception):
    def __init__(self, queue: str, arrived: datetime | None) -> None:
        super().__init__(queue)
        self.queue = queue
        self.arrived = arrived
