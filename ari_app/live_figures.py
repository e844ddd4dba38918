"""What a wallboard and Prometheus show right now: callers waiting and the longest wait per
queue, agents by state, today's service level and abandonment per queue (from PostgreSQL,
refreshed every few seconds), and each campaign's dialing and abandonment.

The live part comes from the ACD's and the dialer's memory (this instance's view); today's
figures from the database (every instance's calls). ``snapshot()`` never touches the
database: a background task keeps ``today`` fresh.

Today's figures count per queue each *visit* of an inbound call to it (``queue_visits``; a
call that overflowed counts in every queue it entered, campaign calls in none) that entered
the queue since local midnight in the center's time zone (``SWITCHBOARD_TIMEZONE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.acd.agents import AgentState
from callcenter.config import get_settings
from db.models import Call, QueueVisit

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime
    from ari_app.dialer import Dialer

log = structlog.get_logger(__name__)

STATES = [s.value for s in AgentState]

# Visits that left the queue neither answered nor abandoned (nor for a callback): they count
# against the service level (db/metrics_query.py, the "offered" variants).
UNSERVED = ("timeout", "overflow", "exitkey", "leaveempty")
DEFAULT_SERVICE_LEVEL_SECONDS = 20.0


def start_of_day(now: datetime, tz: str) -> datetime:
    """The instant (aware, UTC) the local day of ``now`` began in ``tz``: local midnight
    (on a day whose midnight the clocks skip, the first instant of that day)."""
    zone = ZoneInfo(tz)
    midnight = datetime.combine(now.astimezone(zone).date(), time(), zone)
    return midnight.astimezone(UTC)


@dataclass
class QueueToday:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    unserved: int = 0  # left by timeout, overflow, exit key or an emptied queue

    @property
    def service_level(self) -> float | None:
        """Answered within the queue's threshold / (answered + abandoned + unserved - short
        abandons): abandons and visits that left unserved (timeout, overflow, exit key, empty
        queue) count against it, short abandons (under 5 s) are left out, callbacks are in
        neither side (SlVariant.SHORT_ABANDONS_EXCLUDED, callcenter/reports/metrics.py)."""
        base = self.answered + self.abandoned + self.unserved - self.short_abandons
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
    # The center's time zone (IANA name): "today" starts at its local midnight.
    timezone: str = field(default_factory=lambda: get_settings().timezone)
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

    def _threshold(self) -> ColumnElement[float]:
        """Each queue's service-level threshold (seconds), as an SQL expression."""
        thresholds = {name: s.service_level_seconds for name, s in self.acd.settings.items()}
        default = literal(DEFAULT_SERVICE_LEVEL_SECONDS)
        if not thresholds:
            return default
        return case(thresholds, value=QueueVisit.queue, else_=default)

    async def refresh_today(self) -> None:
        """Today's figures per queue, from the visits of inbound calls entered since local
        midnight."""
        start = start_of_day(self.clock(), self.timezone)
        exit_, wait = QueueVisit.exit, QueueVisit.wait_seconds
        answered = exit_ == "answered"
        abandoned = exit_ == "abandoned"
        statement = (
            select(
                QueueVisit.queue,
                func.count(),
                func.count().filter(answered),
                func.count().filter(answered, wait <= self._threshold()),
                func.count().filter(abandoned),
                func.count().filter(abandoned, wait < self.short_abandon_seconds),
                func.count().filter(exit_.in_(UNSERVED)),
            )
            .join(Call, Call.id == QueueVisit.call_id)
            .where(Call.campaign.is_(None), QueueVisit.entered_at >= start)
            .group_by(QueueVisit.queue)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        self.today = {
            queue: QueueToday(
                offered=offered,
                answered=answered_,
                answered_in_time=in_time,
                abandoned=abandoned_,
                short_abandons=short,
                unserved=unserved,
            )
            for queue, offered, answered_, in_time, abandoned_, short, unserved in rows
        }
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
                            else DEFAULT_SERVICE_LEVEL_SECONDS
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
