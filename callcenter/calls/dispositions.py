"""Outcome codes (dispositions): the platform's own code for how a call ended, the actions a
code may trigger, and the rules for who may set which code. Plain code, no I/O.

The catalogue lives in PostgreSQL (tables disposition_sets and disposition_codes, managed
with `switchboard dispositions`); this module reads and checks what is in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from callcenter.calls.record import CallRecord

SYSTEM_SET = "system"

# Q.850 causes of an outbound leg that was not answered.
CAUSE_BUSY = 17
NO_ANSWER_CAUSES = {18, 19, 21}
CONGESTION_CAUSES = {34, 38, 41, 42, 44}


def system_code(record: CallRecord) -> str:
    """The platform's code for a call that ended (docs/records.md has the table)."""
    if record.outcome in ("interrupted", "lost"):
        return "interrupted"
    if record.outcome == "dropped":
        return "dropped"  # a live answer no agent took within 2 s: an abandoned call
    if record.outcome == "machine":
        return "answering_machine"
    if record.outcome == "refused":
        return "failed"  # refused by Asterisk while the application was not running
    if record.outcome == "voicemail":
        return "voicemail"  # a message left (in the IVR, or when the queue's wait ran out)
    exits = {
        "connected": "answered",
        "abandoned": "abandoned",
        "timeout": "queue_timeout",
        "full": "no_agent",
        "joinempty": "no_agent",
        "leaveempty": "no_agent",
        "exitkey": "exit_key",
        "callback": "callback_requested",
    }
    if record.agent is not None:
        return "answered"
    if record.queue_exit in exits:
        return exits[record.queue_exit]
    if record.direction == "outbound" and record.answered_at is None:
        cause = record.hangup_cause
        if cause == CAUSE_BUSY:
            return "busy"
        if cause in NO_ANSWER_CAUSES:
            return "no_answer"
        if cause in CONGESTION_CAUSES:
            return "congestion"
        return "failed"
    if record.answered_at is None:
        return "abandoned" if record.direction == "inbound" else "no_answer"
    return "ivr_completed"


# --- actions ----------------------------------------------------------------------------


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DncAction(_Action):
    """Put the customer's number on a do-not-call list, for ``days`` or (None) for good; a +1
    number for at least 5 years whatever ``days`` says (``dnc_floor``)."""

    do: Literal["dnc"]
    days: int | None = Field(None, gt=0, le=36500)
    list: str = Field("internal", pattern=r"^[a-z][a-z0-9_.-]{0,31}$")


class CallbackAction(_Action):
    """Schedule a callback: at the time the agent gives, else ``in_minutes`` from now."""

    do: Literal["callback"]
    in_minutes: int = Field(60, gt=0, le=60 * 24 * 365)
    queue: str | None = None


class RetryAction(_Action):
    """Dial the lead again after a delay (campaign calls)."""

    do: Literal["retry"]
    in_minutes: int = Field(gt=0, le=60 * 24 * 365)


class CloseLeadAction(_Action):
    """Dial the lead no more (campaign calls)."""

    do: Literal["close_lead"]


Action = Annotated[
    DncAction | CallbackAction | RetryAction | CloseLeadAction, Field(discriminator="do")
]
_ACTIONS = TypeAdapter(list[Action])


class DispositionError(ValueError):
    """A code that cannot be set: unknown, from another set, on someone else's call..."""


def parse_actions(raw: Any) -> list[DncAction | CallbackAction | RetryAction | CloseLeadAction]:
    """Validate a code's actions (JSON from the catalogue or the CLI); clear errors."""
    try:
        return _ACTIONS.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"action {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise DispositionError(problems) from None


def parse_action_text(text: str) -> DncAction | CallbackAction | RetryAction | CloseLeadAction:
    """The CLI's short form: ``dnc``, ``dnc:30``, ``callback:60``, ``retry:120``,
    ``close_lead`` (numbers are days for dnc, minutes otherwise)."""
    kind, _, value = text.strip().partition(":")
    raw: dict[str, Any] = {"do": kind}
    if value:
        try:
            number = int(value)
        except ValueError:
            raise DispositionError(f"{text!r}: the part after ':' must be a number") from None
        if kind == "dnc":
            raw["days"] = number
        elif kind in ("callback", "retry"):
            raw["in_minutes"] = number
        else:
            raise DispositionError(f"{text!r}: {kind} takes no number")
    elif kind == "retry":
        raise DispositionError("retry needs a delay in minutes, e.g. retry:120")
    if kind not in ("dnc", "callback", "retry", "close_lead"):
        raise DispositionError(
            f"unknown action {kind!r}: use dnc[:days], callback[:minutes], retry:minutes "
            "or close_lead"
        )
    return parse_actions([raw])[0]


# --- how long a do-not-call request lasts -----------------------------------------------------

# 47 CFR 64.1200(d)(6): a company do-not-call request must be honoured for 5 years from the time
# it is made. It is the US rule; every +1 number (the NANP: the US and its territories, Canada
# and the Caribbean countries) gets it, since a longer ban is never wrong and the country of a
# +1 number is not always known. Other countries keep what the code says.
US_DNC_DAYS = 5 * 365 + 1  # 1826: five years with one leap day (five calendar years if longer)
US_DNC_LAW = "47 CFR 64.1200(d)(6): a do-not-call request from a +1 (US/NANP) number lasts 5 years"


def is_nanp(number: str | None) -> bool:
    """Whether ``number`` (E.164, with its +) is in the North American Numbering Plan."""
    if not number:
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return parsed.country_code == 1


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February: to 1 March
        return moment.replace(year=moment.year + years, month=3, day=1)


def dnc_floor(number: str | None, now: datetime) -> datetime | None:
    """The earliest a do-not-call entry for ``number`` made at ``now`` may expire under the
    law (None: no floor known for its country)."""
    if not is_nanp(number):
        return None
    return max(now + timedelta(days=US_DNC_DAYS), _years_later(now, 5))


def dnc_warnings(actions: Sequence[Any]) -> list[str]:
    """What an operator defining a code with these actions should know: a ``dnc:N`` shorter
    than 5 years is lengthened to 5 years for +1 numbers when it runs."""
    warnings: list[str] = []
    for action in parse_actions(list(actions)):
        if isinstance(action, DncAction) and action.days is not None and action.days < US_DNC_DAYS:
            warnings.append(
                f"dnc:{action.days}: +1 numbers (US, Canada and the rest of the NANP) stay on "
                f"the {action.list!r} do-not-call list for 5 years whatever the code says "
                f"(47 CFR 64.1200(d)(6)); other numbers for {action.days} days"
            )
    return warnings


# --- the plan for one code set on one call ---------------------------------------------------


@dataclass(frozen=True)
class PlannedAction:
    """One action to carry out, with the id that makes doing it twice harmless."""

    uid: uuid.UUID
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


def plan_actions(
    disposition_uid: uuid.UUID,
    actions: list[Any],
    *,
    number: str | None,
    now: datetime,
    callback_at: datetime | None,
    has_lead: bool,
) -> list[PlannedAction]:
    """What a code's actions come to for this call. Each gets an id derived from the
    disposition's, so a repeated application (a retry, a replay) finds it done already."""
    planned: list[PlannedAction] = []
    for index, action in enumerate(parse_actions(actions)):
        uid = uuid.uuid5(disposition_uid, f"action-{index}")
        if isinstance(action, DncAction):
            if not number:
                planned.append(PlannedAction(uid, "skipped", {"do": "dnc", "why": "no number"}))
                continue
            expires = None if action.days is None else now + timedelta(days=action.days)
            detail: dict[str, Any] = {"number": number, "list": action.list, "expires_at": expires}
            floor = dnc_floor(number, now)
            if expires is not None and floor is not None and expires < floor:
                # The law's 5 years, not the code's days; the event records both.
                detail |= {"expires_at": floor, "asked_days": action.days, "law": US_DNC_LAW}
            planned.append(PlannedAction(uid, "dnc", detail))
        elif isinstance(action, CallbackAction):
            if not number:
                planned.append(
                    PlannedAction(uid, "skipped", {"do": "callback", "why": "no number"})
                )
                continue
            due = callback_at or now + timedelta(minutes=action.in_minutes)
            planned.append(
                PlannedAction(
                    uid, "callback", {"number": number, "due_at": due, "queue": action.queue}
                )
            )
        elif not has_lead:
            # Retry and close act on a campaign's lead; an inbound call has none.
            planned.append(
                PlannedAction(uid, "skipped", {"do": action.do, "why": "the call has no lead"})
            )
        elif isinstance(action, RetryAction):
            planned.append(
                PlannedAction(uid, "retry", {"due_at": now + timedelta(minutes=action.in_minutes)})
            )
        else:
            planned.append(PlannedAction(uid, "close_lead"))
    return planned


def check_agent_may_set(
    *,
    agent: str,
    call_agents: set[str],
    code: str,
    code_set: str | None,
    allowed_set: str | None,
    known_in: list[str],
) -> None:
    """Refuse, with the reason, a code an agent may not set on this call."""
    if agent not in call_agents:
        raise DispositionError(f"call is not {agent}'s: only an agent who talked on it may code it")
    if allowed_set is None:
        raise DispositionError("this call's queue has no disposition set for agents")
    if code_set is None:
        if known_in:
            raise DispositionError(
                f"code {code!r} belongs to {', '.join(sorted(known_in))}, not to this call's "
                f"set {allowed_set!r}"
            )
        raise DispositionError(f"unknown code {code!r} (set {allowed_set!r})")
