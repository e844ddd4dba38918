"""The call-flow file format (documented in docs/ivr.md).

A flow file holds one flow: its name, the numbers (DIDs) it answers, its start node and a
mapping of named nodes. Every reference between nodes is by name, so the linter can check the
graph. Edges that a node needs (``next``, ``on_exhausted``, ...) are optional here on purpose:
a missing one is a *dead end*, which the linter reports with the node's line rather than a
terse schema error.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DTMF_KEYS = "0123456789*#"
EXTENDED_KEYS = "ABCD"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

NodeName = Annotated[str, Field(pattern=NAME, max_length=64)]
Prompts = list[Annotated[str, Field(min_length=1, max_length=512)]]
Seconds = Annotated[float, Field(gt=0, le=600)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` does not compile, or None. Not only re.error: a repeat count too large
    is an OverflowError, parentheses nested too deep a RecursionError."""
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as exc:
        return str(exc)
    except RecursionError:
        return "nested too deeply"
    return None


def _keys_as_text(value: Any) -> Any:
    """YAML reads ``1: billing`` with an integer key; keys are the characters pressed."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


# --- nodes --------------------------------------------------------------------------------


class PlayNode(_Model):
    """Play prompts, then go on."""

    type: Literal["play"]
    prompts: Prompts = Field(min_length=1)
    next: NodeName | None = None


class MenuNode(_Model):
    """Prompt, then one key chooses the next node; invalid and missing keys are retried."""

    type: Literal["menu"]
    prompts: Prompts = Field(min_length=1)
    options: dict[str, NodeName] = Field(min_length=1)
    timeout: Seconds = 5.0
    attempts: int = Field(3, ge=1, le=10)
    invalid_prompts: Prompts = ["sound:pm-invalid-option"]
    no_input_prompts: Prompts = ["sound:please-try-again"]
    repeat_key: str | None = None
    on_exhausted: NodeName | None = None

    _keys = field_validator("options", mode="before")(_keys_as_text)

    @field_validator("repeat_key", mode="before")
    @classmethod
    def _repeat_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class CollectNode(_Model):
    """Prompt, then collect several digits into a variable (an account number, a PIN)."""

    type: Literal["collect"]
    prompts: Prompts = Field(min_length=1)
    into: Annotated[str, Field(pattern=VAR_NAME)]
    min_digits: int = Field(1, ge=1, le=64)
    max_digits: int = Field(16, ge=1, le=64)
    terminator: str | None = "#"
    timeout: Seconds = 5.0
    inter_digit_timeout: Seconds = 3.0
    pattern: str | None = None
    check: Literal["luhn"] | None = None
    sensitive: bool = False
    attempts: int = Field(3, ge=1, le=10)
    invalid_prompts: Prompts = ["sound:pm-invalid-option"]
    no_input_prompts: Prompts = ["sound:please-try-again"]
    next: NodeName | None = None
    on_exhausted: NodeName | None = None

    @field_validator("terminator", mode="before")
    @classmethod
    def _terminator_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            problem = _regex_problem(value)
            if problem is not None:
                raise ValueError(f"pattern is not a valid regular expression: {problem}")
        return value

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_digits > self.max_digits:
            raise ValueError(
                f"min_digits ({self.min_digits}) is more than max_digits ({self.max_digits})"
            )
        return self


class Test(_Model):
    """One test of a condition: exactly one of open/closed, caller_in, var."""

    open: str | None = None
    closed: str | None = None
    caller_in: str | list[str] | None = None
    var: str | None = None
    equals: str | None = None
    one_of: list[str] | None = Field(None, alias="in")
    matches: str | None = None
    present: bool | None = None

    @field_validator("equals", mode="before")
    @classmethod
    def _equals_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float | bool) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Test:
        kinds = [k for k in ("open", "closed", "caller_in", "var") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a test needs exactly one of: open, closed, caller_in, var")
        comparisons = [
            k for k in ("equals", "one_of", "matches", "present") if getattr(self, k) is not None
        ]
        if self.var is None and comparisons:
            raise ValueError("equals, in, matches and present go with var")
        if self.var is not None and len(comparisons) != 1:
            raise ValueError("a var test needs exactly one of: equals, in, matches, present")
        if self.matches is not None:
            problem = _regex_problem(self.matches)
            if problem is not None:
                raise ValueError(f"matches is not a valid regular expression: {problem}")
        return self


class Branch(_Model):
    when: Test = Field(alias="if")
    goto: NodeName


class ConditionNode(_Model):
    """The first branch whose test holds chooses the next node; otherwise ``else``."""

    type: Literal["condition"]
    branches: list[Branch] = Field(min_length=1)
    otherwise: NodeName | None = Field(None, alias="else")


class HttpSource(_Model):
    url: Annotated[str, Field(pattern=r"^https?://")]
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = {}


class LookupNode(_Model):
    """Self-service: ask our database or an HTTP service; the answer becomes variables."""

    type: Literal["lookup"]
    sql: str | None = None
    params: dict[str, str] = {}
    http: HttpSource | None = None
    into: Annotated[str, Field(pattern=VAR_NAME)]
    timeout: Seconds = 3.0
    next: NodeName | None = None
    not_found: NodeName | None = None
    on_error: NodeName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LookupNode:
        if (self.sql is None) == (self.http is None):
            raise ValueError("a lookup needs exactly one of: sql, http")
        return self


class LanguageNode(_Model):
    type: Literal["language"]
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9_]+)?$")]
    next: NodeName | None = None


class GotoNode(_Model):
    """Continue in another flow (at its start, or at a named node)."""

    type: Literal["goto"]
    flow: NodeName
    node: NodeName | None = None


class QueueNode(_Model):
    """Hand the caller to an ACD queue; ``on_unavailable`` when the queue cannot take them."""

    type: Literal["queue"]
    queue: NodeName
    priority: int = Field(0, ge=0, le=100)
    skills: dict[str, Annotated[int, Field(ge=0, le=100)]] = {}
    on_unavailable: NodeName | None = None


class CallbackNode(_Model):
    """Offer a callback: the caller confirms their number (1) or enters another (2)."""

    type: Literal["callback"]
    prompts: Prompts = Field(min_length=1)
    number_prompts: Prompts = ["sound:vm-enter-num-to-call", "sound:vm-then-pound"]
    done_prompts: Prompts = ["sound:auth-thankyou"]
    queue: NodeName | None = None
    timeout: Seconds = 5.0
    attempts: int = Field(3, ge=1, le=10)
    min_digits: int = Field(3, ge=1, le=20)
    max_digits: int = Field(15, ge=1, le=20)
    next: NodeName | None = None
    on_declined: NodeName | None = None


class VoicemailNode(_Model):
    """Take a message for ``queue`` (after a beep; # or hanging up ends it): kept with the
    call and called back from the queue, the message played to the agent first. Then the
    caller hears ``done_prompts`` and the call ends."""

    type: Literal["voicemail"]
    queue: NodeName
    prompts: Prompts = ["sound:vm-intro"]
    done_prompts: Prompts = ["sound:vm-msgsaved", "sound:vm-goodbye"]
    max_seconds: float = Field(120.0, ge=5, le=600)
    silence_seconds: float = Field(10.0, ge=1, le=60)
    min_seconds: float = Field(1.0, ge=0, le=30)


class HangupNode(_Model):
    type: Literal["hangup"]
    prompts: Prompts = []


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | ConditionNode
    | LookupNode
    | LanguageNode
    | GotoNode
    | QueueNode
    | CallbackNode
    | VoicemailNode
    | HangupNode,
    Field(discriminator="type"),
]

TERMINAL_TYPES = ("hangup", "goto", "queue", "voicemail")


# --- calendars ----------------------------------------------------------------------------


class TimeRange(_Model):
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not match:
            raise ValueError(f"{text!r} is not a time range like 08:00-18:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        end = time.max if h2 == 24 and m2 == 0 else _time(h2, m2, text)
        start = _time(h1, m1, text)
        if end <= start:
            raise ValueError(f"{text!r} ends before it starts (split ranges that cross midnight)")
        return cls(start=start, end=end)


def _time(hour: int, minute: int, text: str) -> time:
    try:
        return time(hour, minute)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from exc


def _expand_days(spec: str) -> list[str]:
    spec = spec.strip().lower()
    if spec in ("daily", "every day"):
        return list(WEEKDAYS)
    if spec == "weekdays":
        return list(WEEKDAYS[:5])
    if spec == "weekends":
        return list(WEEKDAYS[5:])
    days: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in WEEKDAYS or last not in WEEKDAYS:
                raise ValueError(f"{part!r} is not a day range like mon-fri")
            i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
            if j < i:
                raise ValueError(f"{part!r} runs backwards")
            days.extend(WEEKDAYS[i : j + 1])
        elif part in WEEKDAYS:
            days.append(part)
        else:
            raise ValueError(f"{part!r} is not a day (mon..sun, weekdays, weekends, daily)")
    return days


class Schedule(_Model):
    """Opening hours in a time zone, by weekday, with holidays (closed all day)."""

    timezone: str
    hours: dict[str, list[TimeRange]]
    holidays: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        # OSError: a folder of the zone database ("America"), a name too long for a file.
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _parse_hours(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        by_day: dict[str, list[TimeRange]] = {day: [] for day in WEEKDAYS}
        for spec, ranges in value.items():
            items = ranges if isinstance(ranges, list) else [ranges]
            parsed = [
                r if isinstance(r, TimeRange) else TimeRange.parse(str(r))
                for r in items
                if r not in (None, "closed")
            ]
            for day in _expand_days(str(spec)):
                by_day[day].extend(parsed)
        return by_day


# --- the flow -----------------------------------------------------------------------------


class Flow(_Model):
    flow: NodeName
    description: str = ""
    dids: list[str] = []
    default: bool = False
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9_]+)?$")] = "en"
    start: NodeName
    error_prompts: Prompts = ["sound:sorry-youre-having-problems", "sound:goodbye"]
    schedules: dict[str, Schedule] = {}
    lists: dict[str, list[str]] = {}
    nodes: dict[NodeName, Node] = Field(min_length=1)

    @field_validator("dids", mode="before")
    @classmethod
    def _dids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @field_validator("lists", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [str(n) for n in v] if isinstance(v, list) else v for k, v in value.items()}
        return value
