"""One call's serialized handler.

Every ARI event for the call, every command from elsewhere (API, shutdown, reconciliation)
and every timer goes through this one task and its queue, so the call's state has a single
writer and no race between the event stream and a command can exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from ari_app.client import AriClient, AriError, AriHttpError, AriNotFound
from ari_app.events import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from callcenter.calls.errors import CallEnded
from callcenter.calls.record import (
    CAUSE_NETWORK_OUT_OF_ORDER,
    CAUSE_NORMAL_CLEARING,
    CallEventRecord,
    CallRecord,
    HangupParty,
)

log = structlog.get_logger(__name__)

__all__ = ["CallEnded", "CallSession", "CallSink", "ChannelGone", "ShutdownRequested"]

# A playback whose PlaybackFinished has not come after this long is asked about: the event
# can be lost while the websocket reconnects.
PLAYBACK_CHECK_S = 10.0
GONE_EARLY_WAIT_S = 1.0  # a channel gone before we subscribed: its StasisEnd is near


# A soft hangup request carries Asterisk's reason flags (AST_SOFTHANGUP_*), not a Q.850
# cause: 4 is SHUTDOWN (Asterisk stopping or restarting), 32 EXPLICIT (an ARI hangup).
SOFTHANGUP_SHUTDOWN = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChannelGone(Event):
    """Synthetic: reconciliation found the channel no longer exists in Asterisk."""

    cause: int | None = None
    cause_text: str = ""
    party: str = "unknown"
    ended_at: datetime | None = None


class ShutdownRequested(Event):
    """Synthetic: the application is stopping and this call must be closed now."""


class CallSink:
    """Where a session's record snapshots and events go (the record writer)."""

    def save(self, record: CallRecord, channel_name: str | None) -> None:
        raise NotImplementedError

    def log_event(self, event: CallEventRecord) -> None:
        raise NotImplementedError

    def ended(self, record: CallRecord) -> None:
        """The call is over: its platform outcome code goes on it."""

    def save_leg(self, row: dict[str, Any]) -> None:
        """A snapshot of another leg of the call (an agent, a supervisor, a callee)."""

    def save_recording(self, row: dict[str, Any]) -> None:
        """A snapshot of one of the call's recordings (its row in ``recordings``)."""

    def save_callback(self, row: dict[str, Any]) -> None:
        """A callback request the call made (its row in ``callback_requests``)."""


Flow = Callable[["CallSession"], Awaitable[None]]


class CallSession:
    def __init__(
        self,
        channel: Channel,
        record: CallRecord,
        ari: AriClient,
        sink: CallSink,
        *,
        destroyed_wait: float = 5.0,
    ) -> None:
        self.channel = channel
        self.record = record
        self.ari = ari
        self.sink = sink
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._digits: list[str] = []
        self._we_hung_up = False
        self._ended = False
        self._destroyed_wait = destroyed_wait
        self._pending_cause: tuple[int | None, str] = (None, "")
        self._legs: dict[str, dict[str, Any]] = {}
        self._asterisk_shutdown = False
        self._gone_early = False
        self._on_end: dict[str, Callable[[], None]] = {}
        self._music = False  # music on hold started on the channel itself (the caller held)
        # What the caller gave the IVR (keys, lookup results): shown to the agent, not stored.
        self.collected: dict[str, str] = {}
        self.log = log.bind(call_id=str(record.id), channel=channel.id)

    @property
    def channel_id(self) -> str:
        return self.channel.id

    async def start_music(self, moh_class: str) -> None:
        """Music on hold on the caller's channel (a failure leaves them in silence)."""
        with contextlib.suppress(AriError):
            await self.ari.post(f"/channels/{self.channel_id}/moh", mohClass=moh_class)
            self._music = True

    async def stop_music(self) -> None:
        """Stop the channel's own music, if we started it: no request otherwise (two per
        call were spent on music that never played)."""
        if self._music:
            self._music = False
            with contextlib.suppress(AriError):
                await self.ari.delete(f"/channels/{self.channel_id}/moh")

    def deliver(self, event: Event) -> None:
        """Hand an event or command to this call's task (never blocks)."""
        self._queue.put_nowait(event)

    def on_end(self, key: str, action: Callable[[], None]) -> None:
        """Run ``action`` once the call is over and its record closed, however it ended
        (the first action given for a ``key`` is kept)."""
        self._on_end.setdefault(key, action)

    # --- the task ---------------------------------------------------------------------

    async def run(self, flow: Flow) -> None:
        self.sink.save(self.record, self.channel.name)
        self._log(
            self.record.event(
                self.record.arrived_at,
                "ARRIVE",
                caller=self.record.caller_number,
                dialed=self.record.dialed_number,
            )
        )
        try:
            await self._subscribe()
            await flow(self)
            await self.hangup()
        except CallEnded:
            pass
        except AriNotFound:
            self.log.info("call.channel_gone_during_command")
        except AriError as exc:
            self.log.warning("call.ari_error", error=str(exc))
        except Exception:
            self.log.exception("call.flow_failed")
            with contextlib.suppress(CallEnded, AriError):
                await self.hangup()
        finally:
            await self._finish()

    async def _subscribe(self) -> None:
        """Subscribe to the channel itself, so its ChannelDestroyed (with the final cause)
        still reaches us after it leaves Stasis. A channel already gone (the far end hung up
        as it answered) is no event source any more: its ChannelDestroyed will never come,
        so the call ends with what its queued events say."""
        try:
            await self.ari.post(
                f"/applications/{self.ari.app}/subscription",
                eventSource=f"channel:{self.channel_id}",
            )
        except AriHttpError as exc:
            if exc.status not in (404, 422):
                raise
            self.log.info("call.channel_gone_before_subscribe")
            self._gone_early = True
            raise CallEnded from exc

    async def _finish(self) -> None:
        try:
            if not self._ended:
                await self._wait_destroyed()
        finally:
            # Even when cancelled, the record is closed and handed to the writer.
            if self.record.is_live:
                if self._asterisk_shutdown:
                    self._end(
                        utcnow(),
                        CAUSE_NETWORK_OUT_OF_ORDER,
                        "Asterisk shut down during the call",
                        outcome="lost",
                    )
                else:
                    cause, text = self._pending_cause
                    if self._gone_early and cause:
                        text = text or _cause_text(cause)
                    self._end(utcnow(), cause, text or "channel end not seen")
            for action in list(self._on_end.values()):
                try:
                    action()
                except Exception:
                    self.log.exception("call.on_end_failed")

    async def _wait_destroyed(self) -> None:
        """Apply the channel's last events until its ChannelDestroyed ends the call. A
        channel gone before we subscribed sends none: there, its StasisEnd (already sent
        when Asterisk said the channel is gone) is the last, and a second is plenty."""
        wait = GONE_EARLY_WAIT_S if self._gone_early else self._destroyed_wait
        try:
            async with asyncio.timeout(wait):
                while not self._ended:
                    event = await self._queue.get()
                    with contextlib.suppress(CallEnded, _Shutdown):
                        self._observe(event)
                    if (
                        self._gone_early
                        and isinstance(event, StasisEnd)
                        and event.channel.id == self.channel_id
                    ):
                        return
        except TimeoutError:
            self.log.warning(
                "call.stasis_end_not_seen" if self._gone_early else "call.destroyed_not_seen"
            )

    def _end(
        self,
        at: datetime,
        cause: int | None,
        text: str,
        party: HangupParty | None = None,
        outcome: str | None = None,
    ) -> None:
        self._ended = True
        ended = self.record.end(at, cause=cause, cause_text=text, party=party, outcome=outcome)
        # The HANGUP event is stored before the row that shows the call ended: whoever sees
        # an ended call sees its whole event log.
        self._log(ended)
        self.sink.save(self.record, self.channel.name)
        if ended is not None:
            self.sink.ended(self.record)

    def _log(self, event: CallEventRecord | None) -> None:
        if event is not None:
            self.sink.log_event(event)

    # --- the call's other legs ----------------------------------------------------------

    def leg_started(self, channel_id: str, role: str, at: datetime) -> None:
        self._legs[channel_id] = {
            "call_id": self.record.id,
            "channel_id": channel_id,
            "channel_name": None,
            "role": role,
            "created_at": at,
            "answered_at": None,
            "ended_at": None,
            "hangup_cause": None,
            "hangup_cause_text": None,
        }
        self.sink.save_leg(dict(self._legs[channel_id]))

    def leg_answered(self, channel_id: str, at: datetime, name: str | None = None) -> None:
        leg = self._legs.get(channel_id)
        if leg is None or leg["answered_at"] is not None or leg["ended_at"] is not None:
            return
        leg["answered_at"] = max(at, leg["created_at"])
        leg["channel_name"] = name or leg["channel_name"]
        self.sink.save_leg(dict(leg))

    def leg_ended(
        self, channel_id: str, at: datetime, cause: int | None, text: str | None = None
    ) -> None:
        leg = self._legs.get(channel_id)
        if leg is None or leg["ended_at"] is not None:
            return
        leg["ended_at"] = max(at, leg["created_at"])
        leg["hangup_cause"] = cause
        leg["hangup_cause_text"] = text or (_cause_text(cause) if cause else None)
        self.sink.save_leg(dict(leg))

    # --- events -----------------------------------------------------------------------

    def _observe(self, event: Event) -> Event:
        """Apply what every event means for the record; raise CallEnded when it is over."""
        other = getattr(event, "channel", None)
        if isinstance(other, Channel) and other.id != self.channel_id:
            # Another leg of this call (an agent): its row follows; the flow handles it.
            at = event.timestamp or utcnow()
            if isinstance(event, StasisStart):
                self.leg_answered(other.id, at, other.name)
            elif isinstance(event, ChannelDestroyed):
                self.leg_ended(other.id, at, event.cause, event.cause_txt)
            return event
        at = event.timestamp or utcnow()
        if isinstance(event, ChannelDtmfReceived):
            try:
                self._log(self.record.add_digit(event.digit, at))
            except ValueError:
                self.log.warning("call.odd_dtmf", digit=event.digit)
                return event
            self._digits.append(event.digit)
        elif isinstance(event, ChannelStateChange):
            if event.channel.state == "Up":
                answered = self.record.answer(at)
                self._log(answered)
                if answered is not None:
                    self.sink.save(self.record, self.channel.name)
        elif isinstance(event, ChannelHangupRequest):
            self.log.debug("call.hangup_request", cause=event.cause, soft=event.soft, raw=event.raw)
            if event.soft and event.cause == SOFTHANGUP_SHUTDOWN:
                self._asterisk_shutdown = True
                self.record.note_hangup_party("system")
            elif not event.soft:
                # Only a hard request's cause is a Q.850 cause; a soft one carries flags.
                # A SIP BYE arrives with no cause at all: by the SIP to Q.850 mapping
                # (RFC 3398) a BYE is normal clearing.
                self.record.note_hangup_party("system" if self._we_hung_up else "caller")
                self._pending_cause = (event.cause or CAUSE_NORMAL_CLEARING, "")
            raise CallEnded
        elif isinstance(event, StasisEnd):
            if not self._we_hung_up:
                self.record.note_hangup_party("caller")
            raise CallEnded
        elif isinstance(event, ChannelDestroyed):
            self.log.debug("call.destroyed", cause=event.cause, text=event.cause_txt)
            if not self._we_hung_up:
                self.record.note_hangup_party("caller")
            if self._asterisk_shutdown:
                self._end(
                    at,
                    CAUSE_NETWORK_OUT_OF_ORDER,
                    "Asterisk shut down during the call",
                    outcome="lost",
                )
                raise CallEnded
            cause, text = event.cause, event.cause_txt
            requested, _ = self._pending_cause
            if not cause and requested:
                # A SIP BYE leaves the destroyed channel's cause at 0; the hangup request
                # carried the real one.
                cause, text = requested, _cause_text(requested)
            self._end(at, cause, text)
            raise CallEnded
        elif isinstance(event, ChannelGone):
            self._end(
                event.ended_at or at,
                event.cause,
                event.cause_text,
                party="unknown",
                outcome="lost",
            )
            raise CallEnded
        elif isinstance(event, ShutdownRequested):
            raise _Shutdown
        return event

    async def next_event(self, timeout: float | None) -> Event | None:
        """The next event for this call, or None when ``timeout`` passes first."""
        try:
            async with asyncio.timeout(timeout):
                event = await self._queue.get()
        except TimeoutError:
            return None
        try:
            return self._observe(event)
        except _Shutdown:
            self.log.info("call.shutdown_hangup")
            await self.hangup(reason="normal")
            raise CallEnded from None

    # --- commands ---------------------------------------------------------------------

    async def answer(self) -> None:
        await self.ari.post(f"/channels/{self.channel_id}/answer")
        answered = self.record.answer(utcnow())
        if answered is not None:
            self._log(answered)
            self.sink.save(self.record, self.channel.name)

    async def play(
        self, *media: str, interruptible: bool = False, language: str | None = None
    ) -> str | None:
        """Play media to the end; with ``interruptible``, a key stops it and is returned."""
        if interruptible and self._digits:
            return self._digits.pop(0)
        playback_id = str(uuid.uuid4())
        path = f"/channels/{self.channel_id}/play/{playback_id}"
        if language:
            await self.ari.post(path, media=",".join(media), lang=language)
        else:
            await self.ari.post(path, media=",".join(media))
        while True:
            event = await self.next_event(timeout=PLAYBACK_CHECK_S)
            if event is None:
                if not await self._playback_exists(playback_id):
                    self.log.warning("call.playback_finished_not_seen", playback=playback_id)
                    return None
                continue
            if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
                return None
            if interruptible and self._digits:
                with contextlib.suppress(AriNotFound):
                    await self.ari.delete(f"/playbacks/{playback_id}")
                return self._digits.pop(0)

    async def _playback_exists(self, playback_id: str) -> bool:
        try:
            await self.ari.get(f"/playbacks/{playback_id}")
        except AriNotFound:
            return False
        return True

    def discard_digits(self) -> list[str]:
        """Forget keys pressed ahead; returns them."""
        dropped, self._digits = self._digits, []
        return dropped

    async def set_language(self, language: str) -> None:
        await self.ari.post(
            f"/channels/{self.channel_id}/variable",
            variable="CHANNEL(language)",
            value=language,
        )
        self.record.language = language

    async def collect_digit(self, timeout: float) -> str | None:
        """One key pressed now or within ``timeout`` seconds."""
        if self._digits:
            return self._digits.pop(0)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            await self.next_event(timeout=remaining)
            if self._digits:
                return self._digits.pop(0)

    async def hangup(self, reason: str = "normal") -> None:
        """Hang the call up from our side and wait for Asterisk to confirm."""
        if self._ended:
            raise CallEnded
        self._we_hung_up = True
        self.record.note_hangup_party("system")
        with contextlib.suppress(AriNotFound):
            await self.ari.delete(f"/channels/{self.channel_id}", reason=reason)
        raise CallEnded


class _Shutdown(Exception):
    pass


_CAUSE_TEXTS = {
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
}


def _cause_text(cause: int) -> str:
    return _CAUSE_TEXTS.get(cause, f"cause {cause}")
