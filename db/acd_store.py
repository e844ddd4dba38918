"""Agents, queues and membership in PostgreSQL: what operators provision with the CLI.

Every change is followed by ``NOTIFY switchboard_acd`` in the same transaction, so a running
application picks it up (new softphone endpoints pushed to Asterisk, queue settings applied)
as soon as it is committed, and never before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from callcenter.acd.phone_endpoints import PHONE_KINDS
from callcenter.calls.call_script import MAX_LENGTH as MAX_SCRIPT
from callcenter.security import sip_secrets
from db.models import STRATEGIES, Agent, DispositionSet, Queue, QueueMember

CHANNEL = "switchboard_acd"
NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
SKILL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DEFAULT_SET = "default"  # the disposition set a new queue gets when none is named (migration 0004)


class AcdError(ValueError):
    """A provisioning request that cannot be carried out (the message says why)."""


def check_name(kind: str, name: str) -> str:
    if not NAME.fullmatch(name):
        raise AcdError(
            f"{kind} name {name!r}: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter, at most 32 characters"
        )
    return name


def parse_skills(items: list[str]) -> dict[str, int]:
    """``["french=80", "billing=50"]`` as {skill: proficiency 0..100}."""
    skills: dict[str, int] = {}
    for item in items:
        skill, sep, level = item.partition("=")
        skill = skill.strip().lower()
        if not sep or not SKILL.fullmatch(skill):
            raise AcdError(f"skill {item!r}: write it as name=level, e.g. french=80")
        try:
            value = int(level)
        except ValueError:
            raise AcdError(f"skill {item!r}: the level is a whole number 0..100") from None
        if not 0 <= value <= 100:
            raise AcdError(f"skill {item!r}: the level is a whole number 0..100")
        skills[skill] = value
    return skills


def _notify(connection: Connection, what: str) -> None:
    connection.execute(
        text("SELECT pg_notify(:channel, :what)"), {"channel": CHANNEL, "what": what}
    )


@dataclass(frozen=True)
class NewAgent:
    name: str
    secret: str


def add_agent(engine: Engine, name: str, full_name: str | None, skills: dict[str, int]) -> NewAgent:
    check_name("agent", name)
    reserved = sip_secrets.name_problem(name)
    if reserved is not None:
        raise AcdError(f"agent name {reserved}")
    secret = sip_secrets.new_secret()  # 144 random bits (callcenter/security/sip_secrets.py)
    with engine.begin() as connection:
        inserted = connection.execute(
            insert(Agent)
            .values(name=name, full_name=full_name, sip_secret=secret, skills=skills)
            .on_conflict_do_nothing()
            .returning(Agent.name)
        ).first()
        if inserted is None:
            raise AcdError(f"agent {name!r} already exists")
        _notify(connection, f"agent:{name}")
    return NewAgent(name, secret)


def remove_agent(engine: Engine, name: str) -> None:
    with engine.begin() as connection:
        row = connection.execute(select(Agent.state).where(Agent.name == name)).first()
        if row is None:
            raise AcdError(f"no agent {name!r}")
        if row.state not in ("logged_out", "paused", "available"):
            raise AcdError(f"agent {name!r} is {row.state}: remove them after the call")
        connection.execute(delete(Agent).where(Agent.name == name))
        _notify(connection, f"agent:{name}")


def set_skills(engine: Engine, name: str, skills: dict[str, int], replace: bool) -> dict[str, int]:
    with engine.begin() as connection:
        row = connection.execute(select(Agent.skills).where(Agent.name == name)).first()
        if row is None:
            raise AcdError(f"no agent {name!r}")
        merged = skills if replace else {**row.skills, **skills}
        connection.execute(update(Agent).where(Agent.name == name).values(skills=merged))
        _notify(connection, f"agent:{name}")
    return merged


def set_phone(engine: Engine, name: str, phone: str) -> None:
    """Which phone the agent takes calls on; the app makes their endpoint for it."""
    if phone not in PHONE_KINDS:
        raise AcdError(f"phone {phone!r}: one of {', '.join(PHONE_KINDS)}")
    with engine.begin() as connection:
        changed = connection.execute(
            update(Agent).where(Agent.name == name).values(phone=phone).returning(Agent.name)
        ).first()
        if changed is None:
            raise AcdError(f"no agent {name!r}")
        _notify(connection, f"agent:{name}")


def list_agents(engine: Engine) -> list[dict[str, Any]]:
    members = (
        select(QueueMember.agent, func.string_agg(QueueMember.queue, ",").label("queues"))
        .group_by(QueueMember.agent)
        .subquery()
    )
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Agent.name,
                Agent.full_name,
                Agent.skills,
                Agent.state,
                Agent.state_since,
                Agent.pause_reason,
                Agent.phone,
                members.c.queues,
            )
            .outerjoin(members, members.c.agent == Agent.name)
            .order_by(Agent.name)
        ).all()
    return [dict(r._mapping) for r in rows]


QUEUE_FIELDS = {
    "strategy",
    "moh_class",
    "ring_timeout",
    "retry_seconds",
    "wrap_up_seconds",
    "autopause_after",
    "max_wait_seconds",
    "max_callers",
    "join_empty",
    "leave_empty",
    "exit_key",
    "callback_key",
    "overflow_queue",
    "voicemail",
    "announce_seconds",
    "widening",
    "service_level_seconds",
    "disposition_set",
    "record_calls",
    "survey",
    "script",
}


def _check_queue_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - QUEUE_FIELDS
    if unknown:
        raise AcdError(f"unknown queue setting(s): {', '.join(sorted(unknown))}")
    if "strategy" in settings and settings["strategy"] not in STRATEGIES:
        raise AcdError(f"strategy {settings['strategy']!r}: one of {', '.join(STRATEGIES)}")
    for key in ("ring_timeout",):
        if key in settings and not settings[key] > 0:
            raise AcdError(f"{key} must be more than 0 seconds")
    for key in ("retry_seconds", "wrap_up_seconds", "max_wait_seconds", "announce_seconds"):
        value = settings.get(key)
        if value is not None and value < 0:
            raise AcdError(f"{key} cannot be negative")
    for field_name in ("exit_key", "callback_key"):
        phone_key = settings.get(field_name)
        if phone_key is not None and (len(phone_key) != 1 or phone_key not in "0123456789*#"):
            raise AcdError(f"{field_name} {phone_key!r}: one phone key, 0-9, * or #")
    if settings.get("script") is not None and len(settings["script"]) > MAX_SCRIPT:
        raise AcdError(f"the call script is over {MAX_SCRIPT} characters")
    if settings.get("exit_key") and settings.get("exit_key") == settings.get("callback_key"):
        raise AcdError("exit_key and callback_key must differ")
    return settings


def add_queue(engine: Engine, name: str, settings: dict[str, Any]) -> None:
    check_name("queue", name)
    values = _check_queue_settings({k: v for k, v in settings.items() if v is not None})
    with engine.begin() as connection:
        _check_overflow(connection, name, values.get("overflow_queue"))
        _check_disposition_set(connection, values)
        if "disposition_set" not in values and _set_exists(connection, DEFAULT_SET):
            values["disposition_set"] = DEFAULT_SET  # its agents can code calls from the start
        inserted = connection.execute(
            insert(Queue).values(name=name, **values).on_conflict_do_nothing().returning(Queue.name)
        ).first()
        if inserted is None:
            raise AcdError(f"queue {name!r} already exists")
        _notify(connection, f"queue:{name}")


def set_queue(engine: Engine, name: str, settings: dict[str, Any]) -> None:
    values = _check_queue_settings(settings)
    if not values:
        raise AcdError("nothing to change")
    with engine.begin() as connection:
        _check_overflow(connection, name, values.get("overflow_queue"))
        _check_disposition_set(connection, values)
        changed = connection.execute(
            update(Queue).where(Queue.name == name).values(**values).returning(Queue.name)
        ).first()
        if changed is None:
            raise AcdError(f"no queue {name!r}")
        _notify(connection, f"queue:{name}")


def _set_exists(connection: Connection, name: str) -> bool:
    found = connection.execute(select(DispositionSet.name).where(DispositionSet.name == name))
    return found.first() is not None


def _check_disposition_set(connection: Connection, values: dict[str, Any]) -> None:
    wanted = values.get("disposition_set")
    if wanted is None:
        return
    if wanted == "system":
        raise AcdError("the system set is the platform's own: give agents another set")
    if not _set_exists(connection, wanted):
        raise AcdError(
            f"disposition set {wanted!r} does not exist ('switchboard dispositions sets')"
        )


def _check_overflow(connection: Connection, name: str, overflow: str | None) -> None:
    if overflow is None:
        return
    if overflow == name:
        raise AcdError(f"queue {name!r} cannot overflow into itself")
    if connection.execute(select(Queue.name).where(Queue.name == overflow)).first() is None:
        raise AcdError(f"overflow queue {overflow!r} does not exist")


def remove_queue(engine: Engine, name: str) -> None:
    with engine.begin() as connection:
        gone = connection.execute(delete(Queue).where(Queue.name == name).returning(Queue.name))
        if gone.first() is None:
            raise AcdError(f"no queue {name!r}")
        _notify(connection, f"queue:{name}")


def list_queues(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        queues = connection.execute(select(Queue).order_by(Queue.name)).mappings().all()
        members = connection.execute(
            select(QueueMember.queue, QueueMember.agent, QueueMember.penalty).order_by(
                QueueMember.queue, QueueMember.position
            )
        ).all()
    by_queue: dict[str, list[str]] = {}
    for m in members:
        shown = m.agent if not m.penalty else f"{m.agent}({m.penalty})"
        by_queue.setdefault(m.queue, []).append(shown)
    return [{**dict(q), "members": by_queue.get(q["name"], [])} for q in queues]


def add_member(engine: Engine, queue: str, agent: str, penalty: int) -> None:
    if penalty < 0:
        raise AcdError("a penalty cannot be negative")
    with engine.begin() as connection:
        if connection.execute(select(Queue.name).where(Queue.name == queue)).first() is None:
            raise AcdError(f"no queue {queue!r}")
        if connection.execute(select(Agent.name).where(Agent.name == agent)).first() is None:
            raise AcdError(f"no agent {agent!r}")
        position = connection.execute(
            select(func.coalesce(func.max(QueueMember.position) + 1, 0)).where(
                QueueMember.queue == queue
            )
        ).scalar_one()
        connection.execute(
            insert(QueueMember)
            .values(queue=queue, agent=agent, penalty=penalty, position=position)
            .on_conflict_do_update(
                index_elements=[QueueMember.queue, QueueMember.agent], set_={"penalty": penalty}
            )
        )
        _notify(connection, f"queue:{queue}")


def remove_member(engine: Engine, queue: str, agent: str) -> None:
    with engine.begin() as connection:
        gone = connection.execute(
            delete(QueueMember)
            .where(QueueMember.queue == queue, QueueMember.agent == agent)
            .returning(QueueMember.agent)
        )
        if gone.first() is None:
            raise AcdError(f"agent {agent!r} is not a member of queue {queue!r}")
        _notify(connection, f"queue:{queue}")
