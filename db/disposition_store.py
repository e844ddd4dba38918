"""Setting outcome codes on calls and carrying out their actions, in one transaction each.

Agents (HTTP API, CLI, phone feature code) and operators set codes here; the platform's own
codes arrive through the record writer and use the same action path. Every action has an id
derived from its disposition's, so doing it twice stores it once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.calls.dispositions import (
    SYSTEM_SET,
    DispositionError,
    PlannedAction,
    check_agent_may_set,
    plan_actions,
)
from callcenter.calls.numbers import normalize
from db.driver import driver_of
from db.models import (
    Call,
    CallbackRequest,
    CallDisposition,
    CallEvent,
    Campaign,
    DialAttempt,
    DispositionCode,
    DncEntry,
    Lead,
    Queue,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SetDisposition:
    uid: uuid.UUID
    call_id: uuid.UUID
    code: str
    code_set: str
    label: str
    final: bool
    agent: str | None
    actions: list[PlannedAction]


def _json_safe(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in detail.items()}


def customer_number(call: Any) -> str | None:
    """The customer's side of a call: who called in, or whom we called."""
    return str(call.dialed_number if call.direction == "outbound" else call.caller_number or "")


async def _call_for(connection: AsyncConnection, call_id: str | None, agent: str | None) -> Any:
    if call_id is None:
        if agent is None:
            raise DispositionError("which call? give a call id")
        # The agent's most recent call: the one their wrap-up is about.
        connected = (
            select(CallEvent.call_id)
            .where(CallEvent.type == "CONNECT", CallEvent.data["agent"].astext == agent)
            .order_by(CallEvent.occurred_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = select(Call).where(Call.id == connected)
    else:
        try:
            wanted = uuid.UUID(call_id)
        except ValueError:
            raise DispositionError(f"not a call id: {call_id!r}") from None
        query = select(Call).where(Call.id == wanted)
    row = (await connection.execute(query.with_for_update())).first()
    if row is None:
        raise DispositionError(
            f"no call {call_id}" if call_id else f"{agent} has not talked on any call yet"
        )
    return row


async def _agents_on(connection: AsyncConnection, call: Any) -> set[str]:
    rows = await connection.execute(
        select(CallEvent.data["agent"].astext).where(
            CallEvent.call_id == call.id,
            CallEvent.type.in_(("CONNECT", "CALLBACKANSWERED")),
        )
    )
    agents = {r[0] for r in rows if r[0]}
    if call.agent:
        agents.add(call.agent)
    return agents


async def set_disposition(
    engine: AsyncEngine,
    *,
    code: str | None = None,
    digits: str | None = None,
    call_id: str | None = None,
    agent: str | None = None,
    operator: str | None = None,
    note: str | None = None,
    callback_at: datetime | None = None,
    callback_agent: str | None = None,
    now: datetime,
    region: str,
) -> SetDisposition:
    """Set a code on a call. An agent gives a code of their call's set (by name, or by the
    digits keyed on the phone); an operator may also give a system code."""
    if (code is None) == (digits is None):
        raise DispositionError("give a code or its digits")
    async with engine.begin() as connection:
        call = await _call_for(connection, call_id, agent)
        allowed = await _code_set_of(connection, call)
        sets = [allowed] if allowed else []
        if agent is None:
            sets.append(SYSTEM_SET)
        match = (
            DispositionCode.code == code if code is not None else (DispositionCode.digits == digits)
        )
        found = (
            await connection.execute(
                select(DispositionCode).where(
                    match, DispositionCode.code_set.in_(sets), DispositionCode.active
                )
            )
        ).first()
        shown = code if code is not None else f"keyed {digits}"
        if agent is not None:
            known_in = list(
                (await connection.execute(select(DispositionCode.code_set).where(match))).scalars()
            )
            check_agent_may_set(
                agent=agent,
                call_agents=await _agents_on(connection, call),
                code=shown,
                code_set=found.code_set if found else None,
                allowed_set=allowed,
                known_in=known_in,
            )
        if found is None:
            where = " or ".join(repr(s) for s in sets)
            raise DispositionError(f"unknown code {shown!r} (set {where})")
        uid = uuid.uuid4()
        await connection.execute(
            insert(CallDisposition).values(
                uid=uid,
                call_id=call.id,
                code_set=found.code_set,
                code=found.code,
                set_by=f"agent:{agent}" if agent else f"operator:{operator or 'cli'}",
                agent=agent,
                set_at=now,
                note=note,
                callback_at=callback_at,
            )
        )
        await _event(
            connection,
            uuid.uuid5(uid, "event"),
            call.id,
            call.node_id,
            now,
            "DISPOSITION",
            {"code": found.code, "set": found.code_set, "agent": agent, "final": found.final},
        )
        planned = plan_actions(
            uid,
            found.actions,
            number=normalize(customer_number(call), region),
            now=now,
            callback_at=callback_at,
            has_lead=call.attempt_id is not None,
        )
        if callback_agent is not None:
            kept = [a for a in planned if a.kind == "callback"]
            if not kept:
                raise DispositionError(f"code {found.code!r} asks for no callback to keep")
            for action in kept:
                action.detail["agent"] = callback_agent
        await apply_actions(connection, planned, call, call.node_id, now)
    return SetDisposition(
        uid, call.id, found.code, found.code_set, found.label, found.final, agent, planned
    )


async def _code_set_of(connection: AsyncConnection, call: Any) -> str | None:
    """The set an agent codes this call from: its campaign's, else its queue's."""
    if call.campaign:
        found = (
            await connection.execute(
                select(Campaign.disposition_set).where(Campaign.name == call.campaign)
            )
        ).scalar()
        if found:
            return str(found)
    if call.queue:
        found = (
            await connection.execute(select(Queue.disposition_set).where(Queue.name == call.queue))
        ).scalar()
        return str(found) if found else None
    return None


async def _lead_of(connection: AsyncConnection, call: Any) -> int | None:
    if call.attempt_id is None:
        return None
    found = (
        await connection.execute(
            select(DialAttempt.lead_id).where(DialAttempt.id == call.attempt_id)
        )
    ).scalar()
    return int(found) if found is not None else None


async def _lead_action(
    connection: AsyncConnection,
    lead_id: int,
    attempt_id: Any,
    kind: str,
    detail: dict[str, Any],
) -> bool:
    """A code's action on the campaign lead the call was dialed for. The lease is dropped, so
    the attempt's own (later) verdict on the lead no longer applies."""
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    # Only while no other attempt holds the lead (a code set on an old call must not reopen
    # a lead that is being dialed again).
    free = or_(Lead.lease_owner.is_(None), Lead.lease_owner == str(attempt_id))
    if kind == "callback":
        # Called back at the time asked, before any other lead of the campaign.
        values |= {"state": "pending", "priority": 0, "next_attempt_at": detail["due_at"]}
    elif kind == "retry":
        values |= {"state": "pending", "priority": 1, "next_attempt_at": detail["due_at"]}
    else:
        values |= {"state": "done", "closed_reason": "closed by a disposition"}
    result = await connection.execute(update(Lead).where(Lead.id == lead_id, free).values(**values))
    return bool(getattr(result, "rowcount", 0))


async def apply_actions(
    connection: AsyncConnection,
    planned: list[PlannedAction],
    call: Any,
    node_id: str,
    now: datetime,
) -> None:
    lead_id = await _lead_of(connection, call)
    for action in planned:
        detail = action.detail
        if action.kind in ("callback", "retry", "close_lead") and lead_id is not None:
            done = await _lead_action(connection, lead_id, call.attempt_id, action.kind, detail)
            detail = {**detail, "lead": lead_id}
            if not done:
                detail["why"] = "the lead is held by another attempt"
            await _event(
                connection,
                action.uid,
                call.id,
                node_id,
                now,
                f"ACTION_{action.kind.upper()}" if done else "ACTION_SKIPPED",
                _json_safe(detail),
            )
            continue
        if action.kind == "dnc":
            if "asked_days" in detail:
                # A +1 number: the law's 5 years instead of the code's days (plan_actions).
                log.info(
                    "dispositions.dnc_lengthened",
                    call=str(call.id),
                    list=detail["list"],
                    asked_days=detail["asked_days"],
                    expires_at=detail["expires_at"].isoformat(),
                    law=detail["law"],
                )
            statement = insert(DncEntry).values(
                list_name=detail["list"],
                number=detail["number"],
                added_at=now,
                expires_at=detail["expires_at"],
                reason="disposition",
                call_id=call.id,
            )
            old, new = DncEntry.expires_at, statement.excluded.expires_at
            statement = statement.on_conflict_do_update(
                index_elements=[DncEntry.list_name, DncEntry.number],
                # The longer ban wins; "for good" (NULL) beats any date.
                set_={
                    "expires_at": case(
                        (or_(old.is_(None), new.is_(None)), None),
                        else_=func.greatest(old, new),
                    ),
                    "call_id": statement.excluded.call_id,
                },
            )
            await connection.execute(statement)
        elif action.kind == "callback":
            await connection.execute(
                insert(CallbackRequest)
                .values(
                    id=action.uid,
                    call_id=call.id,
                    number=detail["number"],
                    queue=detail["queue"] or call.queue,
                    source="disposition",
                    requested_at=now,
                    due_at=detail["due_at"],
                    status="pending",
                    agent=detail.get("agent"),
                )
                .on_conflict_do_nothing(index_elements=[CallbackRequest.id])
            )
        await _event(
            connection,
            action.uid,
            call.id,
            node_id,
            now,
            f"ACTION_{action.kind.upper()}",
            _json_safe(detail),
        )


async def _event(
    connection: AsyncConnection,
    uid: uuid.UUID,
    call_id: uuid.UUID,
    node_id: str,
    at: datetime,
    kind: str,
    data: dict[str, Any],
) -> None:
    await connection.execute(
        insert(CallEvent)
        .values(uid=uid, call_id=call_id, node_id=node_id, occurred_at=at, type=kind, data=data)
        .on_conflict_do_nothing(index_elements=[CallEvent.uid])
    )


_SYSTEM_COLUMNS = ("uid", "call_id", "code_set", "code", "set_by", "set_at")
_INSERT_SYSTEM = (
    f"INSERT INTO call_dispositions ({', '.join(_SYSTEM_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(_SYSTEM_COLUMNS))}) "
    "ON CONFLICT (uid) DO NOTHING RETURNING uid, call_id, code"
)
_CODES_WITH_ACTIONS = (
    "SELECT code, actions FROM disposition_codes "
    "WHERE code_set = %s AND code = ANY(%s) AND jsonb_array_length(actions) > 0"
)


async def system_dispositions(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The writer's path for the platform's codes: stored once, actions (if an operator gave
    the system code some) carried out once."""
    numbers = {row["uid"]: row.pop("number", None) for row in rows}
    node_ids = {row["uid"]: row.pop("node_id", None) for row in rows}
    # One per call ended: sent to the driver as prepared statements (through SQLAlchemy
    # they cost a good part of the writer's CPU); the rare actions below keep SQLAlchemy.
    driver = await driver_of(connection)
    fresh: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    async with driver.cursor() as cursor:
        await cursor.executemany(
            _INSERT_SYSTEM,
            [tuple(row[c] for c in _SYSTEM_COLUMNS) for row in rows],
            returning=True,
        )
        while True:
            fresh.extend(await cursor.fetchall())
            if not cursor.nextset():
                break
        if not fresh:
            return
        await cursor.execute(_CODES_WITH_ACTIONS, (SYSTEM_SET, sorted({f[2] for f in fresh})))
        codes = {code: actions for code, actions in await cursor.fetchall()}
    for uid, call_id, code in fresh:
        if code not in codes:
            continue
        call = (await connection.execute(select(Call).where(Call.id == call_id))).first()
        if call is None:
            continue
        row = next(r for r in rows if r["uid"] == uid)
        planned = plan_actions(
            uid,
            codes[code],
            number=numbers[uid],
            now=row["set_at"],
            callback_at=None,
            has_lead=False,
        )
        await apply_actions(connection, planned, call, node_ids[uid] or call.node_id, row["set_at"])


async def dnc_entry(connection: AsyncConnection, number: str, at: datetime) -> Any:
    """The entry that forbids dialing ``number`` at ``at`` (the latest expiry), or None."""
    return (
        await connection.execute(
            select(DncEntry)
            .where(
                DncEntry.number == number,
                or_(DncEntry.expires_at.is_(None), DncEntry.expires_at > at),
            )
            .order_by(and_(DncEntry.expires_at.is_(None)).desc(), DncEntry.expires_at.desc())
            .limit(1)
        )
    ).first()


async def codes_for_agent(engine: AsyncEngine, agent: str) -> dict[str, Any]:
    """The codes an agent may set on their latest call (for the agent's desktop)."""
    async with engine.connect() as connection:
        try:
            call = await _call_for(connection, None, agent)
        except DispositionError:
            return {"call": None, "set": None, "codes": []}
        allowed = await _code_set_of(connection, call)
        rows = (
            await connection.execute(
                select(
                    DispositionCode.code,
                    DispositionCode.label,
                    DispositionCode.digits,
                    DispositionCode.final,
                )
                .where(DispositionCode.code_set == allowed, DispositionCode.active)
                .order_by(DispositionCode.digits.nulls_last(), DispositionCode.code)
            )
        ).all()
    return {
        "call": str(call.id),
        "set": allowed,
        "codes": [dict(r._mapping) for r in rows],
    }
