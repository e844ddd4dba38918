"""Agent time and occupancy, summed in PostgreSQL from the agents' states (``agent_events``)
per agent and interval. The definitions are on :class:`AgentTimeRow`
(``callcenter/reports/metrics.py``); this module sums the seconds and counts the calls.

A row of ``agent_events`` carries the agent's state after it (``state``); that state lasts
until the agent's next row (``LEAD`` over the agent's rows by time, then id). Before an
agent's first row the agent is logged out; the last state still open at the report's end is
cut at ``min(end, now)``. Rows without a state do not change it. To know the state at the
period's start only the last row before it is read, per agent.

Intervals: 15, 30 or 60 min intervals are absolute stretches of time stepping from the
interval the period's start falls in on the zone's wall clock, so a day with a DST change
has 23 or 25 hours (2026-11-01 in America/New_York: 00:00, 01:00 EDT, 01:00 EST, 02:00...).
Day intervals run from one local midnight to the next (local dates ``AT TIME ZONE``).
``generate_series`` makes the interval boundaries each state span covers (lateral join), so
a span meets only its own intervals and a long report stays linear in spans and intervals.
Each span is clipped to its intervals and to ``[start, end)``; ``CONNECT`` rows count as
calls in the interval they occurred in. Only intervals with logged-in time get a row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.reports.metrics import (
    NO_PAUSE_REASON,
    AgentTimeRow,
    Interval,
    MetricError,
    MetricParams,
    agent_time_row,
    zone,
)
from db.metrics_query import _base_values, _check_period, _rows

_ORIGIN = "TIMESTAMP '2000-01-01 00:00:00'"
_STEP = "CAST(:step AS interval)"
_TINY = "INTERVAL '1 microsecond'"
#: The first interval's start: the wall-clock interval the period's start falls in.
_FIRST = (
    f"(date_bin({_STEP}, CAST(:start AS timestamptz) AT TIME ZONE :tz, {_ORIGIN}) AT TIME ZONE :tz)"
)


def _intervals_of(span: str, interval: Interval) -> str:
    """The intervals (``lo``, ``hi``: timestamptz) that the span ``[span.t_from,
    span.t_to)`` overlaps, from ``generate_series``."""
    if interval is Interval.DAY:
        return f"""
            SELECT d AT TIME ZONE :tz AS lo, (d + INTERVAL '1 day') AT TIME ZONE :tz AS hi
            FROM generate_series(
                date_trunc('day', {span}.t_from AT TIME ZONE :tz),
                ({span}.t_to - {_TINY}) AT TIME ZONE :tz,
                INTERVAL '1 day'
            ) AS d
        """
    return f"""
        SELECT s AS lo, s + {_STEP} AS hi
        FROM generate_series(
            date_bin({_STEP}, {span}.t_from, {_FIRST}), {span}.t_to - {_TINY}, {_STEP}
        ) AS s
    """


def _interval_of(column: str, interval: Interval) -> str:
    """The start (timestamptz) of the interval the instant ``column`` falls in."""
    if interval is Interval.DAY:
        return f"(date_trunc('day', {column} AT TIME ZONE :tz) AT TIME ZONE :tz)"
    return f"date_bin({_STEP}, {column}, {_FIRST})"


def agent_time(
    bind: Engine | Connection,
    start: datetime,
    end: datetime,
    params: MetricParams | None = None,
    agent: str | None = None,
    now: datetime | None = None,
) -> list[AgentTimeRow]:
    """Per agent and interval of ``[start, end)``: seconds logged in, paused (by reason),
    available, ringing, talking, on hold and in wrap-up, the calls connected, occupancy,
    utilisation and calls per hour. ``agent`` keeps one agent; ``now`` (default: the
    database's clock) is where a state still open ends. Rows come ordered by agent, then
    interval; agents and intervals without logged-in time have none."""
    params = params or MetricParams()
    _check_period(start, end)
    if now is not None and now.tzinfo is None:
        raise MetricError("now must carry a time zone")
    values: dict[str, Any] = _base_values(start, end, params)
    values["now"] = now
    who = ""
    if agent is not None:
        who = "AND e.agent = :agent"
        values["agent"] = agent
    interval = params.interval
    sql = f"""
        WITH ev AS (
            SELECT e.agent, e.occurred_at, e.id, e.state, e.reason
            FROM agent_events e
            WHERE e.state IS NOT NULL AND e.occurred_at >= :start AND e.occurred_at < :end {who}
            UNION ALL
            SELECT * FROM (
                SELECT DISTINCT ON (e.agent) e.agent, e.occurred_at, e.id, e.state, e.reason
                FROM agent_events e
                WHERE e.state IS NOT NULL AND e.occurred_at < :start {who}
                ORDER BY e.agent, e.occurred_at DESC, e.id DESC
            ) before
        ), spans AS (
            SELECT ev.agent, ev.state, ev.reason,
                GREATEST(ev.occurred_at, CAST(:start AS timestamptz)) AS t_from,
                COALESCE(
                    LEAD(ev.occurred_at) OVER by_time,
                    LEAST(CAST(:end AS timestamptz), COALESCE(CAST(:now AS timestamptz), now()))
                ) AS t_to
            FROM ev
            WINDOW by_time AS (PARTITION BY ev.agent ORDER BY ev.occurred_at, ev.id)
        ), pieces AS (
            SELECT sp.agent, sp.state, sp.reason, i.lo,
                LEAST(sp.t_to, i.hi) - GREATEST(sp.t_from, i.lo) AS spent
            FROM spans sp
            CROSS JOIN LATERAL ({_intervals_of("sp", interval)}) i
            WHERE sp.state <> 'logged_out' AND sp.t_to > sp.t_from
        ), spent AS (
            SELECT p.agent, p.lo,
                sum(p.spent) AS logged_in,
                sum(p.spent) FILTER (WHERE p.state = 'paused') AS paused,
                sum(p.spent) FILTER (WHERE p.state = 'available') AS available,
                sum(p.spent) FILTER (WHERE p.state = 'ringing') AS ringing,
                sum(p.spent) FILTER (WHERE p.state = 'on_call') AS talk,
                sum(p.spent) FILTER (WHERE p.state = 'on_hold') AS hold,
                sum(p.spent) FILTER (WHERE p.state = 'wrap_up') AS wrap_up
            FROM pieces p
            GROUP BY p.agent, p.lo
            HAVING sum(p.spent) > INTERVAL '0'
        ), reasons AS (
            SELECT r.agent, r.lo, jsonb_object_agg(r.reason, r.seconds) AS by_reason
            FROM (
                SELECT p.agent, p.lo, COALESCE(p.reason, :no_reason) AS reason,
                    EXTRACT(EPOCH FROM sum(p.spent))::double precision AS seconds
                FROM pieces p WHERE p.state = 'paused'
                GROUP BY 1, 2, 3
            ) r
            GROUP BY r.agent, r.lo
        ), connects AS (
            SELECT e.agent, {_interval_of("e.occurred_at", interval)} AS lo, count(*) AS calls
            FROM agent_events e
            WHERE e.type = 'CONNECT' AND e.occurred_at >= :start AND e.occurred_at < :end {who}
            GROUP BY 1, 2
        )
        SELECT s.agent, s.lo,
            EXTRACT(EPOCH FROM s.logged_in)::double precision AS logged_in,
            EXTRACT(EPOCH FROM COALESCE(s.paused, INTERVAL '0'))::double precision AS paused,
            EXTRACT(EPOCH FROM COALESCE(s.available, INTERVAL '0'))::double precision
                AS available,
            EXTRACT(EPOCH FROM COALESCE(s.ringing, INTERVAL '0'))::double precision AS ringing,
            EXTRACT(EPOCH FROM COALESCE(s.talk, INTERVAL '0'))::double precision AS talk,
            EXTRACT(EPOCH FROM COALESCE(s.hold, INTERVAL '0'))::double precision AS hold,
            EXTRACT(EPOCH FROM COALESCE(s.wrap_up, INTERVAL '0'))::double precision AS wrap_up,
            r.by_reason, COALESCE(c.calls, 0) AS calls
        FROM spent s
        LEFT JOIN reasons r ON r.agent = s.agent AND r.lo = s.lo
        LEFT JOIN connects c ON c.agent = s.agent AND c.lo = s.lo
        ORDER BY s.agent, s.lo
    """
    values["no_reason"] = NO_PAUSE_REASON
    tz = zone(params.tz)
    out = []
    for row in _rows(bind, sql, values):
        m = row._mapping
        by_reason = m["by_reason"] or {}
        out.append(
            agent_time_row(
                m["agent"],
                m["lo"].astimezone(tz),
                logged_in=m["logged_in"],
                paused=m["paused"],
                paused_by_reason={k: float(by_reason[k]) for k in sorted(by_reason)},
                available=m["available"],
                ringing=m["ringing"],
                talk=m["talk"],
                hold=m["hold"],
                wrap_up=m["wrap_up"],
                calls=int(m["calls"]),
            )
        )
    return out


async def agent_today(
    engine: AsyncEngine, tz: str, agent: str, now: datetime | None = None
) -> dict[str, Any]:
    """The agent's own figures since local midnight (the center's zone), for their desk:
    calls connected, handle time (talk + hold + wrap-up), average handle time per call,
    occupancy (handle / unpaused logged-in time), as the agent time report counts them."""
    zone_info = zone(tz)
    now = now or datetime.now(zone_info)
    local = now.astimezone(zone_info)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    params = MetricParams(interval=Interval.DAY, tz=tz)
    async with engine.connect() as connection:
        rows = await connection.run_sync(
            lambda sync: agent_time(sync, midnight, now, params, agent=agent, now=now)
        )
    calls = sum(r.calls for r in rows)
    handle = sum(r.handle_seconds for r in rows)
    working = sum(r.logged_in_seconds - r.paused_seconds for r in rows)
    return {
        "agent": agent,
        "since": midnight.isoformat(),
        "calls": calls,
        "handle_seconds": round(handle, 1),
        "aht_seconds": round(handle / calls, 1) if calls else None,
        "occupancy": round(handle / working, 3) if working > 0 else None,
        "logged_in_seconds": round(sum(r.logged_in_seconds for r in rows), 1),
    }
