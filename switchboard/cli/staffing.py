"""`switchboard staffing`: agents needed for a call volume and a service-level target (Erlang C,
or Erlang A when callers' patience is given). The math is in switchboard.reports.erlang."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from switchboard.reports.erlang import (
    StaffingError,
    StaffingResult,
    agents_needed,
    evaluate,
    parse_interval,
    parse_target,
    traffic_erlangs,
)

console = Console(width=None if sys.stdout.isatty() else 140)
errors = Console(stderr=True, soft_wrap=True)

# Rows shown around the recommended N: N-2 .. N+3.
BELOW, ABOVE = 2, 3


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


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
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Agents needed to answer a call volume within a service-level target (Erlang C or A)."""
    try:
        seconds = parse_interval(interval)
        share, within = parse_target(target)
        traffic = traffic_erlangs(calls, seconds, aht)
        best = agents_needed(traffic, aht, share, within, shrinkage=shrinkage, patience=patience)
        rows = [
            evaluate(n, traffic, aht, within, shrinkage=shrinkage, patience=patience)
            for n in range(max(0, best.agents - BELOW), best.agents + ABOVE + 1)
        ]
    except StaffingError as exc:
        raise _fail(str(exc)) from None

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
            "recommended": best.as_dict(),
            "rows": [row.as_dict() for row in rows],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_table(
        best, rows, model, calls, interval, aht, share, within, shrinkage, patience, traffic
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
) -> None:
    erlang_a = model == "erlang_a"
    name = f"Erlang A (patience {patience:g} s)" if erlang_a else "Erlang C"
    console.print(
        f"{calls:g} calls per {escape(interval.strip())}, AHT {aht:g} s: "
        f"{traffic:.2f} Erlangs; target {share * 100:g}% within {within:g} s; {name}",
        highlight=False,
    )
    columns = ["", "agents", f"SL {within:g} s", "ASA", "occupancy", "P(wait)"]
    if erlang_a:
        columns.append("abandoned")
    columns.append("scheduled")
    table = Table(*columns, caption=f"scheduled: with {shrinkage * 100:g}% shrinkage")
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
