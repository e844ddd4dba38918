"""A caller connected with an agent: the bridge, recording, hold, the agent's and the
caller's hang-up, the supervisor, commands from the agent's desk, the post-call survey."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ari_app.acd import (
    AcdCommand,
    CommandRefused,
    utcnow,
)
from ari_app.call_recording import CallRecorder, RecordingRefused
from ari_app.client import AriError, AriHttpError, AriNotFound
from ari_app.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    Event,
    StasisEnd,
    StasisStart,
)
from ari_app.queue_offers import QueueVisit, Ringing, _ms, _seconds
from ari_app.queue_waiting import WaitingCall
from ari_app.session import CallEnded
from callcenter.acd.agents import AgentStateError
from callcenter.acd.supervision import snoop_for
from callcenter.calls.recording import FeatureKeys
from db.record_ops import RecordOp

log = structlog.get_logger(__name__)

# The post-call survey's prompts, from Asterisk's stock sounds (a beep, then the range of
# keys); a real center records its own ("How would you rate this call, 1 to 5?").
SURVEY_RATING_PROMPTS = ("sound:beep", "sound:digits/1", "sound:digits/5")
SURVEY_RESOLVED_PROMPTS = ("sound:beep", "sound:digits/1", "sound:digits/2")
SURVEY_THANKS = "sound:auth-thankyou"
SURVEY_KEY_SECONDS = 6.0


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
    supervisor_mode: str = "barge"  # listen, whisper or barge (callcenter/acd/supervision.py)
    spy_bridge: str | None = None  # where the supervisor and the snoop meet (listen, whisper)
    snoop: str | None = None  # the snoop channel on the agent's leg
    snoops: int = 0
    # What the console shows for this supervision (agent, (supervisor, mode)): removed at
    # its end only if still this one (the agent may be on their next call by then).
    watch: tuple[str, tuple[str, str]] | None = None
    recorder: CallRecorder | None = None
    keys: FeatureKeys = field(default_factory=FeatureKeys)  # the agent's *1 / *2

    def consult_ringing(self, channel_id: str) -> bool:
        return (
            self.consult is not None
            and not self.consult_up
            and self.consult.channel_id == channel_id
        )


class ConnectedCall(WaitingCall):
    """The talk between the caller and an agent, to its end."""

    # Transfers, completed by ari_app/transfers.py (TransferringCall): the connected call
    # hands its consultations and transfers over to them.
    async def _transfer(self, talk: Talk, target: str, attended: bool) -> dict[str, Any]:
        raise NotImplementedError

    async def _ring_direct(
        self,
        agent: str,
        endpoint: str | None = None,
        external: bool = False,
        supervisor: bool = False,
    ) -> Ringing:
        raise NotImplementedError

    async def _consult_answered(self, talk: Talk) -> None:
        raise NotImplementedError

    async def _consult_failed(self, talk: Talk, cause: int | None) -> None:
        raise NotImplementedError

    async def _complete(self, talk: Talk) -> None:
        raise NotImplementedError

    async def _talk(self, visit: QueueVisit, agent: Ringing) -> None:
        """Caller and agent talk until one hangs up; the agent may hold, unhold and
        transfer (blind, or attended with a consultation first)."""
        record = self.call.record
        now = utcnow()
        bridge = f"call-{self.call_id}"
        ari = self.call.ari
        await self._leave_holding()
        await self.call.stop_music()
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
            await self._record(talk, bridge, now)
        try:
            while True:
                event = await self.call.next_event(timeout=None)
                if await self._supervisor_event(talk, event):
                    continue
                if isinstance(event, AcdCommand):
                    await self._command(talk, event)
                elif (
                    isinstance(event, ChannelDtmfReceived)
                    and event.channel.id == talk.agent.channel_id
                ):
                    await self._agent_key(talk, event.digit)
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
            await self._end_supervision(talk)
            if talk.recorder is not None:
                talk.recorder.finish(utcnow())
            with contextlib.suppress(AriNotFound, AriError):
                await ari.delete(f"/bridges/{bridge}")

    async def _record(self, talk: Talk, bridge: str, now: datetime) -> None:
        """Record the whole conversation, transfers included (the bridge stays the same);
        its name goes on the call. A failure to record never stops the call."""
        recorder = CallRecorder(self.call, talk.visit.queue, talk.agent.agent)
        if await recorder.start(bridge, now):
            talk.recorder = recorder

    async def _recording(self, talk: Talk, action: str, by: str) -> dict[str, Any]:
        if talk.recorder is None:
            raise CommandRefused(409, "this call is not being recorded")
        try:
            if action == "pause_recording":
                return await talk.recorder.pause(utcnow(), by)
            return await talk.recorder.resume(utcnow(), by)
        except RecordingRefused as exc:
            raise CommandRefused(409, str(exc)) from None

    async def _agent_key(self, talk: Talk, digit: str) -> None:
        """A key on the agent's phone: *1 pauses the recording, *2 resumes it."""
        wanted = talk.keys.press(digit)
        if wanted is None:
            return
        try:
            await self._recording(talk, f"{wanted}_recording", f"agent:{talk.agent.agent}")
        except CommandRefused as exc:
            self.call.log.info("queue.recording_key_refused", key=wanted, error=str(exc))

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
        if action in ("pause_recording", "resume_recording"):
            return await self._recording(talk, action, f"agent:{talk.agent.agent}")
        if action == "supervise":
            return await self._supervise(talk, command.target or "", command.mode or "barge")
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

    async def _supervise(self, talk: Talk, supervisor: str, mode: str) -> dict[str, Any]:
        """A supervisor listens to the call, whispers to the agent, or barges in (all three
        hear each other), from their own phone; the same supervisor asking again on the
        call changes the mode."""
        try:
            snoop_for(mode)
        except ValueError as exc:
            raise CommandRefused(400, str(exc)) from None
        leg = talk.supervisor
        if leg is not None and leg.agent == supervisor and talk.supervisor_up:
            if mode != talk.supervisor_mode and not await self._supervise_as(talk, mode, False):
                raise CommandRefused(502, "Asterisk refused the change: the supervisor is let go")
            return {"supervising": supervisor, "mode": mode}
        if leg is not None:
            raise CommandRefused(409, "a supervisor is already on this call")
        if supervisor == talk.agent.agent:
            raise CommandRefused(400, "the agent is already on the call")
        self.acd.check_supervisor(supervisor)  # raises CommandRefused
        ringing = await self._ring_direct(supervisor, external=False, supervisor=True)
        talk.supervisor = Ringing(supervisor, ringing.channel_id, ringing.started, external=True)
        talk.supervisor_mode = mode
        return {"ringing": supervisor, "mode": mode}

    async def _supervisor_event(self, talk: Talk, event: Event | None) -> bool:
        """Handle the supervisor's leg and its snoop; True when the event was theirs."""
        channel = getattr(getattr(event, "channel", None), "id", None)
        if talk.snoop is not None and channel == talk.snoop:
            return True  # the snoop entering or leaving Stasis: nothing to do
        leg = talk.supervisor
        if leg is None or channel != leg.channel_id:
            return False
        now = utcnow()
        if isinstance(event, StasisStart) and not talk.supervisor_up:
            talk.supervisor_up = True
            await self._supervise_as(talk, talk.supervisor_mode, True)
        elif isinstance(event, ChannelDestroyed | StasisEnd):
            if talk.supervisor_up:
                self._event("SUPERVISORLEAVE", now, supervisor=leg.agent)
            else:
                self._event("RINGNOANSWER", now, agent=leg.agent, supervisor=True)
            self.registry.detach(leg.channel_id, self.call)
            talk.supervisor = None
            talk.supervisor_up = False
            await self._end_supervision(talk)
        return True

    async def _supervise_as(self, talk: Talk, mode: str, joined: bool) -> bool:
        """``_supervision_mode``, where Asterisk failing (the supervisor hung up meanwhile,
        a bridge gone) lets the supervisor go and never touches the caller's talk."""
        try:
            await self._supervision_mode(talk, mode, joined=joined)
            return True
        except AriError as exc:
            leg = talk.supervisor
            self.call.log.warning("supervise.failed", mode=mode, error=str(exc)[:200])
            if leg is not None:
                self._event("SUPERVISORLEAVE", utcnow(), supervisor=leg.agent, error=str(exc)[:200])
                talk.supervisor = None
                talk.supervisor_up = False
                await self._drop(leg.channel_id)
            await self._end_supervision(talk)
            return False

    async def _supervision_mode(self, talk: Talk, mode: str, *, joined: bool) -> None:
        """Put the answered supervisor where ``mode`` wants them: in the conversation's
        bridge (barge), or in a bridge of their own with a snoop on the agent's leg
        (listen: they hear both sides, nobody hears them; whisper: the agent hears them)."""
        ari = self.call.ari
        leg = talk.supervisor
        assert leg is not None
        snoop = snoop_for(mode)
        await self._drop_snoop(talk)
        if talk.supervisor_mode == "barge" and not joined:
            await ari.post(f"/bridges/{talk.bridge}/removeChannel", channel=leg.channel_id)
        if snoop is None:
            if talk.spy_bridge is not None:
                with contextlib.suppress(AriNotFound, AriError):
                    await ari.delete(f"/bridges/{talk.spy_bridge}")
                talk.spy_bridge = None
            await self._add_supervisor(talk.bridge, leg.channel_id)
        else:
            if talk.spy_bridge is None:
                talk.spy_bridge = f"spy-{leg.channel_id}"
                await ari.post(f"/bridges/{talk.spy_bridge}", type="mixing", name=talk.spy_bridge)
                await self._add_supervisor(talk.spy_bridge, leg.channel_id)
            talk.snoops += 1
            snoop_id = f"{leg.channel_id}-snoop{talk.snoops}"
            self.registry.attach(snoop_id, self.call)  # before it exists: its StasisStart
            talk.snoop = snoop_id  # (dropped with the supervision if the next steps fail)
            await ari.post(
                f"/channels/{talk.agent.channel_id}/snoop",
                spy=snoop.spy,
                whisper=snoop.whisper,
                app=ari.app,
                appArgs="snoop",
                snoopId=snoop_id,
            )
            await ari.post(f"/bridges/{talk.spy_bridge}/addChannel", channel=snoop_id)
        talk.supervisor_mode = mode
        self._unwatch(talk)
        talk.watch = (talk.agent.agent, (leg.agent, mode))
        self.acd.supervised[talk.agent.agent] = talk.watch[1]
        self._event(
            "SUPERVISORJOIN" if joined else "SUPERVISORMODE",
            utcnow(),
            supervisor=leg.agent,
            agent=talk.agent.agent,
            mode=mode,
            spy=snoop.spy if snoop else None,
            whisper=snoop.whisper if snoop else None,
        )

    async def _add_supervisor(self, bridge: str, channel: str) -> None:
        """Add the supervisor's leg to a bridge. Just after its StasisStart Asterisk may
        still answer 422 "Channel not in Stasis application" for an originated leg (seen
        about once in twenty joins under load): asked again a few times, 50 ms apart; a leg
        that really left (hung up) still fails after half a second."""
        for attempt in range(10):
            try:
                await self.call.ari.post(f"/bridges/{bridge}/addChannel", channel=channel)
                return
            except AriHttpError as exc:
                if exc.status != 422 or attempt == 9:
                    raise
                self.call.log.info("supervise.not_in_stasis_yet", channel=channel, attempt=attempt)
                await asyncio.sleep(0.05)

    def _unwatch(self, talk: Talk) -> None:
        if talk.watch is not None:
            agent, shown = talk.watch
            if self.acd.supervised.get(agent) is shown:
                del self.acd.supervised[agent]
            talk.watch = None

    async def _drop_snoop(self, talk: Talk) -> None:
        if talk.snoop is None:
            return
        snoop, talk.snoop = talk.snoop, None
        self.registry.detach(snoop, self.call)
        if talk.spy_bridge is not None:
            with contextlib.suppress(AriNotFound, AriError):
                await self.call.ari.post(f"/bridges/{talk.spy_bridge}/removeChannel", channel=snoop)
        try:
            await self.call.ari.delete(f"/channels/{snoop}")
        except AriError as exc:
            self.call.log.warning("supervise.snoop_drop_failed", snoop=snoop, error=str(exc))

    async def _end_supervision(self, talk: Talk) -> None:
        """No supervisor any more (they hung up, or the talk ended): the snoop and the
        supervisor's own bridge go."""
        self._unwatch(talk)
        await self._drop_snoop(talk)
        if talk.spy_bridge is not None:
            with contextlib.suppress(AriNotFound, AriError):
                await self.call.ari.delete(f"/bridges/{talk.spy_bridge}")
            talk.spy_bridge = None

    async def _hold(self, talk: Talk) -> None:
        ari = self.call.ari
        settings = self.acd.settings.get(talk.visit.queue)
        await ari.post(f"/bridges/{talk.bridge}/removeChannel", channel=self.call.channel_id)
        await self.call.start_music(settings.moh_class if settings else "default")
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
        await self.call.stop_music()
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


class _Rejoin(Exception):
    def __init__(self, queue: str, arrived: datetime | None) -> None:
        super().__init__(queue)
        self.queue = queue
        self.arrived = arrived
