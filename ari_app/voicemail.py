"""A caller leaves a message: recorded on their channel through ARI (after a beep, until
they press #, stay silent, reach the limit or hang up), kept as a recording of the call
(kind ``voicemail``) and turned into a callback task for the queue, which keeps the
message's age (it is placed in the queue from when the caller called) and plays the message
to the agent before the caller is dialed back.

Used by the IVR's ``voicemail`` node and by a queue's overflow to voicemail."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
import wave
from dataclasses import dataclass

from ari_app.client import AriError, AriNotFound
from ari_app.events import RecordingFailed, RecordingFinished
from ari_app.session import CallEnded, CallSession, utcnow

PROMPTS = ("sound:vm-intro",)  # "Please leave your message after the tone..."
SAVED = ("sound:vm-msgsaved", "sound:vm-goodbye")
# After a hang-up, Asterisk closes the file a moment later: how long to look for it.
FILE_WAIT_S = 3.0


@dataclass(frozen=True)
class MessageLimits:
    max_seconds: float = 120.0
    silence_seconds: float = 10.0
    min_seconds: float = 1.0  # shorter: nobody spoke, nothing is kept


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        return float(audio.getnframes()) / float(audio.getframerate())


async def _stored_seconds(call: CallSession, name: str, wait: float) -> float | None:
    """The length of the stored file (None: there is none)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            return wav_seconds(await call.ari.get_bytes(f"/recordings/stored/{name}/file"))
        except AriNotFound:
            pass
        except (wave.Error, EOFError):
            pass  # still being written
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(0.2)


async def take_message(
    call: CallSession, queue: str, limits: MessageLimits = MessageLimits()
) -> float | None:
    """Record the caller's message for ``queue``; returns its length in seconds, or None
    when nothing was kept. A caller who hangs up to end their message (the usual way) has
    it kept all the same: CallEnded is raised once it is stored."""
    record = call.record
    name = f"vm-{record.id}"
    started = utcnow()
    await call.ari.post(
        f"/channels/{call.channel_id}/record",
        name=name,
        format="wav",
        maxDurationSeconds=max(1, round(limits.max_seconds)),
        maxSilenceSeconds=max(1, round(limits.silence_seconds)),
        beep="true",
        terminateOn="#",
        ifExists="overwrite",
    )
    hung_up = False
    try:
        while True:
            event = await call.next_event(timeout=limits.max_seconds + 10)
            if event is None:
                break  # the end was never announced: whatever was stored counts
            if (
                isinstance(event, RecordingFinished | RecordingFailed)
                and event.recording.name == name
            ):
                break
    except CallEnded:
        hung_up = True
    ended = utcnow()
    seconds = await _stored_seconds(call, name, FILE_WAIT_S if hung_up else 1.0)
    if seconds is None or seconds < limits.min_seconds:
        with contextlib.suppress(AriError):
            await call.ari.delete(f"/recordings/stored/{name}")
        call.sink.log_event(record.event(ended, "VOICEMAILEMPTY", queue=queue, seconds=seconds))
        if hung_up:
            raise CallEnded
        return None
    recording_id = uuid.uuid4()
    call.sink.save_recording(
        {
            "id": recording_id,
            "call_id": record.id,
            "kind": "voicemail",
            "name": name,
            "format": "wav",
            "queue": queue,
            "agent": None,
            "started_at": started,
            "ended_at": ended,
            "duration_seconds": round(seconds, 3),
            "paused_seconds": 0.0,
            "gaps": [],
        }
    )
    number = record.caller_number
    callback = None
    if number and number.lstrip("+").isdigit():
        callback = uuid.uuid4()
        call.sink.save_callback(
            {
                "id": callback,
                "call_id": record.id,
                "number": number,
                "queue": queue,
                "source": "voicemail",
                # Its age is the caller's: it waits in the queue from when they called.
                "requested_at": record.arrived_at,
                "status": "pending",
                "recording_id": recording_id,
            }
        )
    record.outcome = "voicemail"
    call.sink.log_event(
        record.event(
            ended,
            "VOICEMAIL",
            queue=queue,
            recording=str(recording_id),
            seconds=round(seconds, 3),
            callback=str(callback) if callback else None,
        )
    )
    call.sink.save(record, call.channel.name)
    if hung_up:
        raise CallEnded
    return seconds
