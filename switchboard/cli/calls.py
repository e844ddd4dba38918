"""`switchboard calls ...` (find, show, export and purge call records) and
`switchboard export queue-log` (our events as Asterisk's queue_log)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from switchboard.cli.common import database, fail, load_settings, visible

if TYPE_CHECKING:
    from db.call_query import CallFilter

calls_app = typer.Typer(no_args_is_help=True, help="Call records: find, show, export, purge.")
export_app = typer.Typer(no_args_is_help=True, help="Export records for other tools.")


# Names and numbers come from callers: never read as emoji codes, never highlighted. Wide
# enough for a call list when the output is not a terminal (unless COLUMNS says otherwise).
console = Console(
    width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160,
    emoji=False,
    highlight=False,
)
errors = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)


# --- parsing operators' input --------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value: str) -> timedelta:
    """``90d``, ``24h``, ``30m``, ``1h30m``, ``2w``: a length of time (ValueError if not)."""
    compact = value.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or _DURATION.sub("", compact).strip():
        raise ValueError(
            f"{value!r} is not a duration: write e.g. 30m, 24h, 7d or 2w (s, m, h, d, w)"
        )
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def parse_when(value: str, now: datetime, option: str) -> datetime:
    """An ISO date or time (local time unless it names its zone), or a time ago such as
    ``24h`` or ``7d`` (that long before now)."""
    text = value.strip()
    if _DURATION.match(text.lower()):
        try:
            return now - parse_duration(text)
        except ValueError:
            pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option} {value!r}: give an ISO date or time (2024-05-01, "
            "2024-05-01T08:00, 2024-05-01T08:00+02:00) or a time ago (30m, 24h, 7d)"
        ) from None
    return when if when.tzinfo is not None else when.astimezone()


def _now() -> datetime:
    return datetime.now(UTC)


def _filter(
    since: str | None,
    until: str | None,
    queue: str | None,
    agent: str | None,
    campaign: str | None,
    code: str | None,
    number: str | None,
    direction: str | None,
    limit: int | None,
) -> CallFilter:
    from db.call_query import CallFilter, CallQueryError

    now = _now()
    try:
        f = CallFilter(
            since=parse_when(since, now, "--since") if since else None,
            until=parse_when(until, now, "--until") if until else None,
            queue=queue,
            agent=agent,
            campaign=campaign,
            code=code,
            number=number,
            direction=direction.lower() if direction else None,
            limit=limit,
        )
        f.check()
    except (ValueError, CallQueryError) as exc:
        raise fail(str(exc), 2) from None
    return f


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    chosen = value.strip().lower()
    if chosen not in allowed:
        raise fail(f"{option} {value!r}: one of {', '.join(allowed)}", 2)
    return chosen


# --- output --------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as JSON has it: times in ISO 8601 (UTC), ids as text."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# A spreadsheet takes a cell that begins with one of these for a formula (=HYPERLINK(...),
# +cmd|...); CSV output puts an apostrophe before such a text cell so that it stays text
# (OWASP's advice on CSV injection). A plain E.164 number (+ and digits only) is left as
# it is: a spreadsheet can only read it as a number, and scripts re-import exports.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"\+[0-9]{1,15}")


def _csv_value(value: Any, terminal: bool = False) -> Any:
    """A value as a CSV cell: text exactly as stored, except a leading apostrophe before
    text a spreadsheet would run as a formula, and, when the CSV goes to a terminal, control
    characters written as escapes (``\\x1b``) as in tables."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        return value
    if terminal:
        value = visible(value)
    if PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _write_csv(
    out: IO[str],
    columns: tuple[str, ...],
    rows: Iterable[Mapping[str, Any]],
    terminal: bool = False,
) -> int:
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_csv_value(row.get(c), terminal) for c in columns])
        count += 1
    return count


def _write_json(out: IO[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """A JSON array, one call per line, written as the rows arrive."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(plain(row), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """The file to write (UTF-8, newlines as written), or standard output."""
    if path is None:
        stdout = sys.stdout
        if isinstance(stdout, io.TextIOWrapper):
            stdout.reconfigure(encoding="utf-8", newline="")
        yield stdout
        stdout.flush()
        return
    try:
        handle = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    with handle:
        yield handle


def _cell(value: Any) -> str:
    """A value as a table cell: markup and control characters made harmless."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict | list):
        value = json.dumps(plain(value), ensure_ascii=False)
    return escape(visible(value))


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}s"


def _caller(row: Mapping[str, Any]) -> str:
    number = _cell(row.get("caller_number"))
    name = _cell(row.get("caller_name"))
    return f"{name} <{number}>" if name else number


def _calls_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} call(s)", title_justify="left")
    table.add_column("call", no_wrap=True)
    table.add_column("arrived", no_wrap=True)
    for name in ("dir", "caller", "dialed", "queue", "agent"):
        table.add_column(name, overflow="fold")
    for name in ("wait", "talk", "total"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("outcome", overflow="fold")
    table.add_column("codes", overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"])[:8],
            _cell(row["arrived_at"]),
            _cell(row["direction"]),
            _caller(row),
            _cell(row["dialed_number"]),
            _cell(row["queue"]),
            _cell(row["agent"]),
            _seconds(row["wait_seconds"]),
            _seconds(row["talk_seconds"]),
            _seconds(row["total_seconds"]),
            _cell(row["outcome"] or row["queue_exit"]),
            _cell(row["codes"]),
        )
    return table


# --- commands ------------------------------------------------------------------------------

SinceOpt = typer.Option(None, "--since", help="Arrived at or after: ISO time, or 24h/7d/30m ago.")
UntilOpt = typer.Option(None, "--until", help="Arrived before: ISO time, or 24h/7d/30m ago.")
QueueOpt = typer.Option(None, "--queue", help="Waited in this queue.")
AgentOpt = typer.Option(None, "--agent", help="Answered (or taken over) by this agent.")
CampaignOpt = typer.Option(None, "--campaign", help="Placed for this campaign.")
CodeOpt = typer.Option(None, "--code", help="Has this disposition code.")
NumberOpt = typer.Option(
    None, "--number", help="Caller or dialed number: exact, or ending with these digits."
)
DirectionOpt = typer.Option(None, "--direction", help="inbound, outbound or internal.")


@calls_app.command("list")
def calls_list(
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    queue: str | None = QueueOpt,
    agent: str | None = AgentOpt,
    campaign: str | None = CampaignOpt,
    code: str | None = CodeOpt,
    number: str | None = NumberOpt,
    direction: str | None = DirectionOpt,
    limit: int = typer.Option(50, "--limit", help="At most this many calls (latest first)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """The latest calls, with their durations and codes."""
    from db.call_query import LIST_COLUMNS, list_calls

    chosen = _choice(fmt, ("table", "csv", "json"), "--format")
    f = _filter(since, until, queue, agent, campaign, code, number, direction, limit)
    with database() as engine, engine.connect() as conn:
        rows = list_calls(conn, f)
    if chosen == "table":
        console.print(_calls_table(rows))
        if len(rows) == limit:
            console.print(f"the latest {limit} only: --limit for more, or `calls export`")
        return
    with _output(None) as out:
        if chosen == "csv":
            _write_csv(out, LIST_COLUMNS, rows, terminal=out.isatty())
        else:
            _write_json(out, rows)


@calls_app.command("show")
def calls_show(
    call_id: str = typer.Argument(..., help="The call's id, or its first characters."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """One call: its record, legs, events and dispositions."""
    from db.call_query import call_detail

    chosen = _choice(fmt, ("table", "json"), "--format")
    with database() as engine, engine.connect() as conn:
        detail = call_detail(conn, call_id)
    if chosen == "json":
        with _output(None) as out:
            out.write(json.dumps(plain(detail), ensure_ascii=False, indent=2) + "\n")
        return
    call = detail["call"]
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    for key, value in call.items():
        if value is not None:
            fields.add_row(key, _cell(value))
    parts: list[Any] = [Panel(fields, title=f"call {call['id']}", title_align="left")]

    legs = Table("channel", "name", "role", "created", "answered", "ended", "cause")
    for leg in detail["legs"]:
        legs.add_row(
            _cell(leg["channel_id"]),
            _cell(leg["channel_name"]),
            _cell(leg["role"]),
            _cell(leg["created_at"]),
            _cell(leg["answered_at"]),
            _cell(leg["ended_at"]),
            _cell(leg["hangup_cause_text"] or leg["hangup_cause"]),
        )
    parts.append(Panel(legs, title=f"{len(detail['legs'])} leg(s)", title_align="left"))

    events = Table("time", "event", "channel", "data")
    events.columns[3].overflow = "fold"
    for event in detail["events"]:
        events.add_row(
            _cell(event["occurred_at"]),
            _cell(event["type"]),
            _cell(event["channel_id"]),
            _cell(event["data"] or ""),
        )
    parts.append(Panel(events, title=f"{len(detail['events'])} event(s)", title_align="left"))

    codes = Table("set at", "code", "label", "set by", "note", "callback at")
    for d in detail["dispositions"]:
        codes.add_row(
            _cell(d["set_at"]),
            _cell(f"{d['code_set']}/{d['code']}"),
            _cell(d["label"]),
            _cell(d["set_by"]),
            _cell(d["note"]),
            _cell(d["callback_at"]),
        )
    title = f"{len(detail['dispositions'])} disposition(s)"
    parts.append(Panel(codes, title=title, title_align="left"))
    console.print(Group(*parts))


@calls_app.command("export")
def calls_export(
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    queue: str | None = QueueOpt,
    agent: str | None = AgentOpt,
    campaign: str | None = CampaignOpt,
    code: str | None = CodeOpt,
    number: str | None = NumberOpt,
    direction: str | None = DirectionOpt,
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
) -> None:
    """Every matching call (latest first) as CSV with a header row, or a JSON array.

    JSON keeps every value exactly. In CSV, text that a spreadsheet would take for a formula
    (starting with = + - or @, plain E.164 numbers excepted) gets a leading apostrophe, and on a
    terminal control characters are shown as escapes."""
    from db.call_query import LIST_COLUMNS, iter_calls

    chosen = _choice(fmt, ("csv", "json"), "--format")
    f = _filter(since, until, queue, agent, campaign, code, number, direction, None)
    with database() as engine, engine.connect() as conn, _output(output) as out:
        rows = iter_calls(conn, f)
        if chosen == "csv":
            count = _write_csv(out, LIST_COLUMNS, rows, terminal=out.isatty())
        else:
            count = _write_json(out, rows)
    if output is not None:
        errors.print(f"{count} call(s) written to {escape(str(output))}")


@calls_app.command("purge")
def calls_purge(
    older_than: str | None = typer.Option(
        None, "--older-than", help="Calls that ended this long ago: 90d."
    ),
    number: str | None = typer.Option(
        None, "--number", help="A caller's calls, from or to this number (an erasure request)."
    ),
    anonymize: bool = typer.Option(
        False, "--anonymize", help="Keep the calls, without numbers, names and keyed digits."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete (or anonymize) calls that ended before a given age, or a caller's calls, with
    everything else that holds their personal data (recordings, callback numbers, notes,
    expired do-not-call entries, leads' personal fields); live calls stay."""
    from db.call_query import purge, purge_candidates

    age = None
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise fail(f"--older-than: {exc}", 2) from None
        if age <= timedelta(0):
            raise fail("--older-than: must be more than zero", 2)
    if age is None and number is None:
        raise fail("say which calls: --older-than 90d, --number NUMBER, or both", 2)
    region = load_settings().default_region
    now = _now()
    which = []
    if age is not None:
        which.append(
            "that ended before " + (now - age).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        )
    if number is not None:
        which.append(f"from or to {number}")
    chosen = " and ".join(which)
    action = "anonymize" if anonymize else "delete"
    with database() as engine:
        if not yes:
            with engine.connect() as conn:
                candidates = purge_candidates(conn, age, now, number, region)
            if candidates == 0 and number is None:
                console.print(f"no calls {chosen}: nothing to {action}")
                return
            try:
                confirmed = typer.confirm(
                    f"{action.capitalize()} {candidates} call(s) {chosen}, and the personal "
                    "data tied to them?"
                )
            except typer.Abort:
                confirmed = False
            if not confirmed:
                raise fail(f"nothing done (confirm, or pass --yes to {action} without asking)")
        with engine.begin() as conn:
            counts = purge(conn, age, anonymize, now, number, region)
    if anonymize:
        console.print(
            f"anonymized {counts.calls} call(s) {chosen} "
            f"({counts.legs} leg(s), {counts.events} event(s) scrubbed)"
        )
    else:
        console.print(
            f"deleted {counts.calls} call(s) {chosen} "
            f"({counts.legs} leg(s), {counts.events} event(s), "
            f"{counts.dispositions} disposition(s))"
        )
    p = counts.personal
    console.print(
        f"and: {p.recordings} recording(s) to delete (files by their node's app), "
        f"{p.callbacks} callback request(s) {'blanked' if anonymize else 'deleted'}, "
        f"{p.notes} note(s) blanked, {p.dnc_deleted} expired do-not-call entr(ies) deleted, "
        f"{p.leads} lead(s) blanked, {p.webhook_events} webhook event(s) deleted"
    )
    if p.dnc_kept:
        console.print(
            f"kept {p.dnc_kept} do-not-call entr(ies) still in force: the law requires "
            "honouring them until they expire"
        )


@export_app.command("queue-log")
def export_queue_log(
    since: str | None = typer.Option(None, "--since", help="From: ISO time, or 24h/7d ago."),
    until: str | None = typer.Option(None, "--until", help="Before: ISO time, or 24h/7d ago."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
) -> None:
    """Queue and agent events as Asterisk queue_log lines, for reporting tools."""
    from db.call_query import queue_log_lines

    now = _now()
    try:
        start = parse_when(since, now, "--since") if since else None
        end = parse_when(until, now, "--until") if until else None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if start is not None and end is not None and start >= end:
        raise fail("--since must be before --until", 2)
    count = 0
    with database() as engine, engine.connect() as conn, _output(output) as out:
        for line in queue_log_lines(conn, start, end):
            out.write(line + "\n")
            count += 1
    if output is not None:
        errors.print(f"{count} line(s) written to {escape(str(output))}")
