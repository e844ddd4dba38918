"""`switchboard agents ...` and `switchboard queues ...`: provisioning and agent control."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcenter.config import Settings
from switchboard.cli.common import database, fail

agents_app = typer.Typer(no_args_is_help=True, help="Agents: softphones, skills, states.")
queues_app = typer.Typer(no_args_is_help=True, help="ACD queues and their members.")

console = Console()
errors = Console(stderr=True, soft_wrap=True)


# --- agents --------------------------------------------------------------------------------


@agents_app.command("add")
def agents_add(
    name: str = typer.Argument(..., help="Login and SIP user name, e.g. alice."),
    full_name: str | None = typer.Option(None, "--name", help="The person's name."),
    skill: list[str] = typer.Option([], help="A skill with its level 0-100, e.g. french=80."),
) -> None:
    """Create an agent and their softphone account (a generated SIP password)."""
    from db.acd_store import parse_skills

    with database() as engine:
        from db.acd_store import add_agent

        created = add_agent(engine, name, full_name, parse_skills(skill))
        token = _agent_token(engine, created.name)
    settings = Settings()
    console.print(f"agent [bold]{created.name}[/] created. Softphone settings:")
    console.print(f"  SIP server  : {settings.sip_host_for_phones}:{settings.sip_port}")
    console.print(f"  user name   : {created.name}")
    console.print(f"  password    : {created.secret}")
    console.print("A running `switchboard run` applies it to Asterisk at once.")
    if token is not None:
        console.print("The agent's own HTTP API credential (their desktop, docs/api.md):")
        _show_token(created.name, token)


def _agent_token(engine: Any, name: str) -> str | None:
    """A new token for the agent's own API credential; None (and why) when it cannot be."""
    from db.api_credential_store import CredentialError, issue_agent_token

    try:
        return issue_agent_token(engine, name)
    except CredentialError as exc:
        errors.print(
            f"[yellow]warning:[/] no API token for {escape(name)}: {escape(str(exc))}",
            highlight=False,
        )
        return None


def _show_token(name: str, token: str) -> None:
    from switchboard.cli.api_users import show_token

    settings = Settings()
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    show_token(token, page=f"http://{host}:{settings.api_port}/agent?agent={name}&token={token}")


@agents_app.command("token")
def agents_token(name: str) -> None:
    """Issue a new API token for an agent (their earlier one stops working)."""
    from db.api_credential_store import CredentialError, issue_agent_token

    with database() as engine:
        try:
            token = issue_agent_token(engine, name)
        except CredentialError as exc:
            raise fail(str(exc)) from None
    console.print(f"a new API token for agent [bold]{escape(name)}[/]; the old one is revoked.")
    _show_token(name, token)


@agents_app.command("list")
def agents_list() -> None:
    """Agents with their skills, queues and state."""
    from db.acd_store import list_agents

    with database() as engine:
        rows = list_agents(engine)
    table = Table("agent", "name", "state", "since", "phone", "skills", "queues")
    for row in rows:
        state = row["state"] + (f" ({row['pause_reason']})" if row["pause_reason"] else "")
        since = row["state_since"].strftime("%H:%M:%S") if row["state_since"] else ""
        skills = ", ".join(f"{k}={v}" for k, v in sorted(row["skills"].items()))
        table.add_row(
            row["name"],
            row["full_name"] or "",
            state,
            since,
            row["phone"],
            skills,
            row["queues"] or "",
        )
    console.print(table)


@agents_app.command("phone")
def agents_phone(
    name: str,
    kind: str = typer.Argument(
        ..., help="softphone (SIP over UDP) or browser (the agent desk's WebRTC phone)."
    ),
) -> None:
    """Choose the phone an agent takes calls on (the running app remakes their account)."""
    from db.acd_store import set_phone

    with database() as engine:
        set_phone(engine, name, kind)
    console.print(f"{name} takes calls on their {kind}" + (" phone" if kind == "browser" else ""))


@agents_app.command("remove")
def agents_remove(name: str) -> None:
    """Delete an agent and their softphone account."""
    from db.acd_store import remove_agent

    with database() as engine:
        remove_agent(engine, name)
    console.print(f"agent {name} removed")


@agents_app.command("skills")
def agents_skills(
    name: str,
    skill: list[str] = typer.Option(..., help="name=level, e.g. french=80 (repeatable)."),
    replace: bool = typer.Option(False, help="Replace all skills instead of merging."),
) -> None:
    """Set an agent's skills and proficiency."""
    from db.acd_store import parse_skills, set_skills

    with database() as engine:
        skills = set_skills(engine, name, parse_skills(skill), replace)
    console.print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(skills.items())))


def _agent_action(name: str, action: str, reason: str | None = None) -> None:
    from switchboard.api_client import ApiError, call_api

    try:
        result = call_api(Settings(), "POST", f"/api/agents/{name}/{action}", {"reason": reason})
    except ApiError as exc:
        raise fail(str(exc)) from None
    console.print(f"{name}: {result.get('state', '?')}")


@agents_app.command("code")
def agents_code(
    name: str,
    code: str = typer.Argument(..., help="The disposition code, e.g. resolved."),
    call: str | None = typer.Option(None, help="The call (default: the agent's latest)."),
    note: str | None = typer.Option(None, help="A note kept with the code."),
    callback_at: str | None = typer.Option(
        None, help="When to call back (ISO time with zone) for a callback code."
    ),
) -> None:
    """Code an agent's call (wrap-up); a final code ends the agent's wrap-up."""
    from switchboard.api_client import ApiError, call_api

    body = {"code": code, "call": call, "note": note, "callback_at": callback_at}
    try:
        result = call_api(Settings(), "POST", f"/api/agents/{name}/disposition", body)
    except ApiError as exc:
        raise fail(str(exc)) from None
    actions = ", ".join(a["kind"] for a in result.get("actions", [])) or "none"
    ended = " (wrap-up ended)" if result.get("wrap_up_ended") else ""
    console.print(
        f"{escape(name)}: call {result.get('call')} coded {escape(str(result.get('code')))}"
        f"{ended}; actions: {actions}"
    )


@agents_app.command("login")
def agents_login(name: str, paused: str | None = typer.Option(None, help="Start paused.")) -> None:
    """Log an agent in (through the running app)."""
    _agent_action(name, "login", paused)


@agents_app.command("logout")
def agents_logout(name: str) -> None:
    _agent_action(name, "logout")


@agents_app.command("pause")
def agents_pause(name: str, reason: str = typer.Option("break", help="Why.")) -> None:
    _agent_action(name, "pause", reason)


@agents_app.command("resume")
def agents_resume(name: str) -> None:
    _agent_action(name, "resume")


# --- queues --------------------------------------------------------------------------------


def _queue_settings(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


DispositionsOpt = typer.Option(
    None,
    help="The disposition set its agents code calls with; a new queue gets 'default'.",
)
ScriptOpt = typer.Option(
    None,
    help="The call script its agents see on connect: text with ${caller_number}, "
    "${caller_name}, ${queue}, ${agent} and the IVR's variables (e.g. ${acct}) filled in.",
)
StrategyOpt = typer.Option(
    None, help="ringall, leastrecent, fewestcalls, random, rrmemory, linear or skills."
)


@queues_app.command("add")
def queues_add(
    name: str,
    strategy: str | None = StrategyOpt,
    moh: str | None = typer.Option(None, help="Music on hold class."),
    ring_timeout: float | None = typer.Option(None, help="Seconds an agent's phone rings."),
    wrap_up: float | None = typer.Option(None, help="Wrap-up seconds after each call."),
    autopause_after: int | None = typer.Option(None, help="Pause after N unanswered offers."),
    max_wait: float | None = typer.Option(None, help="Seconds before overflow."),
    max_callers: int | None = typer.Option(None, help="Most callers waiting at once."),
    join_empty: bool | None = typer.Option(None, help="Let callers in with no agent logged in."),
    leave_empty: bool | None = typer.Option(None, help="Send callers on when agents leave."),
    exit_key: str | None = typer.Option(None, help="A key that leaves the queue."),
    callback_key: str | None = typer.Option(
        None, help="A key that asks for a callback, keeping the caller's place."
    ),
    record: bool | None = typer.Option(None, help="Record every conversation."),
    survey: bool | None = typer.Option(
        None, help="Ask callers to rate the call (1-5) and if it was resolved, after it."
    ),
    overflow: str | None = typer.Option(None, help="Queue to send callers to on max wait."),
    voicemail: bool | None = typer.Option(
        None, help="On max wait with no overflow queue, callers leave a message (a callback)."
    ),
    announce: float | None = typer.Option(None, help="Announce position every N seconds."),
    script: str | None = ScriptOpt,
    dispositions: str | None = DispositionsOpt,
) -> None:
    """Create a queue."""
    from db.acd_store import add_queue

    with database() as engine:
        add_queue(
            engine,
            name,
            _queue_settings(
                strategy=strategy,
                moh_class=moh,
                ring_timeout=ring_timeout,
                wrap_up_seconds=wrap_up,
                autopause_after=autopause_after,
                max_wait_seconds=max_wait,
                max_callers=max_callers,
                join_empty=join_empty,
                leave_empty=leave_empty,
                exit_key=exit_key,
                callback_key=callback_key,
                record_calls=record,
                survey=survey,
                overflow_queue=overflow,
                voicemail=voicemail,
                announce_seconds=announce,
                script=script,
                disposition_set=dispositions,
            ),
        )
    console.print(f"queue {name} created")


@queues_app.command("set")
def queues_set(
    name: str,
    strategy: str | None = StrategyOpt,
    moh: str | None = typer.Option(None),
    ring_timeout: float | None = typer.Option(None),
    wrap_up: float | None = typer.Option(None),
    autopause_after: int | None = typer.Option(None),
    max_wait: float | None = typer.Option(None),
    max_callers: int | None = typer.Option(None),
    join_empty: bool | None = typer.Option(None),
    leave_empty: bool | None = typer.Option(None),
    exit_key: str | None = typer.Option(None),
    callback_key: str | None = typer.Option(None),
    record: bool | None = typer.Option(None),
    survey: bool | None = typer.Option(None),
    overflow: str | None = typer.Option(None),
    voicemail: bool | None = typer.Option(None),
    announce: float | None = typer.Option(None),
    script: str | None = ScriptOpt,
    dispositions: str | None = DispositionsOpt,
) -> None:
    """Change a queue's settings."""
    from db.acd_store import set_queue

    with database() as engine:
        set_queue(
            engine,
            name,
            _queue_settings(
                strategy=strategy,
                moh_class=moh,
                ring_timeout=ring_timeout,
                wrap_up_seconds=wrap_up,
                autopause_after=autopause_after,
                max_wait_seconds=max_wait,
                max_callers=max_callers,
                join_empty=join_empty,
                leave_empty=leave_empty,
                exit_key=exit_key,
                callback_key=callback_key,
                record_calls=record,
                survey=survey,
                overflow_queue=overflow,
                voicemail=voicemail,
                announce_seconds=announce,
                script=script,
                disposition_set=dispositions,
            ),
        )
    console.print(f"queue {name} changed")


@queues_app.command("list")
def queues_list() -> None:
    from db.acd_store import list_queues

    with database() as engine:
        rows = list_queues(engine)
    table = Table("queue", "strategy", "ring", "wrap-up", "autopause", "max wait", "members")
    for q in rows:
        table.add_row(
            q["name"],
            q["strategy"],
            f"{q['ring_timeout']:g}s",
            f"{q['wrap_up_seconds']:g}s",
            str(q["autopause_after"] or "-"),
            f"{q['max_wait_seconds']:g}s" if q["max_wait_seconds"] else "-",
            ", ".join(q["members"]),
        )
    console.print(table)


@queues_app.command("remove")
def queues_remove(name: str) -> None:
    from db.acd_store import remove_queue

    with database() as engine:
        remove_queue(engine, name)
    console.print(f"queue {name} removed")


@queues_app.command("add-member")
def queues_add_member(
    queue: str, agent: str, penalty: int = typer.Option(0, help="Tier: lower rings first.")
) -> None:
    from db.acd_store import add_member

    with database() as engine:
        add_member(engine, queue, agent, penalty)
    console.print(f"{agent} is a member of {queue} (penalty {penalty})")


@queues_app.command("remove-member")
def queues_remove_member(queue: str, agent: str) -> None:
    from db.acd_store import remove_member

    with database() as engine:
        remove_member(engine, queue, agent)
    console.print(f"{agent} left {queue}")
