"""`switchboard dispositions ...` (outcome codes and their actions) and `switchboard dnc ...`
(the internal do-not-call lists)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcenter.config import Settings
from switchboard.cli.common import database, fail

dispositions_app = typer.Typer(
    no_args_is_help=True, help="Outcome codes: sets, codes, flags and actions."
)
dnc_app = typer.Typer(no_args_is_help=True, help="Do-not-call lists (internal, with expiry).")

console = Console()
errors = Console(stderr=True, soft_wrap=True)
FLAGS = ("human_answered", "contact", "success", "final", "callback", "dnc")


def _actions(texts: list[str]) -> list[dict[str, Any]]:
    from callcenter.calls.dispositions import DispositionError, parse_action_text

    try:
        return [parse_action_text(t).model_dump() for t in texts]
    except DispositionError as exc:
        raise fail(str(exc), 2) from None


def _describe(actions: list[dict[str, Any]]) -> str:
    parts = []
    for action in actions:
        kind = action.get("do")
        if kind == "dnc":
            days = action.get("days")
            parts.append(f"dnc {'for good' if days is None else f'{days} d'}")
        elif kind in ("callback", "retry"):
            parts.append(f"{kind} in {action.get('in_minutes')} min")
        else:
            parts.append(str(kind))
    return ", ".join(parts)


# --- sets ---------------------------------------------------------------------------------


@dispositions_app.command("sets")
def sets() -> None:
    """The disposition sets, their codes and the queues that use them."""
    from db.disposition_admin import list_sets

    with database() as engine:
        rows = list_sets(engine)
    table = Table("set", "codes", "queues", "description")
    for row in rows:
        table.add_row(
            row["name"],
            str(row["codes"] or 0),
            escape(row["queues"] or ""),
            escape(row["description"] or ""),
        )
    console.print(table)


@dispositions_app.command("add-set")
def add_set(name: str, description: str | None = typer.Option(None)) -> None:
    """Create a set of codes for agents (give it to queues with `queues set --dispositions`)."""
    from db.disposition_admin import add_set as add

    with database() as engine:
        add(engine, name, description)
    console.print(f"set {name} created")


@dispositions_app.command("remove-set")
def remove_set(name: str) -> None:
    """Delete a set (and its codes) that no queue uses."""
    from db.disposition_admin import remove_set as remove

    with database() as engine:
        remove(engine, name)
    console.print(f"set {name} removed")


# --- codes --------------------------------------------------------------------------------


@dispositions_app.command("list")
def list_codes(code_set: str | None = typer.Argument(None, help="Only this set.")) -> None:
    """The codes with their keys, flags and actions."""
    from db.disposition_admin import list_codes as codes

    with database() as engine:
        rows = codes(engine, code_set)
    table = Table("set", "code", "label", "keys", "flags", "actions", "active")
    for row in rows:
        table.add_row(
            row["code_set"],
            row["code"],
            escape(row["label"]),
            row["digits"] or "",
            " ".join(f for f in FLAGS if row[f]),
            _describe(row["actions"]),
            "yes" if row["active"] else "no",
        )
    console.print(table)


FlagOpt = typer.Option(None)
ActionOpt = typer.Option(
    None,
    "--action",
    help="dnc[:days] (no days: for good), callback[:minutes], retry:minutes, close_lead. "
    "Repeat for several.",
)


def _flag_values(**flags: bool | None) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None}


@dispositions_app.command("add")
def add_code(
    code_set: str,
    code: str,
    label: str,
    digits: str | None = typer.Option(None, help="Keys an agent dials (*55 then these, #)."),
    human_answered: bool | None = typer.Option(None, "--human-answered/--no-human-answered"),
    contact: bool | None = typer.Option(None, "--contact/--no-contact"),
    success: bool | None = typer.Option(None, "--success/--no-success"),
    final: bool | None = typer.Option(None, "--final/--not-final", help="Ends wrap-up."),
    callback: bool | None = typer.Option(None, "--callback/--no-callback"),
    dnc: bool | None = typer.Option(None, "--dnc/--no-dnc"),
    action: list[str] | None = ActionOpt,
) -> None:
    """Add a code to a set."""
    from db.disposition_admin import add_code as add

    values: dict[str, Any] = {"label": label, "digits": digits}
    values.update(
        _flag_values(
            human_answered=human_answered,
            contact=contact,
            success=success,
            final=final,
            callback=callback,
            dnc=dnc,
        )
    )
    values["actions"] = _actions(action or [])
    with database() as engine:
        add(engine, code_set, code, values)
    console.print(f"code {code} added to {code_set}")


@dispositions_app.command("set")
def change_code(
    code_set: str,
    code: str,
    label: str | None = typer.Option(None),
    digits: str | None = typer.Option(None),
    human_answered: bool | None = typer.Option(None, "--human-answered/--no-human-answered"),
    contact: bool | None = typer.Option(None, "--contact/--no-contact"),
    success: bool | None = typer.Option(None, "--success/--no-success"),
    final: bool | None = typer.Option(None, "--final/--not-final"),
    callback: bool | None = typer.Option(None, "--callback/--no-callback"),
    dnc: bool | None = typer.Option(None, "--dnc/--no-dnc"),
    action: list[str] | None = ActionOpt,
    no_actions: bool = typer.Option(False, "--no-actions", help="Remove every action."),
    active: bool | None = typer.Option(None, "--active/--inactive"),
) -> None:
    """Change a code (the actions given replace the old ones)."""
    from db.disposition_admin import change_code as change

    values: dict[str, Any] = {
        k: v
        for k, v in {"label": label, "digits": digits, "active": active}.items()
        if v is not None
    }
    values.update(
        _flag_values(
            human_answered=human_answered,
            contact=contact,
            success=success,
            final=final,
            callback=callback,
            dnc=dnc,
        )
    )
    if no_actions:
        values["actions"] = []
    elif action:
        values["actions"] = _actions(action)
    with database() as engine:
        change(engine, code_set, code, values)
    console.print(f"code {code} in {code_set} changed")


@dispositions_app.command("remove")
def remove_code(code_set: str, code: str) -> None:
    """Remove a code (one that calls carry is retired instead, for history)."""
    from db.disposition_admin import remove_code as remove

    with database() as engine:
        outcome = remove(engine, code_set, code)
    console.print(f"code {code} in {code_set} {outcome}")


@dispositions_app.command("code")
def code_call(
    call: str = typer.Argument(..., help="The call's id."),
    code: str = typer.Argument(..., help="A code of the call's set, or a system code."),
    by: str = typer.Option("cli", help="Who sets it (kept as operator:NAME)."),
    note: str | None = typer.Option(None),
    callback_at: datetime | None = typer.Option(None, help="When to call back (with zone)."),
) -> None:
    """Set a code on a call as an operator (a correction, or a call nobody coded)."""
    from callcenter.calls.dispositions import DispositionError
    from db.disposition_store import set_disposition
    from db.engine import async_engine

    settings = Settings()
    if callback_at is not None and callback_at.tzinfo is None:
        raise fail("--callback-at needs a time zone, e.g. 2026-11-23T10:00:00+01:00", 2)

    async def run() -> Any:
        engine = async_engine(settings.database_url)
        try:
            return await set_disposition(
                engine,
                code=code,
                call_id=call,
                operator=by,
                note=note,
                callback_at=callback_at,
                now=datetime.now(UTC),
                region=settings.default_region,
            )
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except DispositionError as exc:
        raise fail(str(exc)) from None
    actions = ", ".join(a.kind for a in result.actions) or "none"
    console.print(f"call {result.call_id} coded {result.code}; actions: {actions}")


# --- do-not-call ----------------------------------------------------------------------------


def _number(text: str) -> str:
    from callcenter.calls.numbers import normalize

    number = normalize(text, Settings().default_region)
    if number is None:
        raise fail(f"not a telephone number: {text!r}", 2)
    return number


@dnc_app.command("add")
def dnc_add(
    number: str,
    days: int | None = typer.Option(None, min=1, help="For this many days (default: for good)."),
    list_name: str = typer.Option("internal", "--list"),
    reason: str | None = typer.Option(None),
) -> None:
    """Put a number on a do-not-call list."""
    from db.disposition_admin import dnc_add as add

    normalized = _number(number)
    with database() as engine:
        entry = add(
            engine, normalized, list_name=list_name, days=days, reason=reason, now=datetime.now(UTC)
        )
    until = entry.expires_at.isoformat() if entry.expires_at else "for good"
    console.print(f"{normalized} on {list_name} until {until}")


@dnc_app.command("list")
def dnc_list(
    list_name: str | None = typer.Option(None, "--list"),
    expired: bool = typer.Option(False, "--expired", help="Include entries that expired."),
) -> None:
    """Numbers on the do-not-call lists."""
    from db.disposition_admin import dnc_list as entries

    with database() as engine:
        rows = entries(engine, list_name, expired, datetime.now(UTC))
    table = Table("list", "number", "added", "expires", "reason")
    for row in rows:
        table.add_row(
            row["list_name"],
            row["number"],
            row["added_at"].isoformat(timespec="seconds"),
            row["expires_at"].isoformat(timespec="seconds") if row["expires_at"] else "never",
            escape(row["reason"] or ""),
        )
    console.print(table)


@dnc_app.command("remove")
def dnc_remove(number: str, list_name: str = typer.Option("internal", "--list")) -> None:
    """Take a number off a list."""
    from db.disposition_admin import dnc_remove as remove

    normalized = _number(number)
    with database() as engine:
        remove(engine, normalized, list_name)
    console.print(f"{normalized} removed from {list_name}")


@dnc_app.command("check")
def dnc_check(
    number: str,
    at: datetime | None = typer.Option(None, help="At this time (with zone) instead of now."),
) -> None:
    """May this number be dialed? Exit status 0: yes, 1: a list forbids it."""
    from db.disposition_admin import dnc_blocking

    normalized = _number(number)
    when = at if at is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise fail("--at needs a time zone", 2)
    with database() as engine:
        rows = dnc_blocking(engine, normalized, when)
    if not rows:
        console.print(f"{normalized}: may be dialed")
        return
    for row in rows:
        until = row["expires_at"].isoformat(timespec="seconds") if row["expires_at"] else "never"
        console.print(f"{normalized}: on {row['list_name']} until {until}")
    raise typer.Exit(1)


@dnc_app.command("import")
def dnc_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    data_date: datetime = typer.Option(
        ..., "--date", formats=["%Y-%m-%d"], help="The date of the registry's data"
    ),
    list_name: str = typer.Option("national", "--list"),
    region: str = typer.Option("US", help="Region for numbers without a +"),
) -> None:
    """Load a national do-not-call list (one number per line), replacing its last copy.
    Campaigns that honour it refuse to dial once its data is older than 31 days."""
    from db.campaign_admin import CampaignError, import_national

    with file.open(encoding="utf-8", errors="replace") as handle, database() as engine:
        try:
            result = import_national(engine, list_name, handle, data_date.date(), region.upper())
        except CampaignError as exc:
            raise fail(str(exc)) from None
    console.print(
        f"list [bold]{escape(list_name)}[/]: {result.entries} numbers, data of {data_date.date()}"
    )
    for line, text in result.bad[:20]:
        errors.print(f"line {line}: not a phone number: {escape(text)}", highlight=False)
    if result.bad:
        errors.print(f"{len(result.bad)} lines skipped", highlight=False)
