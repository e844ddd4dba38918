"""Managing the disposition catalogue and the do-not-call list (the CLI's side; sync)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from callcenter.calls.dispositions import (
    SYSTEM_SET,
    DispositionError,
    dnc_warnings,
    parse_actions,
)
from db.acd_store import check_name
from db.models import (
    DISPOSITION_FLAGS,
    CallDisposition,
    DispositionCode,
    DispositionSet,
    DncEntry,
    Queue,
)

log = structlog.get_logger(__name__)


def list_sets(engine: Engine) -> list[dict[str, Any]]:
    counts = (
        select(DispositionCode.code_set, func.count().label("codes"))
        .group_by(DispositionCode.code_set)
        .subquery()
    )
    users = (
        select(Queue.disposition_set, func.string_agg(Queue.name, ", ").label("queues"))
        .group_by(Queue.disposition_set)
        .subquery()
    )
    query = (
        select(DispositionSet.name, DispositionSet.description, counts.c.codes, users.c.queues)
        .outerjoin(counts, counts.c.code_set == DispositionSet.name)
        .outerjoin(users, users.c.disposition_set == DispositionSet.name)
        .order_by(DispositionSet.name)
    )
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(query)]


def add_set(engine: Engine, name: str, description: str | None) -> None:
    check_name("disposition set", name)
    with engine.begin() as connection:
        added = connection.execute(
            insert(DispositionSet)
            .values(name=name, description=description)
            .on_conflict_do_nothing()
            .returning(DispositionSet.name)
        ).first()
    if added is None:
        raise DispositionError(f"disposition set {name!r} exists already")


def remove_set(engine: Engine, name: str) -> None:
    if name == SYSTEM_SET:
        raise DispositionError("the system set is the platform's own and stays")
    with engine.begin() as connection:
        users = list(
            connection.execute(select(Queue.name).where(Queue.disposition_set == name)).scalars()
        )
        if users:
            raise DispositionError(
                f"queues {', '.join(users)} use set {name!r}: give them another one first"
            )
        gone = connection.execute(
            delete(DispositionSet).where(DispositionSet.name == name).returning(DispositionSet.name)
        ).first()
    if gone is None:
        raise DispositionError(f"no disposition set {name!r}")


def list_codes(engine: Engine, code_set: str | None) -> list[dict[str, Any]]:
    query = select(DispositionCode).order_by(
        DispositionCode.code_set, DispositionCode.digits.nulls_last(), DispositionCode.code
    )
    if code_set is not None:
        query = query.where(DispositionCode.code_set == code_set)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(query)]
    if code_set is not None and not rows and not _set_exists(engine, code_set):
        raise DispositionError(f"no disposition set {code_set!r}")
    return rows


def _set_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(
                select(DispositionSet.name).where(DispositionSet.name == name)
            ).first()
            is not None
        )


def _check_code(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - {"label", "digits", "actions", "active", *DISPOSITION_FLAGS}
    if unknown:
        raise DispositionError(f"unknown code setting(s): {', '.join(sorted(unknown))}")
    digits = values.get("digits")
    if digits is not None and (not digits.isdigit() or not 1 <= len(digits) <= 6):
        raise DispositionError(f"digits are 1 to 6 keys 0-9 (got {digits!r})")
    if "actions" in values:
        values["actions"] = [
            a.model_dump(exclude_none=False) for a in parse_actions(values["actions"])
        ]
    return values


def _digits_taken(connection: Any, code_set: str, code: str, digits: str | None) -> None:
    if digits is None:
        return
    other = connection.execute(
        select(DispositionCode.code).where(
            DispositionCode.code_set == code_set,
            DispositionCode.digits == digits,
            DispositionCode.code != code,
        )
    ).scalar()
    if other is not None:
        raise DispositionError(f"digits {digits} already choose {other!r} in set {code_set!r}")


def _warnings(code_set: str, code: str, values: dict[str, Any]) -> list[str]:
    """What the operator who defined the code should know (logged, and returned to show)."""
    found = dnc_warnings(values.get("actions", []))
    for warning in found:
        log.warning("dispositions.dnc_days_under_us_law", set=code_set, code=code, why=warning)
    return found


def add_code(engine: Engine, code_set: str, code: str, values: dict[str, Any]) -> list[str]:
    """Add a code; returns warnings about it (a ``dnc:N`` that +1 numbers get 5 years of)."""
    check_name("disposition code", code)
    values = _check_code(values)
    if not _set_exists(engine, code_set):
        raise DispositionError(f"no disposition set {code_set!r} ('dispositions add-set' first)")
    with engine.begin() as connection:
        _digits_taken(connection, code_set, code, values.get("digits"))
        added = connection.execute(
            insert(DispositionCode)
            .values(code_set=code_set, code=code, **values)
            .on_conflict_do_nothing()
            .returning(DispositionCode.code)
        ).first()
    if added is None:
        raise DispositionError(f"code {code!r} exists already in set {code_set!r}")
    return _warnings(code_set, code, values)


def change_code(engine: Engine, code_set: str, code: str, values: dict[str, Any]) -> list[str]:
    """Change a code; returns warnings about its new actions, as ``add_code``."""
    values = _check_code(values)
    if not values:
        raise DispositionError("nothing to change")
    with engine.begin() as connection:
        _digits_taken(connection, code_set, code, values.get("digits"))
        changed = connection.execute(
            update(DispositionCode)
            .where(DispositionCode.code_set == code_set, DispositionCode.code == code)
            .values(**values)
            .returning(DispositionCode.code)
        ).first()
    if changed is None:
        raise DispositionError(f"no code {code!r} in set {code_set!r}")
    return _warnings(code_set, code, values)


def remove_code(engine: Engine, code_set: str, code: str) -> str:
    """Delete a code never used; one that calls carry is only retired (kept for history)."""
    with engine.begin() as connection:
        used = connection.execute(
            select(CallDisposition.id)
            .where(CallDisposition.code_set == code_set, CallDisposition.code == code)
            .limit(1)
        ).first()
        where = (DispositionCode.code_set == code_set, DispositionCode.code == code)
        if used is not None:
            done = connection.execute(
                update(DispositionCode)
                .where(*where)
                .values(active=False)
                .returning(DispositionCode.code)
            ).first()
            outcome = "retired (calls carry it)"
        else:
            done = connection.execute(
                delete(DispositionCode).where(*where).returning(DispositionCode.code)
            ).first()
            outcome = "removed"
    if done is None:
        raise DispositionError(f"no code {code!r} in set {code_set!r}")
    return outcome


# --- do-not-call ------------------------------------------------------------------------------


def dnc_add(
    engine: Engine,
    number: str,
    *,
    list_name: str,
    days: int | None,
    reason: str | None,
    now: datetime,
) -> DncEntry | Any:
    check_name("do-not-call list", list_name)
    expires = None if days is None else now + timedelta(days=days)
    statement = insert(DncEntry).values(
        list_name=list_name, number=number, added_at=now, expires_at=expires, reason=reason
    )
    statement = statement.on_conflict_do_update(
        index_elements=[DncEntry.list_name, DncEntry.number],
        set_={"expires_at": expires, "reason": reason, "added_at": now},
    )
    with engine.begin() as connection:
        return connection.execute(statement.returning(DncEntry)).first()


def dnc_list(
    engine: Engine, list_name: str | None, include_expired: bool, now: datetime
) -> list[dict[str, Any]]:
    query = select(DncEntry).order_by(DncEntry.list_name, DncEntry.number)
    if list_name is not None:
        query = query.where(DncEntry.list_name == list_name)
    if not include_expired:
        query = query.where(or_(DncEntry.expires_at.is_(None), DncEntry.expires_at > now))
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(query)]


def dnc_remove(engine: Engine, number: str, list_name: str) -> None:
    with engine.begin() as connection:
        gone = connection.execute(
            delete(DncEntry)
            .where(DncEntry.list_name == list_name, DncEntry.number == number)
            .returning(DncEntry.number)
        ).first()
    if gone is None:
        raise DispositionError(f"{number} is not on the {list_name!r} list")


def dnc_blocking(engine: Engine, number: str, at: datetime) -> list[dict[str, Any]]:
    query = select(DncEntry).where(
        DncEntry.number == number, or_(DncEntry.expires_at.is_(None), DncEntry.expires_at > at)
    )
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(query)]
