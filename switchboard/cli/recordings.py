"""`switchboard recordings ...`: find, fetch and purge recorded calls and voicemail messages
(docs/recordings.md)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from switchboard.cli.calls import parse_duration, parse_when
from switchboard.cli.common import database, fail, load_settings, visible

recordings_app = typer.Typer(
    no_args_is_help=True, help="Recordings: calls and voicemail messages; list, get, purge."
)

console = Console()
errors = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _seconds(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else ""


@recordings_app.command("list")
def recordings_list(
    queue: str | None = typer.Option(None, help="Only this queue's."),
    kind: str | None = typer.Option(None, help="call or voicemail."),
    call: str | None = typer.Option(None, help="Only this call's (its id)."),
    since: str | None = typer.Option(None, help="From: ISO time, or 24h/7d ago."),
    until: str | None = typer.Option(None, help="Before: ISO time, or 24h/7d ago."),
    limit: int = typer.Option(50, min=1, max=100000, help="How many, newest first."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Recordings, newest first, with their gaps (where they were paused)."""
    import uuid

    from db.recording_store import list_recordings

    if output_format not in ("table", "json"):
        raise fail("--format: table or json", 2)
    now = datetime.now().astimezone()
    try:
        start = parse_when(since, now, "--since") if since else None
        end = parse_when(until, now, "--until") if until else None
        call_id = uuid.UUID(call) if call else None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with database() as engine, engine.connect() as conn:
        rows = list_recordings(
            conn, queue=queue, kind=kind, call_id=call_id, since=start, until=end, limit=limit
        )
    if output_format == "json":
        json.dump(rows, sys.stdout, default=str, indent=1)
        sys.stdout.write("\n")
        return
    table = Table("id", "kind", "started", "queue", "agent", "caller", "seconds", "paused", "call")
    for row in rows:
        paused = ""
        if row["gaps"]:
            paused = f"{len(row['gaps'])} gap(s), {row['paused_seconds']:.1f} s"
        table.add_row(
            str(row["id"]),
            row["kind"] + (f" ({row['callback_status']})" if row["callback_status"] else ""),
            _when(row["started_at"]),
            row["queue"] or "",
            row["agent"] or "",
            escape(visible(row["caller_number"] or "")),
            _seconds(row["duration_seconds"]),
            paused,
            str(row["call_id"] or ""),
        )
    console.print(table)


@recordings_app.command("get")
def recordings_get(
    key: str = typer.Argument(..., help="The recording's id or name, or its call's id."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write it (default: NAME.wav here)."
    ),
) -> None:
    """Fetch a recording's file (through the running app, from its Asterisk)."""
    from db.recording_store import find_recording
    from switchboard.api_client import ApiError, fetch_bytes

    with database() as engine, engine.connect() as conn:
        row = find_recording(conn, key)
    settings = load_settings()
    try:
        data = fetch_bytes(settings, f"/api/recordings/{row['id']}/file")
    except ApiError as exc:
        raise fail(str(exc)) from None
    target = output or Path(f"{row['name']}.{row['format']}")
    target.write_bytes(data)
    details: list[str] = [f"{len(data)} bytes"]
    if row["duration_seconds"] is not None:
        details.append(f"{row['duration_seconds']:.1f} s")
    for gap in row["gaps"]:
        details.append(f"paused {gap['seconds'] or 0:.1f} s at {gap['offset']:.1f} s")
    console.print(f"{escape(str(target))}: {', '.join(details)}", soft_wrap=True)


@recordings_app.command("purge")
def recordings_purge(
    keys: list[str] = typer.Argument(None, help="Recordings (id or name, or a call's id)."),
    older_than: str | None = typer.Option(
        None, "--older-than", help="Every recording made this long ago: 90d."
    ),
    wait: float = typer.Option(
        0, help="Seconds to wait for the app(s) to delete the files (0: do not wait)."
    ),
) -> None:
    """Delete recordings: their files (by the app of the node that holds them) and rows."""
    from db.recording_store import find_recording, request_purge, waiting_purge

    if not keys and older_than is None:
        raise fail("name recordings, or give --older-than", 2)
    age = None
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise fail(f"--older-than: {exc}", 2) from None
    with database() as engine:
        with engine.begin() as conn:
            ids = [find_recording(conn, key)["id"] for key in keys or []]
            marked = request_purge(conn, older_than=age, recording_ids=ids or None)
        console.print(f"{marked} recording(s) to delete")
        deadline = time.monotonic() + wait
        left: list[dict[str, Any]] = []
        while True:
            with engine.connect() as conn:
                left = waiting_purge(conn)
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    if left:
        nodes = ", ".join(f"{r['count']} on {r['node_id']}" for r in left)
        console.print(f"files still to be deleted by their node's app: {escape(nodes)}")
    elif marked:
        console.print("files and rows deleted")
