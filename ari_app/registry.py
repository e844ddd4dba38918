"""Routes each ARI event to its call's serialized handler, and tracks the live calls."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Protocol

import structlog

from ari_app.events import Event, StasisStart
from ari_app.flows import refuse
from ari_app.session import CallSession, Flow, ShutdownRequested

log = structlog.get_logger(__name__)


class EventTarget(Protocol):
    def deliver(self, event: Event) -> None: ...


SessionFactory = Callable[[StasisStart], tuple[CallSession, Flow] | None]


class CallRegistry:
    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._by_channel: dict[str, CallSession] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._targets: dict[str, EventTarget] = {}
        self._may_start: set[str] = set()  # targets whose StasisStart also starts a call
        self.accepting = True

    def __len__(self) -> int:
        return len(self._tasks)

    def sessions(self) -> list[CallSession]:
        return [self._by_channel[c] for c in self._tasks if c in self._by_channel]

    def get(self, channel_id: str) -> CallSession | None:
        return self._by_channel.get(channel_id)

    def dispatch(self, event: Event) -> None:
        """Called by the websocket reader for every event; only enqueues."""
        for channel_id in event.channel_ids:
            target = self._targets.get(channel_id)
            if target is not None:
                target.deliver(event)
        if isinstance(event, StasisStart) and event.channel.id not in self._by_channel:
            if event.channel.id not in self._targets or event.channel.id in self._may_start:
                self._start(event)
            return
        for channel_id in event.channel_ids:
            session = self._by_channel.get(channel_id)
            if session is not None:
                session.deliver(event)

    def tracks(self, channel_id: str) -> bool:
        """A call or a target (an outbound dial, a callback's leg) of ours holds it."""
        return channel_id in self._by_channel or channel_id in self._targets

    def attach(self, channel_id: str, session: CallSession) -> None:
        """Route another channel's events (an agent's leg) to this call's handler."""
        self._by_channel.setdefault(channel_id, session)

    def detach(self, channel_id: str, session: CallSession) -> None:
        if self._by_channel.get(channel_id) is session and channel_id != session.channel_id:
            del self._by_channel[channel_id]

    def attach_target(
        self, channel_id: str, target: EventTarget, starts_call: bool = False
    ) -> None:
        """Route a channel's events to something that is not a call (a callback runner).
        With ``starts_call``, the channel entering Stasis also becomes a call of its own."""
        self._targets[channel_id] = target
        if starts_call:
            self._may_start.add(channel_id)

    def detach_target(self, channel_id: str) -> None:
        self._targets.pop(channel_id, None)
        self._may_start.discard(channel_id)

    def start_call(self, event: StasisStart) -> None:
        """Make a call of a channel a target holds (an answered outbound dial)."""
        if event.channel.id not in self._by_channel:
            self._start(event)

    def _start(self, event: StasisStart) -> None:
        made = self._factory(event)
        if made is None:
            return
        session, flow = made
        if not self.accepting:
            # Shutting down: the caller gets congestion, and the attempt is still recorded.
            log.info("call.refused_shutting_down", channel=event.channel.id)
            flow = refuse
        channel_id = session.channel_id
        self._by_channel[channel_id] = session
        task = asyncio.create_task(session.run(flow), name=f"call-{session.record.id}")
        self._tasks[channel_id] = task
        task.add_done_callback(functools.partial(self._forget, channel_id))

    def _forget(self, channel_id: str, _task: asyncio.Task[None] | None = None) -> None:
        session = self._by_channel.pop(channel_id, None)
        self._tasks.pop(channel_id, None)
        if session is not None:
            for other in [c for c, s in self._by_channel.items() if s is session]:
                del self._by_channel[other]

    async def wait_idle(self, timeout: float) -> bool:
        tasks = list(self._tasks.values())
        if not tasks:
            return True
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    async def shutdown(self, grace: float, hangup_wait: float = 10.0) -> None:
        """Stop taking calls, let live ones finish for ``grace`` s, then close the rest."""
        self.accepting = False
        if await self.wait_idle(grace):
            return
        for session in self.sessions():
            session.deliver(ShutdownRequested(type="ShutdownRequested"))
        if not await self.wait_idle(hangup_wait):
            for task in list(self._tasks.values()):
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
