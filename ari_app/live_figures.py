"""What a wallboard and Prometheus show right now: callers waiting and the longest wait per
queue, agents by state, today's service level and abandonment per queue (from PostgreSQL,
refreshed every few seconds), and each campaign's dialing and abandonment.

The live part comes from the ACD's and the dialer's memory (this instance's view); today's
figures from the database (every instance's calls). ``snapshot()`` never touches the
database: a background task keeps ``today`` fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Call
from switchboard.acd.agents import AgentState

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime
    from ari_app.dialer import Dialer

log = structlog.get_logger(__name__)

STATES = [s.value for s in AgentState]


@dataclass
class QueueToday:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    short_abandons: int = 0

    @property
    def service_level(self) -> float | None:
        """Answered within the queue's threshold / (answered + abandoned), short abandons
        (under 5 s) left out: abandons count against it (domain.md, "offered" variant)."""
        base = self.answered + self.abandoned - self.short_abandons
        return self.answered_in_time / base if base > 0 else None

    @property
    def abandonment(self) -> float | None:
        base = self.offered - self.short_abandons
        return (self.abandoned - self.short_abandons) / base if base > 0 else None


@dataclass
class LiveFigures:
    acd: AcdRuntime
    dialer: Dialer | None
    engine: AsyncEngine
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    short_abandon_seconds: float = 5.0
    refresh_seconds: float = 5.0
    today: dict[str, QueueToday] = field(default_factory=dict)
    today_since: datetime | None = None

    async def run(self) -> None:
        while True:
            try:
                await self.refresh_today()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("figures.database_unavailable", error=str(exc)[:200])
            except Exception:
                log.exception("figures.failed")
            await asyncio.sleep(self.refresh_seconds)

    async def refresh_today(self) -> None:
        now = self.clock()
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        thresholds = {name: s.service_level_seconds for name, s in self.acd.settings.items()}
        waited = func.extract("epoch", Call.queue_left_at - Call.queued_at)
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(
                        Call.queue,
                        Call.queue_exit,
                        func.count(),
                        func.array_agg(waited),
                    )
                    .where(Call.queued_at >= start, Call.queue.is_not(None))
                    .group_by(Call.queue, Call.queue_exit)
                )
            ).all()
        today: dict[str, QueueToday] = {}
        for queue, exit_, count, waits in rows:
            if queue is None:
                continue
            figures = today.setdefault(queue, QueueToday())
            figures.offered += count
            seconds = [w for w in (waits or []) if w is not None]
            if exit_ == "connected":
                figures.answered += count
                limit = thresholds.get(queue, 20.0)
                figures.answered_in_time += sum(1 for w in seconds if w <= limit)
            elif exit_ == "abandoned":
                figures.abandoned += count
                figures.short_abandons += sum(1 for w in seconds if w < self.short_abandon_seconds)
        self.today = today
        self.today_since = start

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        acd = self.acd
        agents_by_state = {state: 0 for state in STATES}
        for agent in acd.agents.values():
            agents_by_state[agent.state.value] += 1
        queues = []
        for name in sorted(acd.queues):
            state = acd.queues[name]
            waiting = [w for w in state.waiting if not w.callback]
            longest = max(((now - w.arrived).total_seconds() for w in waiting), default=0.0)
            members = [acd.agents[m] for m in state.members if m in acd.agents]
            today = self.today.get(name, QueueToday())
            queues.append(
                {
                    "name": name,
                    "waiting": len(waiting),
                    "callbacks_waiting": len(state.waiting) - len(waiting),
                    "longest_wait_seconds": round(max(0.0, longest), 1),
                    "agents": {
                        "available": sum(1 for a in members if a.can_take_calls(now)),
                        "on_call": sum(
                            1
                            for a in members
                            if a.state in (AgentState.ON_CALL, AgentState.ON_HOLD)
                        ),
                        "wrap_up": sum(1 for a in members if a.state is AgentState.WRAP_UP),
                        "paused": sum(1 for a in members if a.state is AgentState.PAUSED),
                        "logged_in": sum(
                            1 for a in members if a.state is not AgentState.LOGGED_OUT
                        ),
                    },
                    "today": {
                        "offered": today.offered,
                        "answered": today.answered,
                        "abandoned": today.abandoned,
                        "service_level": today.service_level,
                        "service_level_seconds": (
                            acd.settings[name].service_level_seconds
                            if name in acd.settings
                            else 20.0
                        ),
                        "abandonment": today.abandonment,
                    },
                }
            )
        campaigns = []
        if self.dialer is not None:
            for name, status in sorted(self.dialer.status().items()):
                campaigns.append({"name": name, **status})
        return {
            "at": now.isoformat(),
            "today_since": self.today_since.isoformat() if self.today_since else None,
            "agents": agents_by_state,
            "queues": queues,
            "campaigns": campaigns,
        }
