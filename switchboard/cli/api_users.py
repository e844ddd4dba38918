"""`switchboard api-users ...`: credentials for the HTTP API, with their roles (docs/api.md)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from switchboard.cli.common import database, fail

api_users_app = typer.Typer(
    no_args_is_help=True, help="HTTP API credentials: tokens for supervisors, operators, agents."
)

console = Console()

ROLES = ("agent", "supervisor", "operator")


def show_token(token: str, page: str | None = None) -> None:
    """The token, on a line of its own (never wrapped), with the warning that goes with it;
    ``page``: the agent page's address with the token in it."""
    console.print(f"  API token   : {token}", soft_wrap=True, highlight=False)
    if page is not None:
        console.print(f"  agent page  : {page}", soft_wrap=True, highlight=False)
    console.print("Shown once: keep it like a password (only its SHA-256 is stored).")


@api_users_app.command("add")
def api_users_add(
    name: str = typer.Argument(..., help="The credential's name, e.g. carol or grafana."),
    role: str = typer.Option(..., help="supervisor, operator or agent."),
    agent: str | None = typer.Option(
        None, help="The agent it acts as (an agent's own; a supervisor's softphone)."
    ),
) -> None:
    """Create a credential and print its token (once)."""
    from db.api_credential_store import add_credential

    if role not in ROLES:
        raise fail(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == "agent" and agent is None:
        agent = name
    with database() as engine:
        token = add_credential(engine, name, role, agent)
    acting = f" acting as agent {escape(agent)}" if agent else ""
    console.print(f"credential [bold]{escape(name)}[/] ({role}){acting} created.")
    show_token(token)


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


@api_users_app.command("list")
def api_users_list() -> None:
    """Credentials with their roles (never their tokens)."""
    from db.api_credential_store import list_credentials

    with database() as engine:
        rows = list_credentials(engine)
    table = Table("name", "role", "agent", "created", "revoked")
    for row in rows:
        table.add_row(
            row["name"],
            row["role"],
            row["agent"] or "",
            _when(row["created_at"]),
            _when(row["revoked_at"]),
        )
    console.print(table)


@api_users_app.command("revoke")
def api_users_revoke(name: str) -> None:
    """Revoke a credential: its token stops working within seconds."""
    from db.api_credential_store import revoke_credential

    with database() as engine:
        revoke_credential(engine, name)
    console.print(f"credential {escape(name)} revoked")
