"""The call-center metrics, counted in PostgreSQL per group (queue, agent, campaign) and
interval (15 min, 30 min, an hour or a day, starting on the wall clock of a given time zone).

The definitions are in ``switchboard/reports/metrics.py``; this module only counts and sums
(``FILTER`` aggregates over ``calls``, ``call_events``, ``dial_attempts`` and, once it exists,
``call_surveys``) and hands the sums over to it for the ratios.

Which calls count:

- queue report: inbound calls that entered a queue (``queued_at``) in the period, grouped by
  ``calls.queue`` and placed in the interval they were queued in;
- agent report: inbound calls an agent took (``calls.agent``, ``connected_at``) in the
  period, grouped by that agent and placed in the interval they were connected in;
- campaign report: dial attempts placed (``placed_at``) and outbound calls of the campaign
  arrived (``arrived_at``) in the period;
- survey report: survey answers (``answered_at``) in the period, by queue or agent.

A repeat call for FCR is looked for among all inbound calls, also after the period's end.

Intervals are binned on local wall-clock time (``date_bin`` on ``ts AT TIME ZONE tz``), so a
day in Europe/Paris starts at local midnight, summer or winter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, text

from switchboard.reports.metrics import (
    MAX_FILLED_INTERVALS,
    CampaignRow,
    Counts,
    MetricError,
    MetricParams,
    MetricRow,
    SurveyRow,
    metric_row,
    ratio,
    zone,
)

TRANSFER_EVENTS = ("BLINDTRANSFER", "ATTENDEDTRANSFER")
_ORIGIN = "TIMESTAMP '2000-01-01 00:00:00'"


class Grouping(StrEnum):
    QUEUE = "queue"
    AGENT = "agent"


# The column a grouping groups by and the timestamp that places a call in an interval.
_GROUPING = {
    Grouping.QUEUE: ("queue", "queued_at"),
    Grouping.AGENT: ("agent", "connected_at"),
}


def _bucket(column: str) -> str:
    """The start (timestamptz) of the interval ``column`` falls in, on the zone's clock."""
    return f"(date_bin(:step, {column} AT TIME ZONE :tz, {_ORIGIN}) AT TIME ZONE :tz)"


def _check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise MetricError("the period's start and end must carry a time zone")
    if end <= start:
        raise MetricError(f"the period ends ({end.isoformat()}) before it starts")


def _rows(bind: Engine | Connection, sql: str, values: Mapping[str, Any]) -> list[Any]:
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return list(connection.execute(text(sql), dict(values)))
    return list(bind.execute(text(sql), dict(values)))


def _base_values(start: datetime, end: datetime, params: MetricParams) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "tz": params.tz,
        "step": timedelta(minutes=params.interval.minutes),
    }


def _series(groups_sql: str) -> str:
    """Every (group, interval start) of the period for the groups ``groups_sql`` yields."""
    first = f"date_bin(:step, CAST(:start AS timestamptz) AT TIME ZONE :tz, {_ORIGIN})"
    last = "(CAST(:end AS timestamptz) AT TIME ZONE :tz) - INTERVAL '1 microsecond'"
    return (
        f"SELECT g.grp, s.local AT TIME ZONE :tz AS bucket FROM ({groups_sql}) g "
        f"CROSS JOIN generate_series({first}, {last}, CAST(:step AS interval)) AS s(local)"
    )


def metrics(
    bind: Engine | Connection,
    grouping: Grouping,
    start: datetime,
    end: datetime,
    params: MetricParams,
    group: str | None = None,
    fill: bool = True,
) -> list[MetricRow]:
    """The metrics of each queue (or agent) for each interval of ``[start, end)``.

    ``group`` keeps one queue (agent). With ``fill``, a group with calls in the period gets a
    row (of zeros) for every interval, also those without calls; a group without any call in
    the period has no rows. Rows come ordered by group, then interval.
    """
    _check_period(start, end)
    if fill and (end - start) / timedelta(minutes=params.interval.minutes) > MAX_FILLED_INTERVALS:
        raise MetricError(
            f"{start.isoformat()} to {end.isoformat()} is more than {MAX_FILLED_INTERVALS} "
            f"intervals of {params.interval.value}: choose a longer interval or a shorter "
            "period, or leave out the empty intervals (--no-fill)"
        )
    column, when = _GROUPING[Grouping(grouping)]
    where = [
        "c.direction = 'inbound'",
        f"c.{column} IS NOT NULL",
        f"c.{when} >= :start",
        f"c.{when} < :end",
    ]
    if grouping is Grouping.AGENT:
        where.append("c.connected_at IS NOT NULL")
    values = _base_values(start, end, params)
    values.update(
        sl=params.sl_seconds,
        short=params.short_abandon_seconds,
        window=params.fcr_window,
        transfers=list(TRANSFER_EVENTS),
    )
    if group is not None:
        where.append(f"c.{column} = :group")
        values["group"] = group
    answered = "connected_at IS NOT NULL AND queue_exit = 'connected'"
    handled = f"{answered} AND talk_ended_at IS NOT NULL"
    known = f"{answered} AND number_key <> ''"
    base = f"""
        SELECT c.*, c.{column} AS grp, {_bucket("c." + when)} AS bucket,
            EXTRACT(EPOCH FROM (c.connected_at - c.queued_at))::double precision AS answer_wait,
            EXTRACT(EPOCH FROM (COALESCE(c.queue_left_at, c.ended_at) - c.queued_at))
                ::double precision AS abandon_wait,
            regexp_replace(COALESCE(c.caller_number, ''), '[^0-9]', '', 'g') AS number_key,
            EXISTS (
                SELECT 1 FROM call_events e
                WHERE e.call_id = c.id AND e.type = ANY(:transfers)
            ) AS transferred
        FROM calls c
        WHERE {" AND ".join(where)}
    """
    aggregates = f"""
        SELECT b.grp, b.bucket,
            count(*) FILTER (WHERE queued_at IS NOT NULL) AS offered,
            count(*) FILTER (WHERE {answered}) AS answered,
            count(*) FILTER (WHERE {answered} AND answer_wait <= :sl) AS answered_within_t,
            count(*) FILTER (WHERE queue_exit = 'abandoned') AS abandoned,
            count(*) FILTER (WHERE queue_exit = 'abandoned' AND abandon_wait < :short)
                AS short_abandons,
            count(*) FILTER (WHERE queue_exit = 'callback') AS callbacks,
            count(*) FILTER (WHERE transferred) AS transfers,
            COALESCE(sum(hold_count), 0) AS holds,
            COALESCE(sum(answer_wait) FILTER (WHERE {answered}), 0) AS answer_wait_seconds,
            count(*) FILTER (WHERE {handled}) AS handled,
            COALESCE(sum(talk_seconds) FILTER (WHERE {handled}), 0) AS talk_seconds,
            COALESCE(sum(COALESCE(hold_seconds, 0)) FILTER (WHERE {handled}), 0) AS hold_seconds,
            COALESCE(sum(COALESCE(wrap_up_seconds, 0)) FILTER (WHERE {handled}), 0)
                AS wrap_up_seconds,
            count(*) FILTER (WHERE {known}) AS fcr_contacts,
            count(*) FILTER (WHERE {known} AND NOT EXISTS (
                SELECT 1 FROM calls r
                WHERE r.direction = 'inbound' AND r.id <> b.id
                  AND r.arrived_at > b.arrived_at AND r.arrived_at <= b.arrived_at + :window
                  AND regexp_replace(COALESCE(r.caller_number, ''), '[^0-9]', '', 'g')
                      = b.number_key
            )) AS fcr_resolved
        FROM base b
        GROUP BY b.grp, b.bucket
    """
    if fill:
        sql = f"""
            WITH base AS ({base}), agg AS ({aggregates}),
            slots AS ({_series("SELECT DISTINCT grp FROM agg")})
            SELECT slots.grp, slots.bucket, agg.* FROM slots
            LEFT JOIN agg ON agg.grp = slots.grp AND agg.bucket = slots.bucket
            ORDER BY slots.grp, slots.bucket
        """
    else:
        sql = f"""
            WITH base AS ({base}), agg AS ({aggregates})
            SELECT agg.grp, agg.bucket, agg.* FROM agg ORDER BY agg.grp, agg.bucket
        """
    tz = zone(params.tz)
    out = []
    for row in _rows(bind, sql, values):
        m = row._mapping
        counts = Counts(
            offered=int(m["offered"] or 0),
            answered=int(m["answered"] or 0),
            answered_within_t=int(m["answered_within_t"] or 0),
            abandoned=int(m["abandoned"] or 0),
            short_abandons=int(m["short_abandons"] or 0),
            callbacks=int(m["callbacks"] or 0),
            transfers=int(m["transfers"] or 0),
            holds=int(m["holds"] or 0),
            answer_wait_seconds=float(m["answer_wait_seconds"] or 0),
            handled=int(m["handled"] or 0),
            talk_seconds=float(m["talk_seconds"] or 0),
            hold_seconds=float(m["hold_seconds"] or 0),
            wrap_up_seconds=float(m["wrap_up_seconds"] or 0),
            fcr_contacts=int(m["fcr_contacts"] or 0),
            fcr_resolved=int(m["fcr_resolved"] or 0),
        )
        out.append(metric_row(row[0], row[1].astimezone(tz), counts, params))
    return out


def queue_metrics(
    bind: Engine | Connection,
    start: datetime,
    end: datetime,
    params: MetricParams | None = None,
    queue: str | None = None,
    fill: bool = True,
) -> list[MetricRow]:
    """Per queue and interval (see :func:`metrics`)."""
    return metrics(bind, Grouping.QUEUE, start, end, params or MetricParams(), queue, fill)


def agent_metrics(
    bind: Engine | Connection,
    start: datetime,
    end: datetime,
    params: MetricParams | None = None,
    agent: str | None = None,
    fill: bool = True,
) -> list[MetricRow]:
    """Per agent (who took the call) and interval (see :func:`metrics`)."""
    return metrics(bind, Grouping.AGENT, start, end, params or MetricParams(), agent, fill)


def _hours_in(bucket: datetime, params: MetricParams, start: datetime, end: datetime) -> float:
    """Hours of the interval starting at ``bucket`` that lie inside ``[start, end)``."""
    tz = zone(params.tz)
    local = bucket.astimezone(tz).replace(tzinfo=None)
    bucket_end = (local + timedelta(minutes=params.interval.minutes)).replace(tzinfo=tz)
    lo, hi = max(bucket, start), min(bucket_end, end)
    return max((hi - lo).total_seconds(), 0.0) / 3600


def campaign_metrics(
    bind: Engine | Connection,
    start: datetime,
    end: datetime,
    params: MetricParams | None = None,
    campaign: str | None = None,
) -> list[CampaignRow]:
    """Per campaign and interval: dial attempts (dials, live answers, drops, connects) and
    the campaign's outbound calls (contacts: connected to an agent; handle time). Intervals
    without attempts or calls have no row."""
    params = params or MetricParams()
    _check_period(start, end)
    values = _base_values(start, end, params)
    attempts_where = ["a.placed_at >= :start", "a.placed_at < :end"]
    calls_where = [
        "c.direction = 'outbound'",
        "c.campaign IS NOT NULL",
        "c.arrived_at >= :start",
        "c.arrived_at < :end",
    ]
    if campaign is not None:
        attempts_where.append("a.campaign = :campaign")
        calls_where.append("c.campaign = :campaign")
        values["campaign"] = campaign
    handled = "c.connected_at IS NOT NULL AND c.talk_ended_at IS NOT NULL"
    sql = f"""
        WITH att AS (
            SELECT a.campaign AS grp, {_bucket("a.placed_at")} AS bucket,
                count(*) AS dials,
                count(*) FILTER (WHERE a.live) AS live,
                count(*) FILTER (WHERE a.dropped) AS dropped,
                count(*) FILTER (WHERE a.result = 'connected') AS connects
            FROM dial_attempts a WHERE {" AND ".join(attempts_where)}
            GROUP BY 1, 2
        ), cal AS (
            SELECT c.campaign AS grp, {_bucket("c.arrived_at")} AS bucket,
                count(*) FILTER (WHERE c.connected_at IS NOT NULL) AS contacts,
                count(*) FILTER (WHERE {handled}) AS handled,
                COALESCE(sum(c.talk_seconds + COALESCE(c.hold_seconds, 0)
                    + COALESCE(c.wrap_up_seconds, 0)) FILTER (WHERE {handled}), 0) AS handle_seconds
            FROM calls c WHERE {" AND ".join(calls_where)}
            GROUP BY 1, 2
        )
        SELECT COALESCE(att.grp, cal.grp) AS grp, COALESCE(att.bucket, cal.bucket) AS bucket,
            COALESCE(att.dials, 0) AS dials, COALESCE(att.live, 0) AS live,
            COALESCE(att.dropped, 0) AS dropped, COALESCE(att.connects, 0) AS connects,
            COALESCE(cal.contacts, 0) AS contacts, COALESCE(cal.handled, 0) AS handled,
            COALESCE(cal.handle_seconds, 0) AS handle_seconds
        FROM att FULL JOIN cal ON att.grp = cal.grp AND att.bucket = cal.bucket
        ORDER BY 1, 2
    """
    tz = zone(params.tz)
    out = []
    for row in _rows(bind, sql, values):
        m = row._mapping
        hours = _hours_in(m["bucket"], params, start, end)
        out.append(
            CampaignRow(
                group=m["grp"],
                interval_start=m["bucket"].astimezone(tz),
                dials=m["dials"],
                live=m["live"],
                dropped=m["dropped"],
                connects=m["connects"],
                contacts=m["contacts"],
                handled=m["handled"],
                abandonment_rate=ratio(m["dropped"], m["live"]),
                aht=ratio(float(m["handle_seconds"]), m["handled"]),
                dials_per_hour=ratio(m["dials"], hours),
                connects_per_hour=ratio(m["connects"], hours),
            )
        )
    return out


def survey_table_exists(bind: Engine | Connection) -> bool:
    rows = _rows(bind, "SELECT to_regclass('call_surveys') IS NOT NULL", {})
    return bool(rows[0][0])


def survey_metrics(
    bind: Engine | Connection,
    grouping: Grouping,
    start: datetime,
    end: datetime,
    params: MetricParams | None = None,
    group: str | None = None,
) -> list[SurveyRow] | None:
    """CSAT (ratings 4-5 among rated calls) and survey FCR (resolved among those who
    answered the question) per queue or agent and interval, from ``call_surveys``; None
    while that table does not exist."""
    params = params or MetricParams()
    _check_period(start, end)
    if not survey_table_exists(bind):
        return None
    column = Grouping(grouping).value
    values = _base_values(start, end, params)
    where = [f"s.{column} IS NOT NULL", "s.answered_at >= :start", "s.answered_at < :end"]
    if group is not None:
        where.append(f"s.{column} = :group")
        values["group"] = group
    sql = f"""
        SELECT s.{column} AS grp, {_bucket("s.answered_at")} AS bucket,
            count(*) AS surveys,
            count(*) FILTER (WHERE s.rating IS NOT NULL) AS rated,
            count(*) FILTER (WHERE s.rating >= 4) AS satisfied,
            count(*) FILTER (WHERE s.resolved IS NOT NULL) AS resolved_answers,
            count(*) FILTER (WHERE s.resolved) AS resolved
        FROM call_surveys s WHERE {" AND ".join(where)}
        GROUP BY 1, 2 ORDER BY 1, 2
    """
    tz = zone(params.tz)
    return [
        SurveyRow(
            group=m["grp"],
            interval_start=m["bucket"].astimezone(tz),
            surveys=m["surveys"],
            rated=m["rated"],
            satisfied=m["satisfied"],
            csat=ratio(m["satisfied"], m["rated"]),
            resolved_answers=m["resolved_answers"],
            resolved=m["resolved"],
            fcr=ratio(m["resolved"], m["resolved_answers"]),
        )
        for m in (row._mapping for row in _rows(bind, sql, values))
    ]


def group_names(rows: Sequence[MetricRow]) -> list[str]:
    """The groups present in ``rows``, in order."""
    return list(dict.fromkeys(r.group for r in rows))
