"""A queue call's recording on its bridge: started, paused and resumed through ARI, its row
(``recordings``) kept up to date through the call's record sink. A failure to record, pause
or resume never stops the call: it is an event on the call and an error for whoever asked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ari_app.client import AriError
from ari_app.session import CallSession
from callcenter.calls.recording import RecordingClock, RecordingStateError


class RecordingRefused(Exception):
    """Pause or resume cannot be done now (the message says why)."""


class CallRecorder:
    def __init__(self, call: CallSession, queue: str | None, agent: str | None) -> None:
        self.call = call
        self.id = uuid.uuid4()
        self.name = f"call-{call.record.id}"
        self.queue = queue
        self.agent = agent
        self.clock: RecordingClock | None = None

    @property
    def live(self) -> bool:
        return self.clock is not None and self.clock.ended_at is None

    async def start(self, bridge: str, now: datetime) -> bool:
        try:
            await self.call.ari.post(
                f"/bridges/{bridge}/record", name=self.name, format="wav", ifExists="overwrite"
            )
        except AriError as exc:
            self.call.log.warning("queue.recording_failed", error=str(exc))
            self._event("RECORDINGFAILED", now, error=str(exc)[:200])
            return False
        self.clock = RecordingClock(now)
        self.call.record.recording = self.name
        self._save()
        self._event("RECORDING", now, name=self.name, format="wav", recording=str(self.id))
        return True

    async def pause(self, now: datetime, by: str) -> dict[str, Any]:
        clock = self._clock()
        try:
            gap = clock.pause(now, by=by)
        except RecordingStateError as exc:
            raise RecordingRefused(str(exc)) from None
        try:
            await self.call.ari.post(f"/recordings/live/{self.name}/pause")
        except AriError as exc:
            clock.gaps.pop()
            raise RecordingRefused(f"Asterisk could not pause the recording: {exc}") from exc
        self._save()
        self._event("RECORDPAUSE", now, name=self.name, offset=round(gap.offset, 3), by=by)
        return {"recording": "paused", "offset": round(gap.offset, 3)}

    async def resume(self, now: datetime, by: str) -> dict[str, Any]:
        clock = self._clock()
        if not clock.paused:
            raise RecordingRefused("the recording is not paused")
        try:
            await self.call.ari.delete(f"/recordings/live/{self.name}/pause")
        except AriError as exc:
            raise RecordingRefused(f"Asterisk could not resume the recording: {exc}") from exc
        gap = clock.resume(now)
        self._save()
        self._event("RECORDRESUME", now, name=self.name, paused_seconds=gap.seconds, by=by)
        return {"recording": "resumed", "paused_seconds": gap.seconds}

    def finish(self, now: datetime) -> None:
        """The conversation is over: the recording stops with its bridge."""
        if self.clock is None or self.clock.ended_at is not None:
            return
        self.clock.end(now)
        self._save()

    def _clock(self) -> RecordingClock:
        if self.clock is None:
            raise RecordingRefused("this call is not being recorded")
        return self.clock

    def _save(self) -> None:
        clock = self.clock
        if clock is None:
            return
        self.call.sink.save_recording(
            {
                "id": self.id,
                "call_id": self.call.record.id,
                "kind": "call",
                "name": self.name,
                "format": "wav",
                "queue": self.queue,
                "agent": self.agent,
                "started_at": clock.started_at,
                "ended_at": clock.ended_at,
                "duration_seconds": clock.duration(),
                "paused_seconds": clock.paused_seconds,
                "gaps": [gap.as_dict() for gap in clock.gaps],
            }
        )

    def _event(self, kind: str, at: datetime, **data: Any) -> None:
        self.call.sink.log_event(self.call.record.event(at, kind, **data))
