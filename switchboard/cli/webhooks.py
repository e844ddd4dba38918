"""`switchboard webhooks ...`: tell the rest of the business what happens (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from switchboard.cli.common import database, visible

webhooks_app = typer.Typer(
    no_args_is_help=True,
    help="Webhooks: call.ended, call.coded, callback.due, agent.state to your CRM, signed.",
)

console = Console()


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


@webhooks_app.command("add")
def webhooks_add(
    url: str = typer.Argument(..., help="Where to POST, http:// or https://."),
    events: str = typer.Option(
        ..., help="Comma-separated: call.ended, call.coded, callback.due, agent.state."
    ),
    max_attempts: int = typer.Option(
        12,
        help="Tries before a delivery is dead-lettered (1 s, 2 s, 4 s ... apart, 10 min at most).",
    ),
) -> None:
    """Subscribe a receiver; prints the secret its signatures are checked with (once)."""
    from db.webhook_store import add_subscription

    with database() as engine:
        new_id, secret = add_subscription(engine, url, events, max_attempts)
    console.print(f"webhook [bold]{new_id}[/] -> {escape(url)} created.", soft_wrap=True)
    console.print(f"  secret : {secret}", soft_wrap=True, highlight=False)
    console.print(
        "Shown once: the receiver checks the Switchboard-Signature header with it "
        "(docs/webhooks.md)."
    )


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Subscriptions, with what waits and what was dead-lettered."""
    from db.webhook_store import list_subscriptions

    with database() as engine:
        rows = list_subscriptions(engine)
    table = Table("id", "url", "events", "tries", "waiting", "dead", "created")
    for row in rows:
        table.add_row(
            str(row["id"]),
            escape(visible(row["url"])),
            ",".join(row["topics"]),
            str(row["max_attempts"]),
            str(row["pending"]),
            str(row["dead"]),
            _when(row["created_at"]),
        )
    console.print(table)


@webhooks_app.command("remove")
def webhooks_remove(subscription: int = typer.Argument(..., help="The webhook's id.")) -> None:
    """Unsubscribe (what it had not received yet is dropped)."""
    from db.webhook_store import remove_subscription

    with database() as engine:
        remove_subscription(engine, subscription)
    console.print(f"webhook {subscription} removed")


@webhooks_app.command("log")
def webhooks_log(
    subscription: int | None = typer.Option(None, "--webhook", help="Only this webhook's."),
    status: str | None = typer.Option(None, help="pending, delivered or dead."),
    limit: int = typer.Option(50, min=1, max=10000, help="How many, newest first."),
) -> None:
    """Deliveries: each event, its tries, the receiver's last answer."""
    from db.webhook_store import delivery_log

    with database() as engine:
        rows = delivery_log(engine, subscription, status, limit)
    table = Table("delivery", "webhook", "event", "key", "status", "tries", "last try", "answer")
    for row in rows:
        answer = row["last_error"] or (str(row["last_status"]) if row["last_status"] else "")
        if row["status"] == "pending" and row["attempts"]:
            answer += f" (next {_when(row['next_attempt_at'])})"
        table.add_row(
            str(row["id"]),
            str(row["subscription_id"]),
            row["topic"],
            str(row["uid"]),
            row["status"],
            str(row["attempts"]),
            _when(row["last_attempt_at"]),
            escape(visible(answer)),
        )
    console.print(table)


@webhooks_app.command("retry")
def webhooks_retry(
    subscription: int | None = typer.Option(None, "--webhook", help="Only this webhook's."),
) -> None:
    """Send the dead-lettered deliveries again (the receiver dedupes by Idempotency-Key)."""
    from db.webhook_store import retry_dead

    with database() as engine:
        count = retry_dead(engine, subscription)
    console.print(f"{count} dead-lettered deliver{'y' if count == 1 else 'ies'} queued again")
