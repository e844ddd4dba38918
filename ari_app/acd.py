"""The ACD at run time: agents and queues in memory, their softphones pushed to Asterisk,
offers handed to the calls' own handlers.

All state lives in one asyncio thread and every method here is synchronous (no ``await``
between reading and changing state), so no two calls can be offered the same agent. What
happens on a call's channels (ringing an agent, bridging, hang-ups) is done by that call's
handler in ``ari_app/queue_call.py``; it reports back here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from pydantic import ConfigDict
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ari_app.client import AriClient, AriError, AriNotFound
from ari_app.events import EndpointStateChange, Event
from callcenter.acd.agents import Agent, AgentState, AgentStateError
from callcenter.acd.phone_endpoints import PHONE_KINDS, endpoint_fields
from callcenter.acd.routing import (
    Member,
    QueueState,
    Strategy,
    Waiting,
    Widening,
    dispatch,
    estimated_wait,
)
from callcenter.acd.stuck_agents import RING_TIMEOUT, Repair, StuckAgentWatch
from db.acd_store import CHANNEL
from db.caller_history import CallerHistory
from db.driver import driver_dsn
from db.models import Agent as AgentRow
from db.models import Queue as QueueRow
from db.models import QueueMember
from db.record_ops import RecordOp
from db.writer import RecordWriter

log = structlog.get_logger(__name__)


# The channels we make for agents: "<call id>-<agent>-<n>" (offers, transfers),
# "cba-<request>-..." (callbacks) and "prev-<attempt>" (preview dials). Any other channel on
# an agent's phone is their own call.
OUR_CHANNEL = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-|cba?-|prev-)"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class AcdOffer(Event):
    """Command to a call's handler: ring these agents for the caller."""

    queue: str = ""
    agents: tuple[str, ...] = ()


class AcdTick(Event):
    """Command to a waiting call's handler: time passed (announcements, maximum wait)."""


class AcdCommand(Event):
    """An agent's request about their current call (hold, unhold, transfer, complete,
    cancel), answered through ``reply`` (a future set by the call's handler)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="ignore")

    agent: str = ""
    action: str = ""
    target: str | None = None
    attended: bool = False
    mode: str | None = None  # supervise: listen, whisper or barge
    reply: Any = None


class CommandRefused(Exception):
    """The request cannot be carried out; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class QueueSettings:
    name: str
    strategy: Strategy = Strategy.LEASTRECENT
    moh_class: str = "default"
    ring_timeout: float = 15.0
    retry_seconds: float = 1.0
    wrap_up_seconds: float = 0.0
    autopause_after: int = 0
    max_wait_seconds: float | None = None
    max_callers: int | None = None
    join_empty: bool = True
    leave_empty: bool = False
    exit_key: str | None = None
    callback_key: str | None = None
    record_calls: bool = False
    survey: bool = False
    overflow_queue: str | None = None
    voicemail: bool = False  # at the maximum wait, with no overflow queue: leave a message
    announce_seconds: float | None = None
    service_level_seconds: float = 20.0
    widening: list[Widening] = field(default_factory=list)
    script: str | None = None  # the call script shown to the agent on connect


class JoinRefused(Exception):
    """The queue does not take this caller; ``reason`` is app_queue's status word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class WaitingCall:
    waiting: Waiting
    queue: str
    deliver: Callable[[Event], None]
    position_at_join: int
    caller: str | None = None  # the caller's number, for the supervisor's console


async def _readable(fd: int) -> None:
    """Until the socket has something to read. (psycopg's own ``notifies()`` wakes every
    0.1 s to look: ten wake-ups a second of an idle app.)"""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await readable
    finally:
        loop.remove_reader(fd)


class AcdRuntime:
    def __init__(
        self,
        ari: AriClient,
        engine: AsyncEngine,
        writer: RecordWriter,
        database_url: str,
        node_id: str,
        tick_seconds: float = 0.5,
    ) -> None:
        self.ari = ari
        self.engine = engine
        self.writer = writer
        self.database_url = database_url
        self.history = CallerHistory(database_url)  # the screen pop's reads
        self.node_id = node_id
        self.tick_seconds = tick_seconds
        self.agents: dict[str, Agent] = {}
        self.secrets: dict[str, str] = {}
        self.settings: dict[str, QueueSettings] = {}
        self.queues: dict[str, QueueState] = {}
        self.calls: dict[str, WaitingCall] = {}
        # The call each agent in wrap-up is wrapping up.
        self.wrapping: dict[str, str] = {}
        self.offering: set[str] = set()
        self.talking: dict[str, Callable[[Event], None]] = {}  # agent: their call's handler
        # agent: the handler their current offer or call belongs to, and its queue
        self.owners: dict[str, tuple[Callable[[Event], None], str | None]] = {}
        self.stuck = StuckAgentWatch()
        self._repair_tasks: set[asyncio.Task[None]] = set()
        self.callbacks: dict[str, Any] = {}  # request id: its CallbackRunner
        self.outbound_uri = ""
        self._callback_tasks: set[asyncio.Task[None]] = set()
        # Average handle time (talk and wrap-up) per queue, for the estimated wait; like
        # app_queue's, an average that weighs the latest call a quarter.
        self.handle_seconds: dict[str, float] = {}
        self.holding_bridges: set[str] = set()  # made in Asterisk since the last connect
        self.repeat_window = timedelta(hours=24)
        self.screen: dict[str, dict[str, Any]] = {}  # agent: the call offered to or with them
        # agent: (supervisor, mode) while a supervisor listens, whispers or barged in
        self.supervised: dict[str, tuple[str, str]] = {}
        self._watchers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._pushed: dict[str, str] = {}  # agent: the phone kind of their endpoint in Asterisk
        self.phones: dict[str, str] = {}  # agent: "softphone" or "browser" (their row's phone)
        self._kick_handle: asyncio.Handle | None = None
        self._sequence = 0
        self.loaded = asyncio.Event()
        self._someone_waits = asyncio.Event()  # a caller joined a queue: the tick wakes

    # --- configuration from PostgreSQL ---------------------------------------------------

    async def load(self) -> None:
        async with AsyncSession(self.engine) as session:
            agents = (await session.execute(select(AgentRow))).scalars().all()
            queues = (await session.execute(select(QueueRow))).scalars().all()
            members = (
                (await session.execute(select(QueueMember).order_by(QueueMember.position)))
                .scalars()
                .all()
            )
        now = utcnow()
        seen = set()
        for row in agents:
            seen.add(row.name)
            agent = self.agents.get(row.name)
            if agent is None:
                agent = Agent(row.name, registered=False)  # until Asterisk says otherwise
                self.agents[row.name] = agent
                # After a restart, logged-in agents stay logged in; whatever call they were
                # on is gone with the old process.
                if row.state == "paused":
                    agent.log_in(now, paused_reason=row.pause_reason or "pause")
                elif row.state != "logged_out":
                    agent.log_in(now)
            agent.skills = dict(row.skills)
            self.secrets[row.name] = row.sip_secret
            self.phones[row.name] = row.phone
        for name in set(self.agents) - seen:
            agent = self.agents.pop(name)
            self.secrets.pop(name, None)
            self.phones.pop(name, None)
            log.info("acd.agent_removed", agent=name, state=agent.state)
        for qrow in queues:
            self.settings[qrow.name] = QueueSettings(
                name=qrow.name,
                strategy=Strategy(qrow.strategy),
                moh_class=qrow.moh_class,
                ring_timeout=qrow.ring_timeout,
                retry_seconds=qrow.retry_seconds,
                wrap_up_seconds=qrow.wrap_up_seconds,
                autopause_after=qrow.autopause_after,
                max_wait_seconds=qrow.max_wait_seconds,
                max_callers=qrow.max_callers,
                join_empty=qrow.join_empty,
                leave_empty=qrow.leave_empty,
                exit_key=qrow.exit_key,
                callback_key=qrow.callback_key,
                record_calls=qrow.record_calls,
                survey=qrow.survey,
                overflow_queue=qrow.overflow_queue,
                voicemail=qrow.voicemail,
                announce_seconds=qrow.announce_seconds,
                service_level_seconds=qrow.service_level_seconds,
                widening=[Widening(**w) for w in qrow.widening],
                script=qrow.script,
            )
            state = self.queues.get(qrow.name)
            if state is None:
                state = QueueState(qrow.name)
                self.queues[qrow.name] = state
            state.strategy = Strategy(qrow.strategy)
            state.widening = self.settings[qrow.name].widening
            old = state.members
            state.members = {}
            for m in members:
                if m.queue == qrow.name:
                    kept = old.get(m.agent)
                    state.members[m.agent] = Member(
                        m.agent, m.penalty, order=m.position, calls=kept.calls if kept else 0
                    )
        for name in set(self.queues) - {q.name for q in queues}:
            self.queues.pop(name)
            self.settings.pop(name, None)
        self.loaded.set()
        log.info("acd.loaded", agents=len(self.agents), queues=sorted(self.queues))
        self.kick()

    async def push_endpoints(self) -> None:
        """Every agent's softphone account into Asterisk (PJSIP auth, aor, endpoint)."""
        for name, secret in list(self.secrets.items()):
            try:
                await self._push(name, secret, self.phones.get(name, "softphone"))
            except AriError as exc:
                log.error("acd.endpoint_push_failed", agent=name, error=str(exc))
        for name in set(self._pushed) - set(self.secrets):
            for kind in ("endpoint", "aor", "auth"):
                with contextlib.suppress(AriNotFound, AriError):
                    await self.ari.delete(f"/asterisk/config/dynamic/res_pjsip/{kind}/{name}")
            self._pushed.pop(name, None)
        if self.outbound_uri:
            await self._push_trunk(self.outbound_uri)
        log.info("acd.endpoints_pushed", agents=sorted(self._pushed))
        await self.refresh_registrations()

    async def set_phone(self, name: str, phone: str) -> None:
        """The agent takes calls on another kind of phone from now on: stored (other nodes
        hear of it by NOTIFY) and their endpoint made anew in this node's Asterisk."""
        agent = self.agents.get(name)
        if agent is None:
            raise CommandRefused(404, f"no agent {name!r}")
        if phone not in PHONE_KINDS:
            raise CommandRefused(422, f"phone {phone!r}: one of {', '.join(PHONE_KINDS)}")
        if agent.busy:
            raise CommandRefused(409, f"agent {name!r} is {agent.state.value}: after the call")
        async with self.engine.begin() as connection:
            await connection.execute(
                update(AgentRow).where(AgentRow.name == name).values(phone=phone)
            )
            await connection.execute(
                text("SELECT pg_notify(:channel, :what)"),
                {"channel": CHANNEL, "what": f"agent:{name}"},
            )
        self.phones[name] = phone
        await self._push(name, self.secrets[name], phone)
        log.info("acd.phone_changed", agent=name, phone=phone)

    async def _push(self, name: str, secret: str, phone: str) -> None:
        if self._pushed.get(name, phone) != phone:
            # Another kind of phone: Asterisk updates an object field by field, so the old
            # endpoint's media settings (DTLS, ICE...) would stay; it is made anew.
            with contextlib.suppress(AriNotFound):
                await self.ari.delete(f"/asterisk/config/dynamic/res_pjsip/endpoint/{name}")
        objects: list[tuple[str, dict[str, str]]] = [
            ("auth", {"auth_type": "userpass", "username": name, "password": secret}),
            ("aor", {"max_contacts": "1", "remove_existing": "yes", "qualify_frequency": "0"}),
            ("endpoint", endpoint_fields(name, phone)),
        ]
        for kind, fields in objects:
            await self.ari.put(
                f"/asterisk/config/dynamic/res_pjsip/{kind}/{name}",
                body={"fields": [{"attribute": k, "value": v} for k, v in fields.items()]},
            )
        self._pushed[name] = phone

    async def _push_trunk(self, uri: str) -> None:
        """The outbound trunk customers are called through (callbacks, transfers out).
        An AOR's contacts add up rather than replace each other: one with another contact
        (an earlier setting) is removed first."""
        path = "/asterisk/config/dynamic/res_pjsip/aor/trunk-out"
        try:
            fields = await self.ari.get(path)
        except AriNotFound:
            fields = None
        if isinstance(fields, list):
            contact = next(
                (
                    f.get("value")
                    for f in fields
                    if isinstance(f, dict) and f.get("attribute") == "contact"
                ),
                None,
            )
            if contact != uri:
                with contextlib.suppress(AriNotFound):
                    await self.ari.delete(path)
        objects: list[tuple[str, dict[str, str]]] = [
            ("aor", {"contact": uri}),
            (
                "endpoint",
                {
                    "aors": "trunk-out",
                    "context": "from-trunk",
                    # Never taken for a request's sender (by a From user "trunk-out"):
                    # the inbound trunk is identified by address only (docs/security.md).
                    "identify_by": "ip",
                    "transport": "transport-udp",
                    "allow_transfer": "no",
                    "disallow": "all",
                    "allow": "alaw,ulaw",
                    "dtmf_mode": "rfc4733",
                    "direct_media": "no",
                    "rtp_symmetric": "yes",
                },
            ),
        ]
        for kind, fields in objects:
            await self.ari.put(
                f"/asterisk/config/dynamic/res_pjsip/{kind}/trunk-out",
                body={"fields": [{"attribute": k, "value": v} for k, v in fields.items()]},
            )

    async def refresh_registrations(self) -> None:
        """Which softphones are registered, from Asterisk's endpoint list. (Polled: an
        endpoint subscription would deliver every channel event of the endpoint twice.)"""
        try:
            endpoints = await self.ari.get("/endpoints/PJSIP")
        except AriError as exc:
            log.debug("acd.endpoints_unknown", error=str(exc))
            self.repair_stuck(utcnow(), None)  # the offers' deadlines still hold
            return
        online: dict[str, bool] = {}
        channels: dict[str, bool] = {}
        ours: dict[str, list[str]] = {}
        for e in endpoints:
            if isinstance(e, dict):
                resource = str(e.get("resource"))
                ids = [str(c) for c in e.get("channel_ids") or ()]
                online[resource] = e.get("state") == "online"
                channels[resource] = any(not OUR_CHANNEL.match(c) for c in ids)
                ours[resource] = [c for c in ids if OUR_CHANNEL.match(c)]
        now = utcnow()
        self.repair_stuck(now, ours)
        for name, agent in self.agents.items():
            self._registration(agent, online.get(name, False), now)
            # A channel on the phone while we are not offering or connecting a call: the
            # agent is on a call of their own, and gets no offer until it ends.
            busy = channels.get(name, False) and not agent.busy
            if busy != agent.phone_busy:
                agent.phone_busy = busy
                self._agent_event(agent, "PHONEBUSY" if busy else "PHONEFREE", now)
        self.kick()

    def on_event(self, event: Event) -> None:
        if isinstance(event, EndpointStateChange):
            name = str(event.endpoint.get("resource", ""))
            agent = self.agents.get(name)
            if agent is not None:
                self._registration(agent, event.endpoint.get("state") == "online", utcnow())
                self.kick()

    def _registration(self, agent: Agent, online: bool, now: datetime) -> None:
        if agent.registered != online:
            agent.registered = online
            self._agent_event(agent, "REGISTERED" if online else "UNREGISTERED", now)

    async def listen(self) -> None:
        """Reload when the CLI changes agents or queues (NOTIFY switchboard_acd)."""
        url = driver_dsn(self.database_url)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await self.load()
                    await self.push_endpoints()
                    while True:
                        await _readable(conn.fileno())
                        # (A server gone makes the socket readable too: notifies() raises.)
                        changed = [note.payload async for note in conn.notifies(timeout=0)]
                        if changed:
                            log.info("acd.changed", what=",".join(changed))
                            await self.load()
                            await self.push_endpoints()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("acd.listen_failed", error=str(exc))
                await asyncio.sleep(2)

    # --- agents: what the API and the CLI ask -------------------------------------------

    def agent(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is None:
            raise KeyError(f"no agent {name!r}")
        return agent

    def login(self, name: str, paused_reason: str | None = None) -> Agent:
        agent = self.agent(name)
        now = utcnow()
        agent.log_in(now, paused_reason=paused_reason)
        self._agent_event(agent, "AGENTLOGIN", now)
        self.kick()
        return agent

    def logout(self, name: str) -> Agent:
        agent = self.agent(name)
        now = utcnow()
        agent.log_out(now)
        self._agent_event(agent, "AGENTLOGOFF", now)
        return agent

    def pause(self, name: str, reason: str) -> Agent:
        agent = self.agent(name)
        now = utcnow()
        agent.pause(now, reason)
        self._agent_event(agent, "PAUSE", now, reason=reason)
        return agent

    def resume(self, name: str) -> Agent:
        agent = self.agent(name)
        now = utcnow()
        agent.resume(now)
        self._agent_event(agent, "UNPAUSE", now)
        self.kick()
        return agent

    def snapshot(self) -> dict[str, Any]:
        now = utcnow()
        return {
            "agents": [
                {
                    "name": a.name,
                    "state": a.state.value,
                    "since": a.since.isoformat() if a.since else None,
                    "pause_reason": a.pause_reason,
                    "registered": a.registered,
                    "call_id": a.call_id,
                    "can_take_calls": a.can_take_calls(now),
                    "skills": a.skills,
                }
                for a in sorted(self.agents.values(), key=lambda a: a.name)
            ],
            "queues": [
                {
                    "name": q.name,
                    "strategy": q.strategy.value,
                    "waiting": [w.call_id for w in q.ordered()],
                    "members": sorted(q.members),
                }
                for q in sorted(self.queues.values(), key=lambda q: q.name)
            ],
        }

    # --- agents' desktops: screen pop and live events -------------------------------------

    def watch(self, agent: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._watchers.setdefault(agent, set()).add(queue)
        return queue

    def unwatch(self, agent: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._watchers.get(agent, set()).discard(queue)

    def publish(self, agent: str, message: dict[str, Any]) -> None:
        for queue in list(self._watchers.get(agent, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    def offered(self, agent: str, pop: dict[str, Any]) -> None:
        """The screen pop for the call now ringing this agent."""
        self.screen[agent] = pop
        self.publish(agent, {"type": "offer", "call": pop})

    # --- callers ---------------------------------------------------------------------------

    def join(
        self,
        call_id: str,
        queue: str,
        priority: int,
        skills: dict[str, int],
        deliver: Callable[[Event], None],
        arrived: datetime | None = None,
        caller: str | None = None,
        only_agent: str | None = None,
    ) -> int:
        """Put a caller in a queue; returns their position. Raises JoinRefused.
        ``only_agent``: a callback kept for that agent, offered to nobody else."""
        self.check_join(queue)
        state = self.queues[queue]
        self._sequence += 1
        waiting = Waiting(
            call_id,
            arrived or utcnow(),
            priority,
            skills,
            sequence=self._sequence,
            only_agent=only_agent,
        )
        state.waiting.append(waiting)
        position = state.position(call_id) or len(state.waiting)
        self.calls[call_id] = WaitingCall(waiting, queue, deliver, position, caller)
        self._someone_waits.set()
        self.kick()
        return position

    def save_callback(self, row: dict[str, Any]) -> None:
        self.writer.submit(RecordOp("callback", row))

    def start_callback(self, runner: Any) -> None:
        key = str(runner.request_id)
        self.callbacks[key] = runner
        task = asyncio.create_task(runner.run(), name=f"callback-{key}")
        self._callback_tasks.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            self._callback_tasks.discard(done)

        task.add_done_callback(forget)

    def hold_offers(self, call_id: str) -> None:
        """No offers for this caller for now (they are choosing a callback)."""
        self.offering.add(call_id)

    def to_callback(self, call_id: str, deliver: Callable[[Event], None]) -> bool:
        """The caller's place is now held by a callback; offers go to ``deliver``."""
        entry = self.calls.get(call_id)
        if entry is None:
            return False
        entry.deliver = deliver
        entry.waiting.callback = True
        self.offering.discard(call_id)
        self.kick()
        return True

    def position(self, call_id: str) -> int | None:
        entry = self.calls.get(call_id)
        if entry is None:
            return None
        return self.queues[entry.queue].position(call_id)

    def estimated_wait(self, queue: str, position: int) -> float | None:
        """Seconds until the caller at ``position`` is likely answered (None: unknown)."""
        handle = self.handle_seconds.get(queue)
        if handle is None:
            return None
        return estimated_wait(position, self.staffed(queue), handle)

    def staffed(self, queue: str) -> int:
        """Members logged in and not paused (those who will take calls sooner or later)."""
        state = self.queues.get(queue)
        if state is None:
            return 0
        return sum(
            1
            for m in state.members
            if m in self.agents
            and self.agents[m].registered
            and self.agents[m].state not in (AgentState.LOGGED_OUT, AgentState.PAUSED)
        )

    def check_join(self, queue: str) -> None:
        """Raises JoinRefused when a caller cannot join ``queue`` now."""
        state = self.queues.get(queue)
        settings = self.settings.get(queue)
        if state is None or settings is None:
            raise JoinRefused("unknown", f"no queue {queue!r}")
        if settings.max_callers is not None and len(state.waiting) >= settings.max_callers:
            raise JoinRefused("full", f"queue {queue!r} is full")
        if not settings.join_empty and not self.staffed(queue):
            raise JoinRefused("joinempty", f"no agent can take calls in {queue!r}")
        if not state.members:
            raise JoinRefused("joinempty", f"queue {queue!r} has no members")

    async def move(self, call_id: str, to: str, by: str) -> dict[str, Any]:
        """A supervisor moves a waiting caller to another queue (they keep their arrival
        time, so their place among the callers there); raises CommandRefused."""
        entry = self.calls.get(call_id)
        if entry is None or entry.waiting.callback:
            raise CommandRefused(404, f"no caller {call_id} waiting")
        if entry.queue == to:
            raise CommandRefused(409, f"the caller is in {to!r} already")
        try:
            self.check_join(to)
        except JoinRefused as exc:
            raise CommandRefused(409, str(exc)) from None
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry.deliver(
            AcdCommand(type="AcdCommand", agent=by, action="move", target=to, reply=reply)
        )
        try:
            return await asyncio.wait_for(reply, 15)
        except TimeoutError:
            raise CommandRefused(504, "the call did not answer the request in time") from None

    def leave(self, call_id: str) -> None:
        entry = self.calls.pop(call_id, None)
        self.offering.discard(call_id)
        if entry is not None:
            state = self.queues.get(entry.queue)
            if state is not None:
                state.waiting = [w for w in state.waiting if w.call_id != call_id]
        self.kick()

    # --- offers: what the call's handler reports ------------------------------------------

    def rang_out(self, call_id: str, agent_name: str, queue: str) -> bool:
        """An offer was not answered; True when the agent got autopaused for it."""
        agent = self.agents.get(agent_name)
        paused = False
        if agent is not None and agent.state is AgentState.RINGING and agent.call_id == call_id:
            settings = self.settings.get(queue)
            now = utcnow()
            paused = agent.no_answer(now, settings.autopause_after if settings else 0)
            if paused:
                self._agent_event(agent, "PAUSE", now, reason=agent.pause_reason, call_id=call_id)
            else:
                self._agent_event(agent, "RINGNOANSWER", now, call_id=call_id)
        return paused

    def offer_over(self, call_id: str, retry_after: float = 0.0) -> None:
        """No agent of this offer is ringing any more: the caller can be offered again."""
        self.offering.discard(call_id)
        if retry_after > 0:
            asyncio.get_running_loop().call_later(retry_after, self.kick)
        else:
            self.kick()

    def withdraw(self, call_id: str, agent_name: str, reason: str | None = None) -> None:
        agent = self.agents.get(agent_name)
        if agent is not None and agent.state is AgentState.RINGING and agent.call_id == call_id:
            agent.offer_withdrawn(utcnow())
            self._agent_event(agent, "RINGCANCELED", utcnow(), reason=reason, call_id=call_id)
        self.kick()

    def answered(
        self,
        call_id: str,
        agent_name: str,
        queue: str,
        deliver: Callable[[Event], None] | None = None,
    ) -> bool:
        agent = self.agents.get(agent_name)
        if agent is None or agent.state is not AgentState.RINGING or agent.call_id != call_id:
            return False
        now = utcnow()
        agent.answer(now)
        member = self.queues[queue].members.get(agent_name) if queue in self.queues else None
        if member is not None:
            member.calls += 1
        self._agent_event(agent, "CONNECT", now, call_id=call_id, queue=queue)
        if deliver is not None:
            self.talking[agent_name] = deliver
            self.owners[agent_name] = (deliver, queue)
        self.leave(call_id)
        return True

    def direct_offer(
        self,
        call_id: str,
        agent_name: str,
        deliver: Callable[[Event], None] | None = None,
        queue: str | None = None,
        ring_seconds: float = 30.0,
    ) -> None:
        """Ring one agent for a transfer or a preview dial (no queue); raises
        CommandRefused. ``deliver``: the handler the offer belongs to."""
        agent = self.agents.get(agent_name)
        if agent is None:
            raise CommandRefused(404, f"no agent {agent_name!r}")
        now = utcnow()
        if not agent.can_take_calls(now):
            why = "not registered" if not agent.registered else str(agent.state)
            raise CommandRefused(409, f"agent {agent_name!r} cannot take a call now ({why})")
        agent.offer(now, call_id, ring_seconds=ring_seconds)
        if deliver is not None:
            self.owners[agent_name] = (deliver, queue)
        self._agent_event(agent, "RINGING", now, call_id=call_id)

    def check_supervisor(self, name: str) -> None:
        """A supervisor can join a call from a registered softphone, when not busy."""
        agent = self.agents.get(name)
        if agent is None:
            raise CommandRefused(404, f"no agent {name!r}")
        if not agent.registered:
            raise CommandRefused(409, f"{name!r} has no registered softphone")
        if agent.busy:
            raise CommandRefused(409, f"{name!r} is busy ({agent.state})")

    async def command(
        self,
        agent_name: str,
        action: str,
        target: str | None = None,
        attended: bool = False,
        mode: str | None = None,
    ) -> dict[str, Any]:
        """Carry out an agent's request about their current call; raises CommandRefused."""
        agent = self.agents.get(agent_name)
        if agent is None:
            raise CommandRefused(404, f"no agent {agent_name!r}")
        deliver = self.talking.get(agent_name)
        if deliver is None:
            raise CommandRefused(409, f"agent {agent_name!r} has no call ({agent.state})")
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        deliver(
            AcdCommand(
                type="AcdCommand",
                agent=agent_name,
                action=action,
                target=target,
                attended=attended,
                mode=mode,
                reply=reply,
            )
        )
        try:
            return await asyncio.wait_for(reply, 15)
        except TimeoutError:
            raise CommandRefused(504, "the call did not answer the request in time") from None

    def hold(self, agent_name: str, on: bool) -> None:
        agent = self.agent(agent_name)
        now = utcnow()
        agent.hold(now) if on else agent.unhold(now)
        self._agent_event(agent, "HOLD" if on else "UNHOLD", now, call_id=agent.call_id)

    def hand_over(self, agent_name: str, call_id: str, deliver: Callable[[Event], None]) -> None:
        """An agent's answered leg now belongs to another call (the customer a callback
        or a preview dial reached): its handler and id take over the agent."""
        self.talking[agent_name] = deliver
        owner = self.owners.get(agent_name)
        self.owners[agent_name] = (deliver, owner[1] if owner else None)
        agent = self.agents.get(agent_name)
        if agent is not None and agent.busy:
            agent.call_id = call_id

    def call_over(self, agent_name: str, queue: str, call_id: str) -> None:
        agent = self.agents.get(agent_name)
        if agent is not None and agent.call_id not in (None, call_id):
            return  # a late word about a call the agent is no longer on
        self.talking.pop(agent_name, None)
        if agent is None or agent.state not in (AgentState.ON_CALL, AgentState.ON_HOLD):
            return
        settings = self.settings.get(queue)
        now = utcnow()
        wrap_up = settings.wrap_up_seconds if settings else 0.0
        if agent.call_started is not None:
            handled = (now - agent.call_started).total_seconds() + wrap_up
            before = self.handle_seconds.get(queue)
            self.handle_seconds[queue] = handled if before is None else (before * 3 + handled) / 4
        agent.call_ended(now, wrap_up)
        self._agent_event(agent, "CALLEND", now, call_id=call_id, queue=queue)
        if agent.wrap_up_until is not None:  # in wrap-up now
            self.wrapping[agent.name] = call_id
            asyncio.get_running_loop().call_later(wrap_up + 0.05, self._wrap_up_over, agent.name)
        else:
            self._wrap_up_done(call_id, now, agent.name)
        self.kick()

    def _wrap_up_over(self, name: str) -> None:
        agent = self.agents.get(name)
        now = utcnow()
        if agent is not None and agent.state is AgentState.WRAP_UP and agent.can_take_calls(now):
            self._end_wrap_up(agent, now, "time")

    def final_code_set(self, name: str, call_id: str) -> bool:
        """A final disposition ends the agent's wrap-up of that call (True if it did)."""
        agent = self.agents.get(name)
        if (
            agent is None
            or agent.state is not AgentState.WRAP_UP
            or self.wrapping.get(name) != call_id
        ):
            return False
        self._end_wrap_up(agent, utcnow(), "disposition")
        return True

    def _end_wrap_up(self, agent: Agent, now: datetime, why: str) -> None:
        agent.end_wrap_up(now)
        call_id = self.wrapping.pop(agent.name, None)
        self._agent_event(agent, "WRAPUPEND", now, reason=why, call_id=call_id)
        if call_id is not None:
            self._wrap_up_done(call_id, now, agent.name)
        self.kick()

    def _wrap_up_done(self, call_id: str, now: datetime, agent: str) -> None:
        """The end of the after-call work goes on the call (its wrap-up duration) and on
        the agent's part of it (their segment)."""
        try:
            key = uuid.UUID(call_id)
        except ValueError:
            return
        self.writer.submit(RecordOp("call_patch", {"id": key, "wrap_up_ended_at": now}))
        self.writer.submit(RecordOp("segment_wrap_up", {"call_id": key, "agent": agent, "at": now}))

    # --- the safety net: no agent busy for a call that is gone ---------------------------

    def call_gone(self, call_id: str, deliver: Callable[[Event], None]) -> None:
        """A call's handler has ended: an agent still ringing or talking for it (a path
        that did not tidy up) is let go now, and their leg of that call hung up; the
        caller is out of every queue."""
        entry = self.calls.get(call_id)
        if entry is not None and entry.deliver == deliver:
            self.leave(call_id)
        for agent in list(self.agents.values()):
            owner = self.owners.get(agent.name)
            if agent.call_id != call_id or not agent.busy or owner is None:
                continue
            if owner[0] != deliver:  # a callback holding the caller's place, say
                continue
            log.warning("acd.released_at_call_end", agent=agent.name, state=agent.state.value)
            if agent.state is AgentState.RINGING:
                self.withdraw(call_id, agent.name, reason="the call ended")
            else:
                self.call_over(agent.name, owner[1] or "", call_id)
            self._spawn(self._hang_up_legs(agent.name, lambda c: c.startswith(f"{call_id}-")))

    def repair_stuck(self, now: datetime, channels: dict[str, list[str]] | None) -> None:
        """Put back every agent the safety net finds stuck (``StuckAgentWatch``), with an
        event that says why."""
        repairs = self.stuck.check(list(self.agents.values()), now, channels)
        for repair in repairs:
            self._put_back(repair, now)
        if repairs:
            self.kick()

    def _put_back(self, repair: Repair, now: datetime) -> None:
        agent = self.agents.get(repair.agent)
        if agent is None or not agent.busy:
            return
        owner = self.owners.pop(agent.name, None)
        self.talking.pop(agent.name, None)
        agent.put_back(now)
        reason = f"{repair.reason} (was {repair.state.value})"
        log.warning("acd.agent_put_back", agent=agent.name, reason=reason, call_id=repair.call_id)
        self._agent_event(
            agent,
            "RESET",
            now,
            reason=reason,
            call_id=repair.call_id,
            queue=owner[1] if owner else None,
        )
        if repair.reason == RING_TIMEOUT:
            # Whatever still rings on the phone for that offer stops now.
            self._spawn(self._hang_up_legs(agent.name, lambda c: OUR_CHANNEL.match(c) is not None))

    async def _hang_up_legs(self, agent: str, ours: Callable[[str], bool]) -> None:
        try:
            endpoint = await self.ari.get(f"/endpoints/PJSIP/{agent}")
        except AriError:
            return
        ids = endpoint.get("channel_ids") if isinstance(endpoint, dict) else None
        for channel_id in [str(c) for c in ids or ()]:
            if ours(channel_id):
                with contextlib.suppress(AriError):
                    await self.ari.delete(f"/channels/{channel_id}")

    def _spawn(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:
            work.close()
            return
        self._repair_tasks.add(task)
        task.add_done_callback(self._repair_tasks.discard)

    # --- routing ----------------------------------------------------------------------------

    def kick(self) -> None:
        """Run routing soon (once, however many changes come in the meantime)."""
        if self._kick_handle is None:
            with contextlib.suppress(RuntimeError):
                self._kick_handle = asyncio.get_running_loop().call_soon(self._route)

    def _route(self) -> None:
        self._kick_handle = None
        now = utcnow()
        offers = dispatch(self.queues.values(), self.agents, now, busy_callers=self.offering)
        for offer in offers:
            entry = self.calls.get(offer.call_id)
            if entry is None:
                continue
            offered = []
            settings = self.settings.get(offer.queue)
            ring = settings.ring_timeout if settings is not None else 15.0
            for name in offer.agents:
                agent = self.agents[name]
                try:
                    agent.offer(now, offer.call_id, ring_seconds=ring)
                except AgentStateError:
                    continue
                self.owners[name] = (entry.deliver, offer.queue)
                self._agent_event(agent, "RINGING", now, call_id=offer.call_id, queue=offer.queue)
                offered.append(name)
            if offered:
                self.offering.add(offer.call_id)
                entry.deliver(AcdOffer(type="AcdOffer", queue=offer.queue, agents=tuple(offered)))

    async def tick(self, registrations_every: float = 2.0) -> None:
        """Wake waiting callers now and then (announcements, maximum wait), re-route, and
        keep the softphones' registration state fresh."""
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        while True:
            if self.calls:
                await asyncio.sleep(self.tick_seconds)
            else:
                # Nobody waits: no tick until someone joins or the next registration check
                # (an idle app's wake-ups were most of its CPU).
                self._someone_waits.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_check - loop.time())):
                        await self._someone_waits.wait()
            try:
                if self.loaded.is_set() and loop.time() >= next_check:
                    next_check = loop.time() + registrations_every
                    await self.refresh_registrations()
                if self.calls:
                    for entry in list(self.calls.values()):
                        entry.deliver(AcdTick(type="AcdTick"))
                    self.kick()
            except Exception:
                log.exception("acd.tick_failed")

    # --- records -----------------------------------------------------------------------------

    def _agent_event(
        self,
        agent: Agent,
        kind: str,
        at: datetime,
        reason: str | None = None,
        call_id: str | None = None,
        queue: str | None = None,
    ) -> None:
        log.info("acd.agent", agent=agent.name, what=kind, state=agent.state.value, call_id=call_id)
        if agent.call_id is None and agent.state not in (AgentState.ON_CALL, AgentState.ON_HOLD):
            self.screen.pop(agent.name, None)
        self.publish(
            agent.name,
            {
                "type": "state",
                "event": kind,
                "state": agent.state.value,
                "pause_reason": agent.pause_reason,
                "at": at.isoformat(),
            },
        )
        row = {
            "uid": uuid.uuid4(),
            "agent": agent.name,
            "node_id": self.node_id,
            "occurred_at": at,
            "type": kind,
            "state": agent.state.value,
            "reason": reason or agent.pause_reason,
            "call_id": uuid.UUID(call_id) if call_id else None,
            "queue": queue,
        }
        state = {
            "name": agent.name,
            "state": agent.state.value,
            "state_since": agent.since,
            "pause_reason": agent.pause_reason,
        }
        self.writer.submit(RecordOp("agent_event", row))
        self.writer.submit(RecordOp("agent_state", state))
