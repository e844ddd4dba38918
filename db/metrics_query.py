"""The call-center metrics, counted in PostgreSQL per group (queue, agent, campaign) and
interval (15 min, 30 min, an hour or a day, starting on the wall clock of a given time zone).

The definitions are in ``callcenter/reports/metrics.py``; this module only counts and sums
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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, text

from callcenter.reports.metrics import (
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

_ORIGIN = "TIMESTAMP '2000-01-01 00:00:00'"


class Grouping(StrEnum):
    QUEUE = "queue"
    AGENT = "agent"


def _bucket(column: str, params: MetricParams) -> str:
    """The start (timestamptz) of the interval ``column`` falls in, on the zone's clock.

    Days start at local midnight. Shorter intervals start on the local clock too, but are
    real stretches of time: on the fall-back day the two 01:00 hours are two rows (told
    apart by their offset), on the spring-forward day there is no 02:00 row."""
    local = f"({column} AT TIME ZONE :tz)"
    if params.interval.minutes >= 1440:
        return f"(date_bin(:step, {local}, {_ORIGIN}) AT TIME ZONE :tz)"
    return f"({column} - ({local} - date_bin(:step, {local}, {_ORIGIN})))"


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


def _series(groups_sql: str, params: MetricParams) -> str:
    """Every (group, interval start) of the period for the groups ``groups_sql`` yields:
    local days, or real stretches of 15, 30 or 60 minutes from the local clock's first
    interval (23 hours on the spring-forward day, 25 on the fall-back day)."""
    last = "CAST(:end AS timestamptz) - INTERVAL '1 microsecond'"
    if params.interval.minutes >= 1440:
        first = f"date_bin(:step, CAST(:start AS timestamptz) AT TIME ZONE :tz, {_ORIGIN})"
        return (
            f"SELECT g.grp, s.local AT TIME ZONE :tz AS bucket FROM ({groups_sql}) g "
            f"CROSS JOIN generate_series({first}, ({last}) AT TIME ZONE :tz, "
            "CAST(:step AS interval)) AS s(local)"
        )
    first = _bucket("CAST(:start AS timestamptz)", params)
    return (
        f"SELECT g.grp, s.at AS bucket FROM ({groups_sql}) g "
        f"CROSS JOIN generate_series({first}, {last}, CAST(:step AS interval)) AS s(at)"
    )


# Visits that were not served and did not abandon: they count against the service level in
# the "offered" variants.
_UNSERVED = "('timeout', 'overflow', 'exitkey', 'leaveempty')"


def _fcr(call: str, number: str, arrived: str) -> str:
    """FCR state of one answered call: 'resolved' (no call from the same E.164 number within
    the window after it), 'repeated', 'open' (no repeat yet, window still open) or NULL
    (anonymous)."""
    return f"""
        CASE WHEN {number} IS NULL THEN NULL
        WHEN EXISTS (
            SELECT 1 FROM calls r
            WHERE r.caller_e164 = {number} AND r.direction = 'inbound' AND r.id <> {call}
              AND r.arrived_at > {arrived} AND r.arrived_at <= {arrived} + :window
        ) THEN 'repeated'
        WHEN {arrived} + :window > :now THEN 'open'
        ELSE 'resolved' END
    """


def _queue_sql(params: MetricParams, where: list[str]) -> str:
    """Per queue: every visit that entered it in the period, in the interval it entered;
    handle times from the agent segment answered from that visit."""
    base = f"""
        SELECT v.queue AS grp, {_bucket("v.entered_at", params)} AS bucket, v.exit,
            v.wait_seconds, s.talk_seconds, s.hold_seconds, s.hold_count, s.wrap_up_seconds,
            s.ended_at IS NOT NULL AS handled, s.end_reason = 'transfer' AS transferred,
            CASE WHEN v.exit = 'answered' THEN {_fcr("c.id", "c.caller_e164", "c.arrived_at")}
            END AS fcr
        FROM queue_visits v
        JOIN calls c ON c.id = v.call_id
        LEFT JOIN agent_segments s ON s.call_id = v.call_id AND s.visit_seq = v.seq
            AND s.kind = 'queue' AND s.answered_at IS NOT NULL
        WHERE {" AND ".join(where)}
    """
    return base


def _agent_sql(params: MetricParams, where: list[str]) -> str:
    """Per agent: every offer to them in the period (a supervisor's joins excluded), in the
    interval it was offered; the wait is that of the visit they answered."""
    base = f"""
        SELECT s.agent AS grp, {_bucket("s.offered_at", params)} AS bucket,
            CASE WHEN s.answered_at IS NOT NULL THEN 'answered' END AS exit,
            v.wait_seconds, s.talk_seconds, s.hold_seconds, s.hold_count, s.wrap_up_seconds,
            (s.answered_at IS NOT NULL AND s.ended_at IS NOT NULL) AS handled,
            s.end_reason = 'transfer' AS transferred,
            CASE WHEN s.answered_at IS NOT NULL
                THEN {_fcr("c.id", "c.caller_e164", "c.arrived_at")} END AS fcr
        FROM agent_segments s
        JOIN calls c ON c.id = s.call_id
        LEFT JOIN queue_visits v ON v.call_id = s.call_id AND v.seq = s.visit_seq
        WHERE {" AND ".join(where)} AND s.kind <> 'supervisor'
    """
    return base


def metrics(
    bind: Engine | Connection,
    grouping: Grouping,
    start: datetime,
    end: datetime,
    params: MetricParams,
    group: str | None = None,
    fill: bool = True,
    now: datetime | None = None,
) -> list[MetricRow]:
    """The metrics of each queue (or agent) for each interval of ``[start, end)``, from
    the calls' journeys (``queue_visits``, ``agent_segments``); campaign calls are left out
    (their figures are the campaign report's).

    ``group`` keeps one queue (agent). With ``fill``, a group with calls in the period gets a
    row (of zeros) for every interval, also those without calls; a group without any call in
    the period has no rows. Rows come ordered by group, then interval. ``now``: when FCR
    windows still open are judged (default: the database's clock).
    """
    _check_period(start, end)
    if fill and (end - start) / timedelta(minutes=params.interval.minutes) > MAX_FILLED_INTERVALS:
        raise MetricError(
            f"{start.isoformat()} to {end.isoformat()} is more than {MAX_FILLED_INTERVALS} "
            f"intervals of {params.interval.value}: choose a longer interval or a shorter "
            "period, or leave out the empty intervals (--no-fill)"
        )
    grouping = Grouping(grouping)
    values = _base_values(start, end, params)
    values.update(
        sl=params.sl_seconds,
        short=params.short_abandon_seconds,
        window=params.fcr_window,
        now=now or datetime.now(UTC),
    )
    where = ["c.campaign IS NULL"]
    if grouping is Grouping.QUEUE:
        where += ["v.entered_at >= :start", "v.entered_at < :end"]
        if group is not None:
            where.append("v.queue = :group")
        base = _queue_sql(params, where)
    else:
        where += ["s.offered_at >= :start", "s.offered_at < :end"]
        if group is not None:
            where.append("s.agent = :group")
        base = _agent_sql(params, where)
    if group is not None:
        values["group"] = group
    aggregates = f"""
        SELECT b.grp, b.bucket,
            count(*) AS offered,
            count(*) FILTER (WHERE exit = 'answered') AS answered,
            count(*) FILTER (WHERE exit = 'answered' AND wait_seconds IS NOT NULL)
                AS waited_answers,
            count(*) FILTER (WHERE exit = 'answered' AND wait_seconds <= :sl)
                AS answered_within_t,
            count(*) FILTER (WHERE exit = 'abandoned') AS abandoned,
            count(*) FILTER (WHERE exit = 'abandoned' AND wait_seconds < :short)
                AS short_abandons,
            count(*) FILTER (WHERE exit = 'timeout') AS timed_out,
            count(*) FILTER (WHERE exit = 'overflow') AS overflowed,
            count(*) FILTER (WHERE exit IN {_UNSERVED}) AS unserved,
            count(*) FILTER (WHERE exit = 'callback') AS callbacks,
            count(*) FILTER (WHERE transferred) AS transfers,
            COALESCE(sum(hold_count), 0) AS holds,
            COALESCE(sum(wait_seconds) FILTER (WHERE exit = 'answered'), 0)
                AS answer_wait_seconds,
            count(*) FILTER (WHERE handled) AS handled,
            COALESCE(sum(talk_seconds) FILTER (WHERE handled), 0) AS talk_seconds,
            COALESCE(sum(hold_seconds) FILTER (WHERE handled), 0) AS hold_seconds,
            COALESCE(sum(COALESCE(wrap_up_seconds, 0)) FILTER (WHERE handled), 0)
                AS wrap_up_seconds,
            count(*) FILTER (WHERE fcr IN ('resolved', 'repeated')) AS fcr_contacts,
            count(*) FILTER (WHERE fcr = 'resolved') AS fcr_resolved,
            count(*) FILTER (WHERE fcr = 'open') AS fcr_open
        FROM base b
        GROUP BY b.grp, b.bucket
    """
    # Messages left for a queue (events VOICEMAIL, in the interval they were left; their
    # calls arrived at most a day earlier): a queue with only messages in an interval
    # (after hours) has its row too.
    if grouping is Grouping.QUEUE:
        messages = f"""
            SELECT e.data->>'queue' AS grp, {_bucket("e.occurred_at", params)} AS bucket,
                count(*) AS voicemails
            FROM calls c JOIN call_events e ON e.call_id = c.id AND e.type = 'VOICEMAIL'
            WHERE c.campaign IS NULL
                AND c.arrived_at >= CAST(:start AS timestamptz) - INTERVAL '1 day'
                AND c.arrived_at < :end
                AND e.occurred_at >= :start AND e.occurred_at < :end
                {"AND e.data->>'queue' = :group" if group is not None else ""}
            GROUP BY 1, 2
        """
    else:
        messages = "SELECT NULL::text AS grp, NULL::timestamptz AS bucket, 0 AS voicemails LIMIT 0"
    joined = "SELECT * FROM agg FULL JOIN vm USING (grp, bucket)"
    if fill:
        sql = f"""
            WITH base AS ({base}), agg0 AS ({aggregates}), vm AS ({messages}),
            agg AS ({joined.replace("FROM agg", "FROM agg0")}),
            slots AS ({_series("SELECT DISTINCT grp FROM agg", params)})
            SELECT slots.grp, slots.bucket, agg.* FROM slots
            LEFT JOIN agg ON agg.grp = slots.grp AND agg.bucket = slots.bucket
            ORDER BY slots.grp, slots.bucket
        """
    else:
        sql = f"""
            WITH base AS ({base}), agg0 AS ({aggregates}), vm AS ({messages}),
            agg AS ({joined.replace("FROM agg", "FROM agg0")})
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
            timed_out=int(m["timed_out"] or 0),
            overflowed=int(m["overflowed"] or 0),
            unserved=int(m["unserved"] or 0),
            callbacks=int(m["callbacks"] or 0),
            voicemails=int(m["voicemails"] or 0),
            transfers=int(m["transfers"] or 0),
            holds=int(m["holds"] or 0),
            answer_wait_seconds=float(m["answer_wait_seconds"] or 0),
            handled=int(m["handled"] or 0),
            talk_seconds=float(m["talk_seconds"] or 0),
            hold_seconds=float(m["hold_seconds"] or 0),
            wrap_up_seconds=float(m["wrap_up_seconds"] or 0),
            fcr_contacts=int(m["fcr_contacts"] or 0),
            fcr_resolved=int(m["fcr_resolved"] or 0),
            fcr_open=int(m["fcr_open"] or 0),
            waited_answers=int(m["waited_answers"] or 0),
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
    now: datetime | None = None,
) -> list[MetricRow]:
    """Per queue and interval (see :func:`metrics`)."""
    return metrics(bind, Grouping.QUEUE, start, end, params or MetricParams(), queue, fill, now)


def agent_metrics(
    bind: Engine | Connection,
    start: datetime,
    end: datetime,
    params: MetricParams | None = None,
    agent: str | None = None,
    fill: bool = True,
    now: datetime | None = None,
) -> list[MetricRow]:
    """Per agent (who took the call) and interval (see :func:`metrics`)."""
    return metrics(bind, Grouping.AGENT, start, end, params or MetricParams(), agent, fill, now)


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
            SELECT a.campaign AS grp, {_bucket("a.placed_at", params)} AS bucket,
                count(*) AS dials,
                count(*) FILTER (WHERE a.live) AS live,
                count(*) FILTER (WHERE a.dropped) AS dropped,
                count(*) FILTER (WHERE a.result = 'connected') AS connects
            FROM dial_attempts a WHERE {" AND ".join(attempts_where)}
            GROUP BY 1, 2
        ), cal AS (
            SELECT c.campaign AS grp, {_bucket("c.arrived_at", params)} AS bucket,
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
        SELECT s.{column} AS grp, {_bucket("s.answered_at", params)} AS bucket,
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
