"""`switchboard report ...`: service level, ASA, AHT, abandonment, FCR and friends per queue,
agent or campaign and interval, computed by PostgreSQL; agents' time and occupancy from their
states; post-call survey CSAT; a chart.

Definitions: callcenter/reports/metrics.py. Periods are ``--from`` (included) to ``--to``
(excluded; a date alone means the end of that day), read in ``--tz`` unless they name their
own offset; default: today in ``--tz``. ``--tz`` defaults to the center's time zone (setting
``SWITCHBOARD_TIMEZONE``, itself UTC unless set)."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcenter.reports.metrics import (
    AGENT_TIME_FIELDS,
    CAMPAIGN_FIELDS,
    METRIC_FIELDS,
    SURVEY_FIELDS,
    AgentTimeRow,
    CampaignRow,
    Interval,
    MetricError,
    MetricParams,
    MetricRow,
    SurveyRow,
    describe_window,
    parse_interval,
    parse_sl_variant,
    parse_window,
    zone,
)
from switchboard.cli.common import database, fail

if TYPE_CHECKING:
    pass

report_app = typer.Typer(
    no_args_is_help=True,
    help="Call-center metrics per queue, agent or campaign and interval (SL, ASA, AHT...).",
)

console = Console(
    width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200,
    emoji=False,
    highlight=False,
)

FORMATS = ("table", "csv", "json")


# --- input --------------------------------------------------------------------------------


def parse_bound(value: str, tz: str, *, end: bool) -> datetime:
    """An ISO date or time in zone ``tz`` (unless it names its offset). A date alone is the
    start of that day, or for an end, the start of the next day (the day is included)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            when = datetime.combine(day + timedelta(days=1 if end else 0), time())
        else:
            when = datetime.fromisoformat(text)
    except ValueError:
        option = "--to" if end else "--from"
        raise MetricError(
            f"{option} {value!r}: give an ISO date or time (2024-05-01, 2024-05-01T08:00, "
            "2024-05-01T08:00+02:00)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone(tz))


def _today(tz: str) -> date:
    return datetime.now(zone(tz)).date()


def period(start: str | None, end: str | None, tz: str) -> tuple[datetime, datetime]:
    """The report's ``[start, end)``: default today (in ``tz``)."""
    today = _today(tz)
    lo = parse_bound(start or today.isoformat(), tz, end=False)
    hi = parse_bound(end or today.isoformat(), tz, end=True)
    if hi <= lo:
        raise MetricError(f"--to ({hi.isoformat()}) must come after --from ({lo.isoformat()})")
    return lo, hi


def _params(
    interval: str, tz: str, sl: float, sl_variant: str, short_abandon: float, fcr_window: str
) -> MetricParams:
    return MetricParams(
        sl_seconds=sl,
        sl_variant=parse_sl_variant(sl_variant),
        short_abandon_seconds=short_abandon,
        fcr_window=parse_window(fcr_window),
        interval=parse_interval(interval),
        tz=tz,
    )


def center_zone() -> str:
    """The center's time zone (setting ``SWITCHBOARD_TIMEZONE``): what ``--tz`` defaults to."""
    from pydantic import ValidationError

    from callcenter.config import get_settings

    try:
        return get_settings().timezone
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise fail(f"bad settings: {problems}", 2) from None


def _prepare(
    start: str | None,
    end: str | None,
    interval: str,
    tz: str | None,
    sl: float,
    sl_variant: str,
    short_abandon: float,
    fcr_window: str,
    fmt: str,
) -> tuple[datetime, datetime, MetricParams, str]:
    chosen = fmt.strip().lower()
    if chosen not in FORMATS:
        raise fail(f"--format {fmt!r}: one of {', '.join(FORMATS)}", 2)
    if tz is None:
        tz = center_zone()
    try:
        params = _params(interval, tz, sl, sl_variant, short_abandon, fcr_window)
        lo, hi = period(start, end, tz)
    except MetricError as exc:
        raise fail(str(exc), 2) from None
    return lo, hi, params, chosen


# --- output -------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}s"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _hms(seconds: float) -> str:
    """A duration as h:mm:ss (rounded to the second)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _when(value: datetime, interval: Interval) -> str:
    return value.strftime("%Y-%m-%d" if interval is Interval.DAY else "%Y-%m-%d %H:%M")


def _csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row for one CSV line: a mapping (pause reasons) as JSON text."""
    return {
        k: json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, dict) else v
        for k, v in row.items()
    }


def _json(rows: Sequence[dict[str, Any]]) -> None:
    sys.stdout.write(json.dumps(list(rows), ensure_ascii=False, indent=1) + "\n")


def _emit(
    fmt: str,
    columns: Sequence[str],
    rows: Sequence[AgentTimeRow | CampaignRow | MetricRow | SurveyRow],
    table: Callable[[], Table],
    empty: str,
) -> None:
    if fmt == "csv":
        _csv(columns, [_flat(r.as_dict()) for r in rows])
    elif fmt == "json":
        _json([r.as_dict() for r in rows])
    elif not rows:
        console.print(escape(empty))
    else:
        console.print(table())


def _metric_table(kind: str, rows: Sequence[MetricRow], params: MetricParams) -> Table:
    title = (
        f"{kind} metrics, {params.interval.value} intervals ({params.tz}); "
        f"SL {params.sl_variant.value}, T={params.sl_seconds:g}s; "
        f"short abandon <{params.short_abandon_seconds:g}s; "
        f"FCR window {describe_window(params.fcr_window)}"
    )
    table = Table(title=escape(title), title_justify="left")
    headers = (
        kind,
        "interval",
        "offered",
        "answered",
        f"<= {params.sl_seconds:g}s",
        "abandoned",
        "short",
        "SL",
        "ASA",
        "AHT",
        "talk",
        "hold",
        "wrap-up",
        "aband. rate",
        "FCR",
        "callbacks",
        "voicemails",
        "transfers",
        "holds",
    )
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, justify="left" if i < 2 else "right")
    for r in rows:
        table.add_row(
            escape(r.group),
            _when(r.interval_start, params.interval),
            str(r.offered),
            str(r.answered),
            str(r.answered_within_t),
            str(r.abandoned),
            str(r.short_abandons),
            _percent(r.service_level),
            _secs(r.asa),
            _secs(r.aht),
            _secs(r.avg_talk),
            _secs(r.avg_hold),
            _secs(r.avg_wrap_up),
            _percent(r.abandonment_rate),
            _percent(r.fcr),
            str(r.callbacks),
            str(r.voicemails),
            str(r.transfers),
            str(r.holds),
        )
    return table


# --- shared options -----------------------------------------------------------------------

FROM = typer.Option(None, "--from", help="Start (ISO date or time; default: today).")
TO = typer.Option(None, "--to", help="End, excluded (a date alone: that day included).")
INTERVAL = typer.Option("day", "--interval", help="15m, 30m, 60m or day.")
TZ = typer.Option(
    None,
    "--tz",
    help="IANA time zone of the intervals and dates (default: the center's, "
    "SWITCHBOARD_TIMEZONE, else UTC).",
)
SL = typer.Option(20.0, "--sl", help="Service-level threshold T, seconds.")
SL_VARIANT = typer.Option(
    "answered",
    "--sl-variant",
    help="answered | offered | short_abandons_excluded | short_abandons_count_for.",
)
SHORT = typer.Option(5.0, "--short-abandon", help="Abandons shorter than this are short (s).")
FCR = typer.Option("7d", "--fcr-window", help="Repeat-call window for FCR: 24h, 72h, 7d...")
FORMAT = typer.Option("table", "--format", help="table, csv or json.")
FILL = typer.Option(
    True, "--fill/--no-fill", help="Show intervals without calls (for groups with calls)."
)


@report_app.command("queues")
def queues(
    start: str | None = FROM,
    end: str | None = TO,
    interval: str = INTERVAL,
    tz: str | None = TZ,
    sl: float = SL,
    sl_variant: str = SL_VARIANT,
    short_abandon: float = SHORT,
    fcr_window: str = FCR,
    queue: str | None = typer.Option(None, "--queue", help="Only this queue."),
    fmt: str = FORMAT,
    fill: bool = FILL,
) -> None:
    """Per queue and interval: offered, answered, SL, ASA, AHT, abandonment, FCR..."""
    from db.metrics_query import queue_metrics

    lo, hi, params, fmt = _prepare(
        start, end, interval, tz, sl, sl_variant, short_abandon, fcr_window, fmt
    )
    with database() as engine:
        rows = queue_metrics(engine, lo, hi, params, queue=queue, fill=fill)
    _emit(
        fmt,
        METRIC_FIELDS,
        rows,
        lambda: _metric_table("queue", rows, params),
        f"no calls in queues from {lo.isoformat()} to {hi.isoformat()}",
    )


@report_app.command("agents")
def agents(
    start: str | None = FROM,
    end: str | None = TO,
    interval: str = INTERVAL,
    tz: str | None = TZ,
    sl: float = SL,
    sl_variant: str = SL_VARIANT,
    short_abandon: float = SHORT,
    fcr_window: str = FCR,
    agent: str | None = typer.Option(None, "--agent", help="Only this agent."),
    fmt: str = FORMAT,
    fill: bool = FILL,
    time_: bool = typer.Option(
        False,
        "--time",
        help="Agent time instead, from their states: logged in, paused (by reason), "
        "available, ringing, talk, hold, wrap-up, occupancy, utilisation, calls per hour.",
    ),
) -> None:
    """Per agent (who took the call) and interval: handled calls, AHT, talk, hold, FCR...;
    with --time, where the agents' time went and their occupancy."""
    from db.agent_time_query import agent_time
    from db.metrics_query import agent_metrics

    lo, hi, params, fmt = _prepare(
        start, end, interval, tz, sl, sl_variant, short_abandon, fcr_window, fmt
    )
    if time_:
        with database() as engine:
            times = agent_time(engine, lo, hi, params, agent=agent)
        _emit(
            fmt,
            AGENT_TIME_FIELDS,
            times,
            lambda: _agent_time_table(times, params),
            f"no agent logged in from {lo.isoformat()} to {hi.isoformat()}",
        )
        return
    with database() as engine:
        rows = agent_metrics(engine, lo, hi, params, agent=agent, fill=fill)
    _emit(
        fmt,
        METRIC_FIELDS,
        rows,
        lambda: _metric_table("agent", rows, params),
        f"no calls taken by agents from {lo.isoformat()} to {hi.isoformat()}",
    )


def _agent_time_table(rows: Sequence[AgentTimeRow], params: MetricParams) -> Table:
    table = Table(
        title=escape(f"agent time, {params.interval.value} intervals ({params.tz})"),
        title_justify="left",
    )
    headers = (
        "agent",
        "interval",
        "logged in",
        "paused",
        "available",
        "ringing",
        "talk",
        "hold",
        "wrap-up",
        "handle",
        "calls",
        "occupancy",
        "utilisation",
        "calls/h",
        "pause reasons",
    )
    for i, header in enumerate(headers):
        left = i < 2 or i == len(headers) - 1
        table.add_column(header, no_wrap=True, justify="left" if left else "right")
    for r in rows:
        reasons = ", ".join(f"{why} {_hms(s)}" for why, s in r.paused_by_reason.items())
        table.add_row(
            escape(r.group),
            _when(r.interval_start, params.interval),
            _hms(r.logged_in_seconds),
            _hms(r.paused_seconds),
            _hms(r.available_seconds),
            _hms(r.ringing_seconds),
            _hms(r.talk_seconds),
            _hms(r.hold_seconds),
            _hms(r.wrap_up_seconds),
            _hms(r.handle_seconds),
            str(r.calls),
            _percent(r.occupancy),
            _percent(r.utilisation),
            _rate(r.calls_per_hour),
            escape(reasons),
        )
    return table


def _campaign_table(rows: Sequence[CampaignRow], params: MetricParams) -> Table:
    table = Table(
        title=escape(f"campaign metrics, {params.interval.value} intervals ({params.tz})"),
        title_justify="left",
    )
    headers = (
        "campaign",
        "interval",
        "dials",
        "live",
        "dropped",
        "connects",
        "contacts",
        "abandonment",
        "AHT",
        "dials/h",
        "connects/h",
    )
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, justify="left" if i < 2 else "right")
    for r in rows:
        table.add_row(
            escape(r.group),
            _when(r.interval_start, params.interval),
            str(r.dials),
            str(r.live),
            str(r.dropped),
            str(r.connects),
            str(r.contacts),
            _percent(r.abandonment_rate),
            _secs(r.aht),
            _rate(r.dials_per_hour),
            _rate(r.connects_per_hour),
        )
    return table


@report_app.command("campaigns")
def campaigns(
    start: str | None = FROM,
    end: str | None = TO,
    interval: str = INTERVAL,
    tz: str | None = TZ,
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign."),
    fmt: str = FORMAT,
) -> None:
    """Per campaign and interval: dials, live answers, drops (abandonment), contacts, AHT."""
    from db.metrics_query import campaign_metrics

    lo, hi, params, fmt = _prepare(start, end, interval, tz, 20, "answered", 5, "7d", fmt)
    with database() as engine:
        rows = campaign_metrics(engine, lo, hi, params, campaign=campaign)
    _emit(
        fmt,
        CAMPAIGN_FIELDS,
        rows,
        lambda: _campaign_table(rows, params),
        f"no campaign calls from {lo.isoformat()} to {hi.isoformat()}",
    )


def _survey_table(rows: Sequence[SurveyRow], by: str, params: MetricParams) -> Table:
    table = Table(
        title=escape(f"post-call surveys, {params.interval.value} intervals ({params.tz})"),
        title_justify="left",
    )
    headers = (by, "interval", "surveys", "rated", "4-5", "CSAT", "answered", "resolved", "FCR")
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, justify="left" if i < 2 else "right")
    for r in rows:
        table.add_row(
            escape(r.group),
            _when(r.interval_start, params.interval),
            str(r.surveys),
            str(r.rated),
            str(r.satisfied),
            _percent(r.csat),
            str(r.resolved_answers),
            str(r.resolved),
            _percent(r.fcr),
        )
    return table


@report_app.command("survey")
def survey(
    start: str | None = FROM,
    end: str | None = TO,
    interval: str = INTERVAL,
    tz: str | None = TZ,
    by: str = typer.Option("queue", "--by", help="queue or agent."),
    queue: str | None = typer.Option(None, "--queue", help="Only this queue (--by queue)."),
    agent: str | None = typer.Option(None, "--agent", help="Only this agent (--by agent)."),
    fmt: str = FORMAT,
) -> None:
    """CSAT (ratings 4-5 of 5) and survey FCR from post-call surveys."""
    from db.metrics_query import Grouping, survey_metrics

    grouping = by.strip().lower()
    if grouping not in ("queue", "agent"):
        raise fail(f"--by {by!r}: queue or agent", 2)
    lo, hi, params, fmt = _prepare(start, end, interval, tz, 20, "answered", 5, "7d", fmt)
    with database() as engine:
        rows = survey_metrics(
            engine,
            Grouping(grouping),
            lo,
            hi,
            params,
            group=queue if grouping == "queue" else agent,
        )
    if rows is None:
        raise fail("no post-call surveys yet: the table call_surveys does not exist")
    _emit(
        fmt,
        SURVEY_FIELDS,
        rows,
        lambda: _survey_table(rows, grouping, params),
        f"no survey answers from {lo.isoformat()} to {hi.isoformat()}",
    )


@report_app.command("chart")
def chart(
    queue: str = typer.Option(..., "--queue", help="The queue to draw."),
    out: Path = typer.Option(..., "--out", help="The PNG file to write."),
    start: str | None = FROM,
    end: str | None = TO,
    interval: str = typer.Option("30m", "--interval", help="15m, 30m, 60m or day."),
    tz: str | None = TZ,
    sl: float = SL,
    sl_variant: str = SL_VARIANT,
    short_abandon: float = SHORT,
    target: float | None = typer.Option(None, "--target", help="SL target line, % (80)."),
    width: int = typer.Option(1200, "--width", min=200, max=8000, help="Pixels."),
    height: int = typer.Option(600, "--height", min=150, max=8000, help="Pixels."),
) -> None:
    """Service level (line, %) and volume (offered, answered, abandoned) per interval, PNG."""
    from callcenter.reports.charts import draw_service_level_chart
    from db.metrics_query import queue_metrics

    lo, hi, params, _ = _prepare(
        start, end, interval, tz, sl, sl_variant, short_abandon, "7d", "table"
    )
    with database() as engine:
        rows = queue_metrics(engine, lo, hi, params, queue=queue, fill=True)
    if not rows:
        raise fail(f"no calls in queue {queue} from {lo.isoformat()} to {hi.isoformat()}")
    try:
        draw_service_level_chart(
            rows,
            out,
            title=f"{queue}: service level ({params.sl_variant.value}, T={sl:g}s) and volume",
            interval=params.interval,
            sl_target=None if target is None else target / 100,
            width_px=width,
            height_px=height,
        )
    except ImportError:
        raise fail("charts need matplotlib: pip install 'matplotlib>=3.8'") from None
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    console.print(f"wrote {escape(str(out))} ({len(rows)} intervals)")
