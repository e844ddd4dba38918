"""The dialer's reads for its pacers: a campaign's abandonment over rolling 24 h and 30 d
from ``dial_attempts`` of every instance (``node_id``), and which queues are campaigns'.

Every instance that dials a campaign spends one budget (the law's rate is per campaign), so
each pacer's figures come from the database, read often (``callcenter.outbound.pacing``,
``Abandonment``). A window is counted by ``placed_at``: live answers (``live``), drops
(``dropped``) and machine verdicts not handed to an agent (``result = 'machine'``, for the
UK estimate of AMD false positives). The reading instance's own attempts placed since its
budget began are left out: its pacer counts them itself, as they happen.

Reading 30 days of attempts every second would cost a busy campaign a million rows a
second; ``CampaignWindows`` instead reads the settled part of the windows (attempts placed
more than ``SETTLE`` ago, whose outcome is written) every ``SETTLED_EVERY``, and the recent
part (from that edge on: a few hundred rows) at every read. The windows' old edge is then
up to ``SETTLED_EVERY`` late (an attempt leaves the windows up to a minute after 24 h / 30
d, as the pacer's own buckets do); an outcome written more than ``SETTLE`` after its dial
(a database outage) counts from the next settled read.

``AttemptCounts`` is the one primitive; ``SqlAttemptCounts`` is PostgreSQL's, and the
simulator (``bench/dialer_sim.py``) has a fake of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.outbound.pacing import DAY, MONTH, BudgetRead, Tally
from db.models import Campaign, DialAttempt

SETTLE = timedelta(minutes=15)  # an attempt placed longer ago has its outcome written
SETTLED_EVERY = timedelta(seconds=60)


class AttemptCounts(Protocol):
    """Counts of the campaigns' attempts: ``campaigns`` maps each campaign to the start of
    the reading instance's budget (``node_id``'s attempts placed at or after it are left
    out). ``day`` counts the attempts placed in [day_from, until), ``month`` those in
    [month_from, until) (``until`` None: no upper bound), ``other_nodes`` the instances but
    ``node_id`` that placed one in [day_from, until). A campaign without attempts reads 0."""

    async def count(
        self,
        campaigns: Mapping[str, datetime],
        *,
        node_id: str,
        day_from: datetime,
        month_from: datetime,
        until: datetime | None,
    ) -> dict[str, BudgetRead]: ...


class SqlAttemptCounts:
    """``AttemptCounts`` from PostgreSQL: one query for every campaign, on the index
    (campaign, placed_at)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def count(
        self,
        campaigns: Mapping[str, datetime],
        *,
        node_id: str,
        day_from: datetime,
        month_from: datetime,
        until: datetime | None,
    ) -> dict[str, BudgetRead]:
        if not campaigns:
            return {}
        a = DialAttempt
        in_day = a.placed_at >= day_from
        machine = a.result == "machine"
        ours = or_(
            *(
                and_(a.campaign == name, or_(a.node_id != node_id, a.placed_at < since))
                for name, since in campaigns.items()
            )
        )
        where = [ours, a.placed_at >= min(day_from, month_from)]
        if until is not None:
            where.append(a.placed_at < until)
        statement = (
            select(
                a.campaign,
                func.count().filter(a.live, in_day),
                func.count().filter(a.dropped, in_day),
                func.count().filter(machine, in_day),
                func.count().filter(a.live, a.placed_at >= month_from),
                func.count().filter(a.dropped, a.placed_at >= month_from),
                func.count().filter(machine, a.placed_at >= month_from),
                func.count(distinct(a.node_id)).filter(a.node_id != node_id, in_day),
            )
            .where(*where)
            .group_by(a.campaign)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        found = {name: BudgetRead() for name in campaigns}
        for name, live24, drops24, machines24, live30, drops30, machines30, others in rows:
            found[name] = BudgetRead(
                day=Tally(live24, drops24, machines24),
                month=Tally(live30, drops30, machines30),
                other_nodes=int(others),
            )
        return found


class CampaignWindows:
    """The campaigns' rolling 24 h and 30 d windows, for an instance (``node_id``) that
    reads them every second: the settled part now and then, the recent part every time."""

    def __init__(
        self,
        counts: AttemptCounts,
        *,
        node_id: str,
        settle: timedelta = SETTLE,
        settled_every: timedelta = SETTLED_EVERY,
    ) -> None:
        if settle <= timedelta(0) or settled_every <= timedelta(0):
            raise ValueError("need settle > 0 and settled_every > 0")
        self.counts = counts
        self.node_id = node_id
        self.settle = settle
        self.settled_every = settled_every
        self._settled: dict[str, BudgetRead] = {}
        self._settled_for: dict[str, datetime] = {}
        self._settled_at: datetime | None = None
        self._edge: datetime | None = None  # the settled part is before it

    async def read(self, campaigns: Mapping[str, datetime], now: datetime) -> dict[str, BudgetRead]:
        """Each campaign's windows ending at ``now``; ``campaigns``: campaign -> the start
        of this instance's budget for it (``Abandonment.since``)."""
        if not campaigns:
            return {}
        day, month = timedelta(seconds=DAY), timedelta(seconds=MONTH)
        if (
            self._settled_at is None
            or self._edge is None
            or now - self._settled_at >= self.settled_every
            or now < self._settled_at
            or any(self._settled_for.get(c) != since for c, since in campaigns.items())
        ):
            edge = now - self.settle
            self._settled = await self.counts.count(
                campaigns,
                node_id=self.node_id,
                day_from=now - day,
                month_from=now - month,
                until=edge,
            )
            self._settled_for = dict(campaigns)
            self._settled_at, self._edge = now, edge
        recent = await self.counts.count(
            campaigns, node_id=self.node_id, day_from=self._edge, month_from=self._edge, until=None
        )
        return {
            name: BudgetRead(
                day=self._settled[name].day + recent[name].day,
                month=self._settled[name].month + recent[name].month,
                other_nodes=recent[name].other_nodes,
            )
            for name in campaigns
        }


async def campaign_queues(engine: AsyncEngine) -> set[str]:
    """The queues campaigns dial into (whatever their state): every other queue is an
    inbound one, whose callers blended agents are held back for."""
    async with engine.connect() as connection:
        return set((await connection.execute(select(Campaign.queue).distinct())).scalars())
