"""`switchboard staffing`: agents needed for a call volume and a service-level target (Erlang C,
or Erlang A when callers' patience is given) under a cap on occupancy; `switchboard
staffing-plan`: the same per interval of a queue's measured day. The math is in
callcenter.reports.erlang."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcenter.reports.erlang import (
    DEFAULT_MAX_OCCUPANCY,
    StaffingError,
    StaffingResult,
    agents_needed,
    evaluate,
    parse_interval,
    parse_max_occupancy,
    parse_target,
    traffic_erlangs,
)
from switchboard.cli.common import fail

console = Console(width=None if sys.stdout.isatty() else 140)

# Rows shown around the recommended N: N-2 .. N+3.
BELOW, ABOVE = 2, 3

MAX_OCCUPANCY_HELP = (
    "Cap on occupancy (A/N; Erlang A: the carried load), as 0.85 or 85%: the recommendation "
    "is the smallest N meeting the target AND the cap. 1 (100%) is no cap."
)
CARRIED = " (Erlang A: on the carried load, abandoned calls take no agent time)"
DECIDED_BY = {"service_level": "service level", "occupancy": "occupancy cap"}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _seconds(value: float) -> str:
    return "n/a" if math.isinf(value) else f"{value:.1f} s"


def staffing(
    calls: float = typer.Option(..., "--calls", help="Calls offered per interval."),
    interval: str = typer.Option("30m", "--interval", help="The interval: 15m, 30m, 1h, 3600s."),
    aht: float = typer.Option(..., "--aht", help="Average handle time in seconds."),
    target: str = typer.Option(
        "80/20", "--target", help="Service level: percent answered / within seconds."
    ),
    shrinkage: float = typer.Option(
        0.0, "--shrinkage", help="Share of paid time off the phones (0.3 for 30%)."
    ),
    patience: float | None = typer.Option(
        None,
        "--patience",
        help="Callers' mean patience in seconds: Erlang A, which predicts abandonment "
        "(abandons count against the service level). Without it: Erlang C.",
    ),
    max_occupancy: str = typer.Option(
        f"{DEFAULT_MAX_OCCUPANCY:g}", "--max-occupancy", help=MAX_OCCUPANCY_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Agents needed to answer a call volume within a service-level target (Erlang C or A),
    with occupancy capped (default 85%)."""
    try:
        seconds = parse_interval(interval)
        share, within = parse_target(target)
        cap = parse_max_occupancy(max_occupancy)
        traffic = traffic_erlangs(calls, seconds, aht)
        best = agents_needed(
            traffic,
            aht,
            share,
            within,
            shrinkage=shrinkage,
            patience=patience,
            max_occupancy=cap,
        )
        rows = [
            evaluate(n, traffic, aht, within, shrinkage=shrinkage, patience=patience)
            for n in range(max(0, best.agents - BELOW), best.agents + ABOVE + 1)
        ]
    except StaffingError as exc:
        raise fail(str(exc), 2) from None

    model = "erlang_c" if best.abandonment is None else "erlang_a"
    if as_json:
        payload: dict[str, Any] = {
            "model": model,
            "calls": calls,
            "interval_seconds": seconds,
            "aht": aht,
            "traffic_erlangs": traffic,
            "target": {"service_level": share, "answer_within_seconds": within},
            "shrinkage": shrinkage,
            "patience": patience if best.abandonment is not None else None,
            "max_occupancy": cap,
            "decided_by": best.decided_by,
            "recommended": best.as_dict(),
            "rows": [row.as_dict() for row in rows],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_table(
        best, rows, model, calls, interval, aht, share, within, shrinkage, patience, traffic, cap
    )


def _print_table(
    best: StaffingResult,
    rows: list[StaffingResult],
    model: str,
    calls: float,
    interval: str,
    aht: float,
    share: float,
    within: float,
    shrinkage: float,
    patience: float | None,
    traffic: float,
    cap: float,
) -> None:
    erlang_a = model == "erlang_a"
    name = f"Erlang A (patience {patience:g} s)" if erlang_a else "Erlang C"
    console.print(
        f"{calls:g} calls per {escape(interval.strip())}, AHT {aht:g} s: "
        f"{traffic:.2f} Erlangs; target {share * 100:g}% within {within:g} s, "
        f"occupancy at most {cap * 100:g}%; {name}",
        highlight=False,
    )
    columns = ["", "agents", f"SL {within:g} s", "ASA", "occupancy", "P(wait)"]
    if erlang_a:
        columns.append("abandoned")
    columns.append("scheduled")
    decided = DECIDED_BY[best.decided_by or "service_level"]
    table = Table(
        *columns,
        caption=f"▶ recommended, decided by the {decided}; "
        f"scheduled: with {shrinkage * 100:g}% shrinkage",
    )
    for column in table.columns:
        column.justify = "right"
    for row in rows:
        recommended = row.agents == best.agents
        cells = [
            "▶" if recommended else "",
            str(row.agents),
            _percent(row.service_level),
            _seconds(row.asa),
            _percent(row.occupancy),
            _percent(row.probability_of_waiting),
        ]
        if erlang_a:
            cells.append(_percent(row.abandonment))
        cells.append(str(row.scheduled_agents))
        table.add_row(*cells, style="bold green" if recommended else None)
    console.print(table)
    console.print(
        f"recommended: [bold]{best.agents}[/] agents on the phones, "
        f"[bold]{best.scheduled_agents}[/] scheduled",
        highlight=False,
    )
    if erlang_a:  # the carried load: abandoned calls take no agent time
        load = f"carried load; offered {traffic:.2f} Erlangs / {best.agents} agents"
    else:
        load = f"{traffic:.2f} Erlangs / {best.agents} agents"
    busy = f"occupancy {_percent(best.occupancy)} ({load})"
    if best.decided_by == "occupancy":
        console.print(
            f"decided by the [bold]occupancy cap[/]: {busy}, at most {cap * 100:g}%\n"
            f"the service level alone needs {best.service_level_agents} agents",
            highlight=False,
        )
    else:
        console.print(
            f"decided by the [bold]service level[/]: {_percent(best.service_level)} within "
            f"{within:g} s\n{busy}, within the {cap * 100:g}% cap",
            highlight=False,
        )


def staffing_plan(
    queue: str = typer.Option(..., "--queue", help="The queue whose past calls are the basis."),
    since: str = typer.Option(..., "--from", help="First day of the history (YYYY-MM-DD)."),
    until: str | None = typer.Option(None, "--to", help="Last day (default: the first)."),
    interval: str = typer.Option("30m", "--interval", help="15m, 30m or 1h."),
    target: str = typer.Option("80/20", "--target", help="Percent answered / within seconds."),
    shrinkage: float = typer.Option(0.0, "--shrinkage", help="Share of paid time off phones."),
    patience: float | None = typer.Option(None, "--patience", help="Erlang A: mean patience."),
    max_occupancy: str = typer.Option(
        f"{DEFAULT_MAX_OCCUPANCY:g}", "--max-occupancy", help=MAX_OCCUPANCY_HELP
    ),
    tz: str | None = typer.Option(
        None,
        "--tz",
        help="Time zone of the intervals (IANA name); default: the center's "
        "(SWITCHBOARD_TIMEZONE).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Agents needed per interval of the day, from a queue's measured calls and handle time
    (the average day of the period), with Erlang C (or A with --patience), occupancy capped."""
    from datetime import date, datetime, time, timedelta
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from callcenter.config import Settings
    from callcenter.reports.erlang import plan_intervals
    from db.engine import sync_engine
    from db.staffing_history import interval_history

    try:
        if tz is None:
            tz = Settings().timezone
        zone = ZoneInfo(tz)
        first = date.fromisoformat(since)
        last = date.fromisoformat(until) if until else first
        seconds = parse_interval(interval)
        share, within = parse_target(target)
        cap = parse_max_occupancy(max_occupancy)
    except (ValueError, ZoneInfoNotFoundError, StaffingError) as exc:
        raise fail(str(exc), 2) from None
    if last < first:
        raise fail("--to is before --from", 2)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    engine = sync_engine(Settings().database_url)
    try:
        history = interval_history(engine, queue, start, end, int(seconds), tz)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()
    if not any(h.calls_per_day for h in history):
        console.print(f"no calls in queue {escape(queue)} from {first} to {last}: nothing to plan")
        if as_json:
            typer.echo("[]")
        return
    try:
        plans = plan_intervals(
            [(h.start, h.calls_per_day, h.aht) for h in history],
            interval_seconds=seconds,
            target=share,
            answer_within=within,
            shrinkage=shrinkage,
            patience=patience,
            max_occupancy=cap,
        )
    except StaffingError as exc:
        raise fail(str(exc), 1) from None
    rows = [
        {
            "start": plan.start,
            "calls": round(plan.calls, 2),
            "aht": round(plan.aht, 1) if plan.aht else None,
            **plan.result.as_dict(),
        }
        for plan in plans
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        "from", "calls", "AHT", "agents", "scheduled", f"SL {within:g} s", "occupancy",
        "decided by",
        caption=f"queue {queue}, {first} to {last} ({history[0].days} days), {tz}; "
        f"occupancy cap {cap * 100:g}%" + (CARRIED if patience is not None else ""),
    )  # fmt: skip
    for row, plan in zip(rows, plans, strict=True):
        if not plan.calls:
            continue
        table.add_row(
            str(row["start"]),
            f"{plan.calls:.1f}",
            f"{plan.aht:.0f} s" if plan.aht else "n/a",
            str(plan.result.agents),
            str(plan.result.scheduled_agents),
            _percent(plan.result.service_level),
            _percent(plan.result.occupancy),
            DECIDED_BY[plan.result.decided_by or "service_level"],
        )
    console.print(table)
