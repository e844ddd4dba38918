"""`switchboard campaign ...`: outbound campaigns from the terminal (docs/outbound.md)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from callcenter.config import Settings
from switchboard.cli.campaign_import import import_leads
from switchboard.cli.common import database, fail

campaign_app = typer.Typer(
    no_args_is_help=True,
    help="Outbound campaigns: create, import leads, start, pause, resume, stop, watch.",
)
campaign_app.command("import")(import_leads)

console = Console()


def _now() -> datetime:
    """The business clock (SWITCHBOARD_BUSINESS_CLOCK_START shifts it, as for the app)."""
    settings = Settings()
    start = settings.business_clock_start
    return start if start is not None else datetime.now(UTC)


def _values(
    *,
    queue: str | None,
    caller_id: str | None,
    caller_name: str | None,
    mode: str | None,
    region: str | None,
    abandon_limit: float | None,
    ring_seconds: int | None,
    amd: str | None,
    message: str | None,
    uk: bool | None,
    hours: list[str],
    holidays: list[str],
    max_calls_24h: int | None,
    max_calls_30d: int | None,
    max_attempts: int | None,
    retry: list[str],
    dispositions: str | None,
    national_dnc: str | None,
    description: str | None,
    seller: str | None = None,
    optout_key: str | None = None,
) -> dict[str, Any]:
    from db.campaign_admin import CampaignError, parse_hours, parse_retries

    values: dict[str, Any] = {
        "queue": queue,
        "caller_id": caller_id,
        "caller_name": caller_name,
        "mode": mode,
        "region": region,
        "abandon_limit": abandon_limit,
        "ring_seconds": ring_seconds,
        "amd": amd,
        "message_prompt": message,
        "uk_mode": uk,
        "max_calls_24h": max_calls_24h,
        "max_calls_30d": max_calls_30d,
        "max_attempts": max_attempts,
        "disposition_set": dispositions,
        "national_dnc": national_dnc,
        "description": description,
        "seller_name": seller,
        "optout_key": optout_key,
    }
    values = {k: v for k, v in values.items() if v is not None}
    try:
        if hours or holidays:
            values["hours"] = parse_hours(hours, holidays)
        if retry:
            values["retry_delays"] = parse_retries(retry)
    except CampaignError as exc:
        raise fail(str(exc), 2) from None
    return values


MODE_HELP = "preview, progressive or predictive"
HOURS_HELP = "Calling hours in the callee's local time, e.g. mon-fri=09:00-20:00, sun= (repeat)"
RETRY_HELP = "Retry after a result, e.g. busy=10m, no_answer=2h, machine=1d (repeat)"


@campaign_app.command("create")
def create(
    name: str,
    queue: str = typer.Option(..., help="Queue whose members are the campaign's agents"),
    caller_id: str = typer.Option(..., help="Number the callees see (and can call back)"),
    caller_name: str | None = typer.Option(None, help="Name the callees see"),
    mode: str = typer.Option("progressive", help=MODE_HELP),
    region: str = typer.Option("US", help="Default region for numbers without a +"),
    abandon_limit: float = typer.Option(0.03, help="Highest share of dropped live answers"),
    ring_seconds: int = typer.Option(25, help="How long a dial rings (at least 15)"),
    amd: str = typer.Option("off", help="Answering machines: off, hangup, message, agent"),
    message: str | None = typer.Option(
        None,
        help="Your recorded message for dropped calls and machines, naming the seller and "
        "offering the opt-out key (ARI media, e.g. sound:acme-sorry)",
    ),
    seller: str | None = typer.Option(
        None, help="The seller the message names (required to start a dialing campaign)"
    ),
    optout_key: str = typer.Option(
        "9", help="The key that puts the callee on the company do-not-call list"
    ),
    uk: bool = typer.Option(False, "--uk", help="UK rules: no redial within 72 h of a drop"),
    hours: list[str] = typer.Option([], "--hours", help=HOURS_HELP),
    holiday: list[str] = typer.Option([], "--holiday", help="A date without calls (repeat)"),
    max_calls_24h: int = typer.Option(3, help="Calls to one number per 24 h"),
    max_calls_30d: int | None = typer.Option(None, help="Calls to one number per 30 days"),
    max_attempts: int = typer.Option(5, help="Attempts per lead"),
    retry: list[str] = typer.Option([], "--retry", help=RETRY_HELP),
    dispositions: str | None = typer.Option(None, help="The agents' disposition set"),
    national_dnc: str | None = typer.Option(None, help="National do-not-call list to honour"),
    description: str | None = typer.Option(None),
) -> None:
    """Create a campaign (it starts in 'draft': import leads, then start it)."""
    from db.campaign_admin import create_campaign

    values = _values(
        queue=queue,
        caller_id=caller_id,
        caller_name=caller_name,
        mode=mode,
        region=region,
        abandon_limit=abandon_limit,
        ring_seconds=ring_seconds,
        amd=amd,
        message=message,
        uk=uk,
        hours=hours,
        holidays=holiday,
        max_calls_24h=max_calls_24h,
        max_calls_30d=max_calls_30d,
        max_attempts=max_attempts,
        retry=retry,
        dispositions=dispositions,
        national_dnc=national_dnc,
        description=description,
        seller=seller,
        optout_key=optout_key,
    )
    if not retry:
        values.setdefault(
            "retry_delays", {"busy": 600, "no_answer": 3600, "machine": 14400, "dropped": 3600}
        )
    with database() as engine:
        create_campaign(engine, name, values)
    console.print(f"campaign [bold]{escape(name)}[/] created ({values['mode']}, draft)")


@campaign_app.command("set")
def change(
    name: str,
    queue: str | None = typer.Option(None),
    caller_id: str | None = typer.Option(None),
    caller_name: str | None = typer.Option(None),
    mode: str | None = typer.Option(None, help=MODE_HELP),
    region: str | None = typer.Option(None),
    abandon_limit: float | None = typer.Option(None),
    ring_seconds: int | None = typer.Option(None),
    amd: str | None = typer.Option(None),
    message: str | None = typer.Option(None),
    seller: str | None = typer.Option(None),
    optout_key: str | None = typer.Option(None),
    uk: bool | None = typer.Option(None, "--uk/--no-uk"),
    hours: list[str] = typer.Option([], "--hours", help=HOURS_HELP),
    holiday: list[str] = typer.Option([], "--holiday"),
    max_calls_24h: int | None = typer.Option(None),
    max_calls_30d: int | None = typer.Option(None),
    max_attempts: int | None = typer.Option(None),
    retry: list[str] = typer.Option([], "--retry", help=RETRY_HELP),
    dispositions: str | None = typer.Option(None),
    national_dnc: str | None = typer.Option(None),
    description: str | None = typer.Option(None),
) -> None:
    """Change a campaign's settings (a running campaign's dialers pick them up in seconds)."""
    from db.campaign_admin import change_campaign

    values = _values(
        queue=queue,
        caller_id=caller_id,
        caller_name=caller_name,
        mode=mode,
        region=region,
        abandon_limit=abandon_limit,
        ring_seconds=ring_seconds,
        amd=amd,
        message=message,
        uk=uk,
        hours=hours,
        holidays=holiday,
        max_calls_24h=max_calls_24h,
        max_calls_30d=max_calls_30d,
        max_attempts=max_attempts,
        retry=retry,
        dispositions=dispositions,
        national_dnc=national_dnc,
        description=description,
        seller=seller,
        optout_key=optout_key,
    )
    if not values:
        raise fail("nothing to change (see --help)", 2)
    with database() as engine:
        change_campaign(engine, name, values)
    console.print(f"campaign [bold]{escape(name)}[/] changed: {', '.join(sorted(values))}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


@campaign_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every campaign with its state and figures."""
    from db.campaign_admin import list_campaigns

    with database() as engine:
        rows = list_campaigns(engine, _now())
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(
        "campaign", "state", "mode", "queue", "leads left", "done", "dials/h", "aband. 24h"
    )
    for r in rows:
        table.add_row(
            escape(r["name"]),
            r["state"],
            r["mode"],
            escape(r["queue"]),
            str(r["leads_left"]),
            str(r["leads_done"]),
            str(r["dials_last_hour"]),
            _percent(r["abandonment_24h"]),
        )
    console.print(table if rows else "no campaigns (switchboard campaign create ...)")


def _transition(name: str, action: str) -> None:
    from db.campaign_admin import change_state

    now = _now()
    with database() as engine:
        report = change_state(engine, name, action, now)
    console.print(f"campaign [bold]{escape(name)}[/]: {action} done")
    if report is None:
        return
    if report.agents == 0:
        console.print(
            "[yellow]warning:[/] its queue has no agents: nothing is dialed until agents are "
            "added (switchboard queues add-member) and log in"
        )
    elif report.agents_ready == 0:
        console.print(
            f"[yellow]warning:[/] none of its {report.agents} agents is ready: nothing is "
            "dialed until one logs in"
        )
    if report.leads_due == 0:
        console.print("[yellow]warning:[/] no leads left to call (switchboard campaign import)")
    elif report.callable_now == 0:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.refusals.items()))
        opening = report.next_opening.isoformat(timespec="minutes") if report.next_opening else "?"
        console.print(
            f"[yellow]warning:[/] none of the next {report.checked} leads may be called now "
            f"({reasons}); the first may be called at {opening}"
        )
    else:
        console.print(
            f"{report.callable_now} of the next {report.checked} leads may be called now; "
            f"{report.leads_due} leads left"
        )


@campaign_app.command("start")
def start(name: str) -> None:
    """Start dialing (checks the national DNC list's age; warns on no agents or hours)."""
    _transition(name, "start")


@campaign_app.command("pause")
def pause(name: str) -> None:
    """Stop placing new calls; calls in progress go on."""
    _transition(name, "pause")


@campaign_app.command("resume")
def resume(name: str) -> None:
    """Dial again after a pause."""
    _transition(name, "resume")


@campaign_app.command("stop")
def stop(name: str) -> None:
    """End the campaign (calls in progress go on; start it again to reuse it)."""
    _transition(name, "stop")


def _status_view(status: dict[str, Any]) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[bold]{escape(status['name'])}[/]",
        status["state"],
        status["mode"],
        f"queue {escape(status['queue'])}",
        f"caller ID {escape(status['caller_id'])}",
    )
    table = Table("ringing", "answered", "connected", "free agents", "dials/h", "leads left")
    table.add_row(
        str(status["ringing"]),
        str(status["answered_waiting"]),
        str(status["connected"]),
        f"{status['free_agents']} of {status['agents']}",
        str(status["dials_last_hour"]),
        f"{status['leads_left']} of {status['leads_total']}",
    )
    limit = status["abandon_limit"]
    rates = Table("abandoned 24 h", "abandoned 30 d", "limit", "live 24 h", "machines 24 h")
    rates.add_row(
        f"{_percent(status['abandonment_24h'])} ({status['drops_24h']})",
        _percent(status["abandonment_30d"]),
        _percent(limit),
        str(status["live_24h"]),
        str(status["machines_24h"]),
    )
    return Group(head, table, rates)


@campaign_app.command("status")
def status(
    name: str,
    watch: bool = typer.Option(False, "--watch", help="Keep the view live (Ctrl-C ends)"),
    interval: float = typer.Option(1.0, help="Seconds between refreshes with --watch"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A campaign's figures: dialing, connected, agents, abandonment, dials per hour, leads."""
    from db.campaign_admin import campaign_status

    with database() as engine:
        current = campaign_status(engine, name, _now())
        if as_json:
            console.print_json(json.dumps(current, default=str))
            return
        if not watch:
            console.print(_status_view(current))
            return
        try:
            with Live(_status_view(current), console=console, refresh_per_second=4) as live:
                while True:
                    time.sleep(interval)
                    live.update(_status_view(campaign_status(engine, name, _now())))
        except KeyboardInterrupt:
            pass
