"""Typed ARI events: the ones the application acts on get a model, the rest stay raw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CallerId(_Model):
    name: str = ""
    number: str = ""


class DialplanCep(_Model):
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""


class Channel(_Model):
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    dialplan: DialplanCep = DialplanCep()
    creationtime: datetime | None = None
    language: str = "en"
    protocol_id: str = ""
    channelvars: dict[str, Any] | None = None


class Playback(_Model):
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


class Event(_Model):
    """Any event; ``raw`` keeps the whole message for the call's event log."""

    type: str
    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def channel_ids(self) -> tuple[str, ...]:
        """The channels this event is about, for routing it to their call."""
        return ()


class ChannelEvent(Event):
    channel: Channel

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,)


class StasisStart(ChannelEvent):
    args: list[str] = Field(default_factory=list)
    replace_channel: Channel | None = None


class StasisEnd(ChannelEvent):
    pass


class ChannelStateChange(ChannelEvent):
    pass


class ChannelDtmfReceived(ChannelEvent):
    digit: str
    duration_ms: int = 0


class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False


class ChannelDestroyed(ChannelEvent):
    cause: int = 0
    cause_txt: str = ""


class ChannelVarset(Event):
    variable: str = ""
    value: str = ""
    channel: Channel | None = None

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,) if self.channel else ()


class PlaybackEvent(Event):
    playback: Playback

    @property
    def channel_ids(self) -> tuple[str, ...]:
        target = self.playback.target_uri
        if target.startswith("channel:"):
            return (target.removeprefix("channel:"),)
        return ()


class PlaybackStarted(PlaybackEvent):
    pass


class PlaybackFinished(PlaybackEvent):
    pass


class LiveRecording(_Model):
    name: str
    format: str = ""
    state: str = ""
    target_uri: str = ""
    duration: int | None = None
    cause: str | None = None


class RecordingEvent(Event):
    """A recording on a channel (a voicemail message) started, finished or failed."""

    recording: LiveRecording

    @property
    def channel_ids(self) -> tuple[str, ...]:
        target = self.recording.target_uri
        if target.startswith("channel:"):
            return (target.removeprefix("channel:"),)
        return ()


class RecordingStarted(RecordingEvent):
    pass


class RecordingFinished(RecordingEvent):
    pass


class RecordingFailed(RecordingEvent):
    pass


class ApplicationReplaced(Event):
    pass


class EndpointStateChange(Event):
    endpoint: dict[str, Any] = Field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        StasisStart,
        StasisEnd,
        ChannelStateChange,
        ChannelDtmfReceived,
        ChannelHangupRequest,
        ChannelDestroyed,
        ChannelVarset,
        PlaybackStarted,
        PlaybackFinished,
        RecordingStarted,
        RecordingFinished,
        RecordingFailed,
        ApplicationReplaced,
        EndpointStateChange,
    )
}


# What the application asks Asterisk for: the events it acts on. ChannelVarset,
# ChannelDialplan, bridge and caller-id updates and the like would cost both sides CPU for
# nothing (dozens per call).
ACTED_ON: frozenset[str] = frozenset(EVENT_TYPES) - {"ChannelVarset"}


def parse_event(message: dict[str, Any]) -> Event:
    """Turn one websocket message into a typed event; unknown or odd ones stay raw."""
    kind = str(message.get("type", ""))
    model = EVENT_TYPES.get(kind, Event)
    try:
        return model.model_validate({**message, "raw": message})
    except ValidationError:
        return Event.model_validate(
            {
                "type": kind,
                "application": str(message.get("application", "")),
                "raw": message,
            }
        )
