"""A scripted caller in virtual time, and recorders, for driving the IVR walker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from callcenter.calls.errors import CallEnded
from callcenter.ivr.schema import LookupNode
from callcenter.ivr.source import FlowSource, parse_flow
from callcenter.ivr.walker import IvrState, LookupResult, QueueRequest, Walker

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
PROMPT_SECONDS = 2.0


@dataclass
class ScriptedCaller:
    """Keys pressed at virtual times (seconds from the start); hangs up at ``hangup_at``."""

    keys: list[tuple[float, str]] = field(default_factory=list)
    hangup_at: float | None = None
    caller: str | None = "+442079460001"
    dialed: str | None = "100"
    now: float = 0.0
    played: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    hung_up: bool = False

    def _advance(self, to: float) -> None:
        if self.hangup_at is not None and to >= self.hangup_at:
            self.now = self.hangup_at
            raise CallEnded
        self.now = to

    def _next_key(self, until: float) -> str | None:
        if self.keys and self.keys[0][0] <= until:
            at, key = self.keys.pop(0)
            self._advance(max(self.now, at))
            return key
        return None

    async def play(self, media: list[str], *, interruptible: bool, language: str) -> str | None:
        self.languages.append(language)
        for item in media:
            self.played.append(item)
            end = self.now + PROMPT_SECONDS
            if interruptible:
                key = self._next_key(end)
                if key is not None:
                    return key
            self._advance(end)
        return None

    async def wait_key(self, timeout: float) -> str | None:
        key = self._next_key(self.now + timeout)
        if key is None:
            self._advance(self.now + timeout)
        return key

    def discard_keys(self) -> list[str]:
        dropped = [k for at, k in self.keys if at <= self.now]
        self.keys = [(at, k) for at, k in self.keys if at > self.now]
        return dropped

    async def set_language(self, language: str) -> None:
        pass

    async def hang_up(self) -> None:
        self.hung_up = True
        raise CallEnded

    def clock(self) -> datetime:
        return START + timedelta(seconds=self.now)


@dataclass
class FakeServices:
    lookups: dict[str, LookupResult | Exception] = field(default_factory=dict)
    accept_queue: bool = False
    queued: list[QueueRequest] = field(default_factory=list)
    callbacks: list[tuple[str, str | None]] = field(default_factory=list)
    asked: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)
    # What a caller leaves: seconds of message (None: nothing kept).
    message_seconds: float | None = 12.0
    messages: list[tuple[str, float]] = field(default_factory=list)

    async def lookup(
        self, node: LookupNode, params: Mapping[str, str], url: str | None
    ) -> LookupResult:
        self.asked.append((node.into, dict(params), url))
        answer = self.lookups.get(node.into, LookupResult("not_found"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def enqueue(self, request: QueueRequest) -> bool:
        self.queued.append(request)
        return self.accept_queue

    async def request_callback(self, number: str, queue: str | None) -> None:
        self.callbacks.append((number, queue))

    async def take_message(
        self, queue: str, max_seconds: float, silence_seconds: float, min_seconds: float
    ) -> float | None:
        self.messages.append((queue, max_seconds))
        return self.message_seconds


@dataclass
class Trace:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    states: list[IvrState] = field(default_factory=list)

    def event(self, event_type: str, /, **data: Any) -> None:
        self.events.append((event_type, data))

    def progress(self, state: IvrState) -> None:
        self.states.append(state)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.events if k == kind]


def flow(text: str, file: str = "test.yaml") -> FlowSource:
    return parse_flow(text, file)


async def walk(
    source: FlowSource,
    caller: ScriptedCaller,
    services: FakeServices | None = None,
    *,
    others: tuple[FlowSource, ...] = (),
    business_now: datetime | None = None,
) -> tuple[IvrState, Trace, FakeServices]:
    services = services or FakeServices()
    trace = Trace()
    flows = {s.flow.flow: s for s in (source, *others)}
    walker = Walker(
        caller,
        services,
        trace,
        flows,
        now=caller.clock,
        business_now=(lambda: business_now) if business_now else caller.clock,
    )
    try:
        state = await walker.run(source)
    except CallEnded:
        assert walker.state is not None
        state = walker.state
    return state, trace, services
