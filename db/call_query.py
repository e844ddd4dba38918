"""Reading and pruning call records for operators: `switchboard calls ...` and
`switchboard export queue-log`.

Plain SQLAlchemy Core on a synchronous connection. Filters:

- ``since``/``until``: the call arrived at or after ``since`` and before ``until``;
- ``queue``: the call's (last) queue, or any queue it entered (an ENTERQUEUE event);
- ``agent``: the agent who answered, or any agent connected to it later (a CONNECT event,
  e.g. after a transfer);
- ``campaign``: there is no campaigns table yet; a call belongs to a campaign when one of its
  events carries ``"campaign": NAME`` in its data (the outbound dialer writes it);
- ``code``: a disposition code set on the call (any set);
- ``number``: the caller's or the dialed number, exactly as stored, or whose digits end with
  the digits given (``5551234`` finds ``+1 555-555-1234``);
- ``direction``: inbound, outbound or internal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from callcenter.calls import queue_log
from callcenter.calls.numbers import normalize, spellings
from db.erasure import ErasureCounts, forget_personal_data
from db.models import (
    DIRECTIONS,
    AgentEvent,
    Call,
    CallDisposition,
    CallEvent,
    CallLeg,
    DispositionCode,
)


class CallQueryError(ValueError):
    """A request that cannot be answered as asked (the message says why)."""


@dataclass(frozen=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    queue: str | None = None
    agent: str | None = None
    campaign: str | None = None
    code: str | None = None
    number: str | None = None
    direction: str | None = None
    limit: int | None = None
    offset: int = 0
    call_id: uuid.UUID | None = None

    def check(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise CallQueryError(f"direction {self.direction!r}: one of {', '.join(DIRECTIONS)}")
        if self.limit is not None and self.limit < 1:
            raise CallQueryError(f"limit {self.limit}: at least 1")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise CallQueryError("since must be before until")


# The columns of a call in lists and exports, in this order (plus "codes", last).
CALL_COLUMNS = (
    "id",
    "linkedid",
    "direction",
    "caller_number",
    "caller_name",
    "dialed_number",
    "arrived_at",
    "answered_at",
    "ended_at",
    "queue",
    "queue_exit",
    "agent",
    "outcome",
    "hangup_party",
    "hangup_cause",
    "ivr_flow",
    "ivr_exit",
    "ivr_seconds",
    "wait_seconds",
    "talk_seconds",
    "hold_seconds",
    "wrap_up_seconds",
    "total_seconds",
    "recording",
)
LIST_COLUMNS = (*CALL_COLUMNS, "codes")


def _event_with(kind: str, key: str, value: str) -> ColumnElement[bool]:
    return exists().where(
        CallEvent.call_id == Call.id,
        CallEvent.type == kind,
        CallEvent.data[key].astext == value,
    )


def _digits_end_with(column: Any, digits: str) -> ColumnElement[bool]:
    return func.regexp_replace(column, r"\D", "", "g").like(f"%{digits}")


def _conditions(f: CallFilter) -> list[ColumnElement[bool]]:
    f.check()
    where: list[ColumnElement[bool]] = []
    if f.since is not None:
        where.append(Call.arrived_at >= f.since)
    if f.until is not None:
        where.append(Call.arrived_at < f.until)
    if f.queue is not None:
        where.append(or_(Call.queue == f.queue, _event_with("ENTERQUEUE", "queue", f.queue)))
    if f.agent is not None:
        where.append(or_(Call.agent == f.agent, _event_with("CONNECT", "agent", f.agent)))
    if f.campaign is not None:
        where.append(
            exists().where(
                CallEvent.call_id == Call.id, CallEvent.data["campaign"].astext == f.campaign
            )
        )
    if f.code is not None:
        where.append(
            exists().where(CallDisposition.call_id == Call.id, CallDisposition.code == f.code)
        )
    if f.number is not None:
        number = f.number.strip()
        matches: list[ColumnElement[bool]] = [
            Call.caller_number == number,
            Call.dialed_number == number,
        ]
        digits = re.sub(r"\D", "", number)
        if digits:
            matches += [
                _digits_end_with(Call.caller_number, digits),
                _digits_end_with(Call.dialed_number, digits),
            ]
        where.append(or_(*matches))
    if f.direction is not None:
        where.append(Call.direction == f.direction)
    if f.call_id is not None:
        where.append(Call.id == f.call_id)
    return where


def _codes() -> Any:
    """The codes set on the call, in the order they were set, as ``a,b``."""
    return (
        select(
            func.string_agg(
                CallDisposition.code,
                aggregate_order_by(
                    literal(",", String), CallDisposition.set_at, CallDisposition.id
                ),
            )
        )
        .where(CallDisposition.call_id == Call.id)
        .scalar_subquery()
        .label("codes")
    )


def iter_calls(conn: Connection, f: CallFilter) -> Iterator[dict[str, Any]]:
    """The calls matching ``f``, latest arrival first, one dict of LIST_COLUMNS each,
    streamed from the database."""
    columns = [getattr(Call, name) for name in CALL_COLUMNS]
    statement = (
        select(*columns, _codes()).where(*_conditions(f)).order_by(Call.arrived_at.desc(), Call.id)
    )
    if f.limit is not None:
        statement = statement.limit(f.limit)
    if f.offset:
        statement = statement.offset(f.offset)
    result = conn.execute(statement, execution_options={"yield_per": 500})
    for row in result:
        yield dict(row._mapping)


def list_calls(conn: Connection, f: CallFilter) -> list[dict[str, Any]]:
    return list(iter_calls(conn, f))


# --- one call ------------------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-f]{1,32}")
_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_SHOWN = 5


def resolve_call_id(conn: Connection, call_id_or_prefix: str) -> uuid.UUID:
    """The call whose id is, or starts with, ``call_id_or_prefix``: the UUID's text, with
    its dashes in place or none at all."""
    given = call_id_or_prefix.strip()
    digits = given.lower().replace("-", "")
    dashes_in_place = "-" not in given or (
        len(given) <= len(_SHAPE)
        and all((c == "-") == (s == "-") for c, s in zip(given, _SHAPE, strict=False))
    )
    if not _HEX.fullmatch(digits) or not dashes_in_place:
        raise CallQueryError(
            f"{given!r} is not a call id: give the call's UUID or its first characters"
        )
    low = uuid.UUID(digits.ljust(32, "0"))
    high = uuid.UUID(digits.ljust(32, "f"))
    found = list(
        conn.execute(
            select(Call.id).where(Call.id.between(low, high)).order_by(Call.id).limit(_SHOWN + 1)
        ).scalars()
    )
    if not found:
        raise CallQueryError(f"no call {given!r}")
    if len(found) > 1:
        listed = ", ".join(str(c) for c in found[:_SHOWN]) + (
            ", ..." if len(found) > _SHOWN else ""
        )
        raise CallQueryError(
            f"call id {given!r} is ambiguous: several calls start with it ({listed}); "
            "give more characters"
        )
    return found[0]


def call_detail(conn: Connection, call_id_or_prefix: str) -> dict[str, Any]:
    """A call with all its columns, its legs, its events (in order) and its dispositions."""
    call_id = resolve_call_id(conn, call_id_or_prefix)
    call = conn.execute(select(Call.__table__).where(Call.id == call_id)).one()
    legs = conn.execute(
        select(CallLeg.__table__)
        .where(CallLeg.call_id == call_id)
        .order_by(CallLeg.created_at, CallLeg.id)
    )
    events = conn.execute(
        select(
            CallEvent.id,
            CallEvent.occurred_at,
            CallEvent.type,
            CallEvent.channel_id,
            CallEvent.node_id,
            CallEvent.data,
        )
        .where(CallEvent.call_id == call_id)
        .order_by(CallEvent.occurred_at, CallEvent.id)
    )
    dispositions = conn.execute(
        select(
            CallDisposition.set_at,
            CallDisposition.code_set,
            CallDisposition.code,
            DispositionCode.label,
            CallDisposition.set_by,
            CallDisposition.agent,
            CallDisposition.note,
            CallDisposition.callback_at,
        )
        .outerjoin(
            DispositionCode,
            and_(
                DispositionCode.code_set == CallDisposition.code_set,
                DispositionCode.code == CallDisposition.code,
            ),
        )
        .where(CallDisposition.call_id == call_id)
        .order_by(CallDisposition.set_at, CallDisposition.id)
    )
    return {
        "call": dict(call._mapping),
        "legs": [dict(r._mapping) for r in legs],
        "events": [dict(r._mapping) for r in events],
        "dispositions": [dict(r._mapping) for r in dispositions],
    }


# --- Asterisk queue_log --------------------------------------------------------------------


def queue_log_lines(
    conn: Connection, since: datetime | None = None, until: datetime | None = None
) -> Iterator[str]:
    """Our call and agent events from ``since`` (included) to ``until`` (excluded) as
    Asterisk queue_log lines (without newlines), in time order. The call id is the call's
    linkedid, else its id; see callcenter.calls.queue_log for the fields."""
    call_window: list[ColumnElement[bool]] = [CallEvent.type.in_(queue_log.CALL_EVENTS)]
    agent_window: list[ColumnElement[bool]] = [AgentEvent.type.in_(queue_log.AGENT_EVENTS)]
    if since is not None:
        call_window.append(CallEvent.occurred_at >= since)
        agent_window.append(AgentEvent.occurred_at >= since)
    if until is not None:
        call_window.append(CallEvent.occurred_at < until)
        agent_window.append(AgentEvent.occurred_at < until)

    call_events = (
        select(
            CallEvent.occurred_at.label("at"),
            literal(0, Integer).label("source"),
            CallEvent.id.label("id"),
            CallEvent.type.label("type"),
            func.coalesce(Call.linkedid, cast(Call.id, String)).label("callid"),
            Call.queue.label("queue"),
            Call.caller_number.label("caller_number"),
            CallEvent.data.label("data"),
            cast(null(), String).label("agent"),
            cast(null(), String).label("reason"),
            cast(null(), Float).label("logintime"),
        )
        .join(Call, Call.id == CallEvent.call_id)
        .where(*call_window)
    )
    login = aliased(AgentEvent)
    last_login = (
        select(func.max(login.occurred_at))
        .where(
            login.agent == AgentEvent.agent,
            login.type == "AGENTLOGIN",
            login.occurred_at <= AgentEvent.occurred_at,
        )
        .scalar_subquery()
    )
    logintime = case(
        (
            AgentEvent.type == "AGENTLOGOFF",
            cast(func.extract("epoch", AgentEvent.occurred_at - last_login), Float),
        ),
        else_=cast(null(), Float),
    )
    agent_events = select(
        AgentEvent.occurred_at,
        literal(1, Integer),
        AgentEvent.id,
        AgentEvent.type,
        cast(null(), String),
        AgentEvent.queue,
        cast(null(), String),
        cast(null(), JSONB),
        AgentEvent.agent,
        AgentEvent.reason,
        logintime,
    ).where(*agent_window)
    union = call_events.union_all(agent_events).subquery()
    statement = select(union).order_by(union.c.at, union.c.source, union.c.id)
    for row in conn.execute(statement, execution_options={"yield_per": 1000}):
        line = _queue_log_line(row._mapping)
        if line is not None:
            yield line


def _queue_log_line(row: Mapping[Any, Any]) -> str | None:
    if row["source"] == 0:
        return queue_log.call_event_line(
            row["at"],
            row["callid"],
            row["type"],
            row["data"] or {},
            caller_number=row["caller_number"],
            call_queue=row["queue"],
        )
    return queue_log.agent_event_line(
        row["at"],
        row["agent"],
        row["type"],
        reason=row["reason"],
        queue=row["queue"],
        logintime=row["logintime"],
    )


# --- retention -----------------------------------------------------------------------------

# Event data that holds what a caller keyed or said who they are (numbers): removed when a
# call is anonymized. DTMF and IVR_INPUT lose their digits; every event loses numbers.
KEYED_EVENTS = ("DTMF", "IVR_INPUT")
KEYED_DATA = ("digit", "digits", "value")
NUMBER_DATA = ("caller", "dialed", "number", "callerid", "caller_number", "caller_name")


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge deleted or anonymized: calls, and their legs, events, dispositions, and
    what else held the callers' personal data (db/erasure.py)."""

    calls: int
    legs: int = 0
    events: int = 0
    dispositions: int = 0
    personal: ErasureCounts = field(default_factory=ErasureCounts)


def _cutoff(older_than: timedelta, now: datetime) -> datetime:
    if older_than <= timedelta(0):
        raise CallQueryError("the age of calls to purge must be more than zero")
    return now - older_than


def purge_selection(
    older_than: timedelta | None, now: datetime, number: str | None = None, region: str = "US"
) -> Any:
    """The ended calls a purge touches: those that ended more than ``older_than`` ago,
    and/or those from or to ``number`` (any spelling of it in ``region``'s plan)."""
    conditions: list[ColumnElement[bool]] = [Call.ended_at.is_not(None)]
    if older_than is None and number is None:
        raise CallQueryError("say which calls to purge: --older-than, --number, or both")
    if older_than is not None:
        conditions.append(Call.ended_at < _cutoff(older_than, now))
    if number is not None:
        conditions.append(or_(*number_matches(number, region)))
    return select(Call.id).where(*conditions)


def number_matches(number: str, region: str) -> list[ColumnElement[bool]]:
    forms = spellings(number, region)
    if not forms:
        raise CallQueryError("--number: give a phone number")
    matches: list[ColumnElement[bool]] = [
        Call.caller_number.in_(forms),
        Call.dialed_number.in_(forms),
    ]
    e164 = normalize(number.strip(), region)
    if e164:
        matches.append(Call.caller_e164 == e164)
    return matches


def purge_candidates(
    conn: Connection,
    older_than: timedelta | None,
    now: datetime,
    number: str | None = None,
    region: str = "US",
) -> int:
    """How many calls a purge with these settings would touch."""
    selection = purge_selection(older_than, now, number, region).subquery()
    return int(conn.execute(select(func.count()).select_from(selection)).scalar_one())


def purge(
    conn: Connection,
    older_than: timedelta | None,
    anonymize: bool,
    now: datetime,
    number: str | None = None,
    region: str = "US",
) -> PurgeCounts:
    """Delete the calls that ended before ``now - older_than`` (and/or those from or to
    ``number``) with their legs, events and dispositions; or, anonymizing, keep them
    without who called (numbers and name), what they keyed (digits, DTMF and IVR input)
    and their legs' channel names. Either way everything else that holds the callers'
    personal data goes too (db/erasure.py: recordings, callback numbers, notes, expired
    do-not-call entries, leads' personal fields, webhook events). Calls still live (no end
    yet) are never touched. Run it in a transaction."""
    ids = list(conn.execute(purge_selection(older_than, now, number, region)).scalars())
    personal = forget_personal_data(conn, ids, anonymize, now, number, region)
    if anonymize:
        calls = conn.execute(
            update(Call)
            .where(
                Call.id.in_(ids),
                or_(
                    Call.caller_number.is_not(None),
                    Call.caller_name.is_not(None),
                    Call.dialed_number.is_not(None),
                    Call.digits.is_not(None),
                    Call.caller_e164.is_not(None),
                ),
            )
            .values(
                caller_number=None,
                caller_name=None,
                dialed_number=None,
                digits=None,
                caller_e164=None,
            )
        ).rowcount
        legs = conn.execute(
            update(CallLeg)
            .where(CallLeg.call_id.in_(ids), CallLeg.channel_name.is_not(None))
            .values(channel_name=None)
        ).rowcount
        events = conn.execute(
            text(
                "UPDATE call_events SET data = CASE WHEN type = ANY(:keyed_events)"
                " THEN data - CAST(:keyed_data AS text[]) ELSE data END"
                " - CAST(:number_data AS text[])"
                " WHERE call_id = ANY(:ids)"
                " AND ((type = ANY(:keyed_events) AND data ?| CAST(:keyed_data AS text[]))"
                "   OR data ?| CAST(:number_data AS text[]))"
            ),
            {
                "keyed_events": list(KEYED_EVENTS),
                "keyed_data": list(KEYED_DATA),
                "number_data": list(NUMBER_DATA),
                "ids": ids,
            },
        ).rowcount
        return PurgeCounts(calls=calls, legs=legs, events=events, personal=personal)
    events = conn.execute(delete(CallEvent).where(CallEvent.call_id.in_(ids))).rowcount
    legs = conn.execute(delete(CallLeg).where(CallLeg.call_id.in_(ids))).rowcount
    dispositions = conn.execute(
        delete(CallDisposition).where(CallDisposition.call_id.in_(ids))
    ).rowcount
    calls = conn.execute(delete(Call).where(Call.id.in_(ids))).rowcount
    return PurgeCounts(
        calls=calls, legs=legs, events=events, dispositions=dispositions, personal=personal
    )
