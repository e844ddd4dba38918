"""The standard call-center metrics: their parameters, their definitions and one result row.

PostgreSQL counts and sums (``db/metrics_query.py``); the ratios are taken here, in one
place, so that a zero denominator gives ``None`` (shown "n/a"), never a division error.

Definitions (docs/reports.md; /work/shared/domain.md, "What call centers measure"). Per
queue, each *visit* of a call to the queue counts (a call that overflows is offered to both
queues; one transferred to a queue is offered there again), placed in the interval it
entered the queue; per agent, each *segment* (an offer to the agent and what became of it),
placed in the interval it was offered. Campaign calls are not in these figures.

- offered: visits that entered the queue (per agent: offers rung to the agent);
- answered: visits an agent answered; answered within T: after waiting at most T seconds;
- abandoned: the caller hung up while waiting (or an outbound live answer nobody took in
  time); short abandon: an abandon that waited less than the short-abandon threshold;
- timed out / overflowed: left at the queue's maximum wait, with nowhere to go / to the
  overflow queue; with exit key and empty-queue exits they are "unserved";
- service level: see :class:`SlVariant`;
- ASA: mean wait of the answered visits;
- handled: answered segments whose talk is over; AHT: mean ``talk + hold + wrap-up`` of the
  handled segments answered from the queue (per agent: their own segments), queue and ring
  time excluded; talk excludes hold; a missing wrap-up counts as 0 s;
- abandonment rate: ``(abandoned - short abandons) / (offered - short abandons)``; a caller
  who took a callback did not abandon;
- FCR: share of answered calls from a known caller (E.164 number) not followed by another
  inbound call from the same number within the FCR window; calls whose window is still open
  are counted apart (``fcr_open``), neither resolved nor not; anonymous callers skipped;
- callbacks: visits left for a callback; transfers: answered segments the agent ended with a
  transfer; holds: times the caller was put on hold;
- voicemails (per queue): messages left for the queue, placed in the interval they were
  left: those of callers whose wait ran out (their visit also counts as timed out) and
  those of callers who never queued (after hours, the IVR's voicemail node). Their call
  backs count as callbacks' call backs do (for the agent who made them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SlVariant(StrEnum):
    """How service level treats the calls not answered (``A`` answered, ``A_T`` answered
    within T, ``B`` abandoned, ``S`` short abandons, ``X`` the others that left unserved:
    timed out, overflowed, exit key, left an empty queue). Callbacks are in no variant: the
    caller chose to be called back, and the call back is a call of its own."""

    #: ``A_T / A``: only answered calls (Asterisk app_queue's SL).
    ANSWERED = "answered"
    #: ``A_T / (A + B + X)``: every call offered and not served in time counts against.
    OFFERED = "offered"
    #: ``A_T / (A + B + X - S)``: short abandons dropped from the denominator.
    SHORT_ABANDONS_EXCLUDED = "short_abandons_excluded"
    #: ``(A_T + S) / (A + B + X)``: short abandons count as calls served in time.
    SHORT_ABANDONS_COUNT_FOR = "short_abandons_count_for"


class Interval(StrEnum):
    """The length of one report row."""

    M15 = "15m"
    M30 = "30m"
    M60 = "60m"
    DAY = "day"

    @property
    def minutes(self) -> int:
        return {"15m": 15, "30m": 30, "60m": 60, "day": 1440}[self.value]


_INTERVAL_ALIASES = {
    "15m": Interval.M15,
    "15min": Interval.M15,
    "30m": Interval.M30,
    "30min": Interval.M30,
    "60m": Interval.M60,
    "60min": Interval.M60,
    "1h": Interval.M60,
    "hour": Interval.M60,
    "day": Interval.DAY,
    "1d": Interval.DAY,
    "24h": Interval.DAY,
}


class MetricError(ValueError):
    """A parameter a report cannot be made with (the message says which and why)."""


def parse_interval(text: str) -> Interval:
    """``15m``, ``30m``, ``60m`` (or ``1h``) or ``day`` (or ``1d``)."""
    found = _INTERVAL_ALIASES.get(text.strip().lower())
    if found is None:
        raise MetricError(f"interval {text!r}: use 15m, 30m, 60m or day")
    return found


def parse_sl_variant(text: str) -> SlVariant:
    try:
        return SlVariant(text.strip().lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(v.value for v in SlVariant)
        raise MetricError(f"service-level variant {text!r}: use one of {names}") from None


_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)\s*([hdw])$")


def parse_window(text: str) -> timedelta:
    """An FCR window: ``24h``, ``72h``, ``7d``, ``2w`` (hours, days, weeks)."""
    match = _WINDOW.match(text.strip().lower())
    if match is None:
        raise MetricError(f"window {text!r}: write e.g. 24h, 72h, 7d or 2w")
    amount = float(match.group(1))
    unit = {"h": 3600, "d": 86400, "w": 7 * 86400}[match.group(2)]
    window = timedelta(seconds=amount * unit)
    if window <= timedelta(0):
        raise MetricError(f"window {text!r} must be longer than 0")
    return window


def describe_window(window: timedelta) -> str:
    """``7d``, ``24h``, ``90m``: a window as an operator would write it."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


#: At most this many intervals per group when empty intervals are filled in.
MAX_FILLED_INTERVALS = 5000


@dataclass(frozen=True)
class MetricParams:
    """What a report is computed with."""

    #: T, the service-level threshold in seconds ("80/20": T = 20).
    sl_seconds: float = 20.0
    sl_variant: SlVariant = SlVariant.ANSWERED
    #: Abandons that waited less than this are short abandons.
    short_abandon_seconds: float = 5.0
    #: A repeat call from the same number within this window means the first was not resolved.
    fcr_window: timedelta = timedelta(days=7)
    interval: Interval = Interval.DAY
    #: The IANA time zone in which intervals (days, half hours) start.
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if not self.sl_seconds > 0:
            raise MetricError(f"service-level threshold must be above 0 s, not {self.sl_seconds}")
        if not self.short_abandon_seconds >= 0:
            raise MetricError(
                f"short-abandon threshold must be 0 s or more, not {self.short_abandon_seconds}"
            )
        if self.fcr_window <= timedelta(0):
            raise MetricError("FCR window must be longer than 0")
        # Accept the plain strings too (from code or a CLI), stored as the enums.
        object.__setattr__(self, "sl_variant", parse_sl_variant(str(self.sl_variant)))
        object.__setattr__(self, "interval", parse_interval(str(self.interval)))
        zone(self.tz)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (MetricError if unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MetricError(f"unknown time zone {name!r} (use an IANA name: Europe/Paris)") from None


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by."""
    if denominator <= 0:
        return None
    return numerator / denominator


def service_level(
    variant: SlVariant,
    answered: int,
    answered_within_t: int,
    abandoned: int,
    short_abandons: int,
    unserved: int = 0,
) -> float | None:
    """The share (0..1) of calls served within T, by ``variant`` (None: no calls to count);
    ``unserved``: calls that left without an answer or an abandon (timeout, overflow, exit
    key, empty queue)."""
    if variant is SlVariant.ANSWERED:
        return ratio(answered_within_t, answered)
    offered = answered + abandoned + unserved
    if variant is SlVariant.OFFERED:
        return ratio(answered_within_t, offered)
    if variant is SlVariant.SHORT_ABANDONS_EXCLUDED:
        return ratio(answered_within_t, offered - short_abandons)
    return ratio(answered_within_t + short_abandons, offered)


@dataclass(frozen=True)
class Counts:
    """What PostgreSQL counts and sums for one group and interval."""

    offered: int = 0
    answered: int = 0
    answered_within_t: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    #: Left the queue at its maximum wait (with nowhere to go / to the overflow queue).
    timed_out: int = 0
    overflowed: int = 0
    #: Left unserved without abandoning: timed out, overflowed, exit key, empty queue.
    unserved: int = 0
    callbacks: int = 0
    #: Messages left for the queue (its voicemail overflow, or the IVR's voicemail node).
    voicemails: int = 0
    transfers: int = 0
    holds: int = 0
    #: Seconds summed over the answered calls: wait (connected_at - queued_at).
    answer_wait_seconds: float = 0.0
    handled: int = 0
    #: Seconds summed over the handled calls.
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    #: Answered calls from a known number, and those of them without a repeat call.
    fcr_contacts: int = 0
    fcr_resolved: int = 0
    #: Answered calls whose repeat window has not closed yet: neither resolved nor not.
    fcr_open: int = 0
    #: Answered calls whose queue wait is known (per agent: those answered from a queue,
    #: not a transfer or a callback); ASA and service level are over these. None: all.
    waited_answers: int | None = None

    @property
    def answered_from_queue(self) -> int:
        return self.answered if self.waited_answers is None else self.waited_answers


@dataclass(frozen=True)
class MetricRow:
    """One group (queue, agent...) over one interval."""

    group: str
    interval_start: datetime
    offered: int
    answered: int
    answered_within_t: int
    abandoned: int
    short_abandons: int
    timed_out: int
    overflowed: int
    callbacks: int
    voicemails: int
    transfers: int
    holds: int
    handled: int
    #: Shares are 0..1; times are seconds; None when there was nothing to divide by.
    service_level: float | None
    asa: float | None
    aht: float | None
    avg_talk: float | None
    avg_hold: float | None
    avg_wrap_up: float | None
    abandonment_rate: float | None
    fcr: float | None
    fcr_contacts: int
    fcr_open: int
    counts: Counts = field(repr=False, compare=False)

    def service_level_as(self, variant: SlVariant) -> float | None:
        """Service level of this row by another variant."""
        c = self.counts
        return service_level(
            variant,
            c.answered_from_queue,
            c.answered_within_t,
            c.abandoned,
            c.short_abandons,
            c.unserved,
        )

    def as_dict(self) -> dict[str, Any]:
        """The row for CSV / JSON output (the interval start as ISO text)."""
        return {
            name: (self.interval_start.isoformat() if name == "interval_start" else value)
            for name, value in ((f, getattr(self, f)) for f in METRIC_FIELDS if f != "counts")
        }


METRIC_FIELDS = (
    "group",
    "interval_start",
    "offered",
    "answered",
    "answered_within_t",
    "abandoned",
    "short_abandons",
    "timed_out",
    "overflowed",
    "callbacks",
    "voicemails",
    "transfers",
    "holds",
    "handled",
    "service_level",
    "asa",
    "aht",
    "avg_talk",
    "avg_hold",
    "avg_wrap_up",
    "abandonment_rate",
    "fcr",
    "fcr_contacts",
    "fcr_open",
)


def metric_row(group: str, interval_start: datetime, c: Counts, params: MetricParams) -> MetricRow:
    """The metrics of one group and interval from its counts."""
    aht_total = c.talk_seconds + c.hold_seconds + c.wrap_up_seconds
    return MetricRow(
        group=group,
        interval_start=interval_start,
        offered=c.offered,
        answered=c.answered,
        answered_within_t=c.answered_within_t,
        abandoned=c.abandoned,
        short_abandons=c.short_abandons,
        timed_out=c.timed_out,
        overflowed=c.overflowed,
        callbacks=c.callbacks,
        voicemails=c.voicemails,
        transfers=c.transfers,
        holds=c.holds,
        handled=c.handled,
        service_level=service_level(
            params.sl_variant,
            c.answered_from_queue,
            c.answered_within_t,
            c.abandoned,
            c.short_abandons,
            c.unserved,
        ),
        asa=ratio(c.answer_wait_seconds, c.answered_from_queue),
        aht=ratio(aht_total, c.handled),
        avg_talk=ratio(c.talk_seconds, c.handled),
        avg_hold=ratio(c.hold_seconds, c.handled),
        avg_wrap_up=ratio(c.wrap_up_seconds, c.handled),
        abandonment_rate=ratio(c.abandoned - c.short_abandons, c.offered - c.short_abandons),
        fcr=ratio(c.fcr_resolved, c.fcr_contacts),
        fcr_contacts=c.fcr_contacts,
        fcr_open=c.fcr_open,
        counts=c,
    )


# --- outbound campaigns -------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    """One campaign over one interval: its dial attempts and its calls."""

    group: str
    interval_start: datetime
    dials: int
    live: int
    dropped: int
    connects: int
    contacts: int
    handled: int
    #: dropped / live answers (the regulated abandonment rate).
    abandonment_rate: float | None
    aht: float | None
    dials_per_hour: float | None
    connects_per_hour: float | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f) for f in CAMPAIGN_FIELDS}
        out["interval_start"] = self.interval_start.isoformat()
        return out


CAMPAIGN_FIELDS = (
    "group",
    "interval_start",
    "dials",
    "live",
    "dropped",
    "connects",
    "contacts",
    "handled",
    "abandonment_rate",
    "aht",
    "dials_per_hour",
    "connects_per_hour",
)


# --- post-call surveys --------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyRow:
    """Post-call survey answers of one group over one interval."""

    group: str
    interval_start: datetime
    surveys: int
    rated: int
    satisfied: int
    #: Share of ratings 4 or 5 among rated calls.
    csat: float | None
    resolved_answers: int
    resolved: int
    #: Share answering "resolved" among those who answered the question.
    fcr: float | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f) for f in SURVEY_FIELDS}
        out["interval_start"] = self.interval_start.isoformat()
        return out


SURVEY_FIELDS = (
    "group",
    "interval_start",
    "surveys",
    "rated",
    "satisfied",
    "csat",
    "resolved_answers",
    "resolved",
    "fcr",
)


# --- agent time (from agent states) -------------------------------------------------------

#: The key of ``paused_by_reason`` for paused time whose row gives no reason.
NO_PAUSE_REASON = "(no reason)"


@dataclass(frozen=True)
class AgentTimeRow:
    """Where one agent's time went over one interval, from the agent's states
    (``agent_events``: a state lasts from its row to the agent's next row). Seconds.

    - logged in: every state but ``logged_out``; paused: ``paused`` (by the row's reason);
      available, ringing, talk (``on_call``), hold (``on_hold``), wrap-up (``wrap_up``);
    - handle = talk + hold + wrap-up; calls: ``CONNECT`` rows in the interval;
    - occupancy = handle / (logged in - paused); utilisation = handle / logged in;
      calls per hour = calls / ((logged in - paused) / 3600).
    """

    group: str
    interval_start: datetime
    logged_in_seconds: float
    paused_seconds: float
    paused_by_reason: dict[str, float]
    available_seconds: float
    ringing_seconds: float
    talk_seconds: float
    hold_seconds: float
    wrap_up_seconds: float
    handle_seconds: float
    calls: int
    #: Shares are 0..1; None when there was no (unpaused) logged-in time.
    occupancy: float | None
    utilisation: float | None
    calls_per_hour: float | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f) for f in AGENT_TIME_FIELDS}
        out["interval_start"] = self.interval_start.isoformat()
        out["paused_by_reason"] = dict(self.paused_by_reason)
        return out


AGENT_TIME_FIELDS = (
    "group",
    "interval_start",
    "logged_in_seconds",
    "paused_seconds",
    "paused_by_reason",
    "available_seconds",
    "ringing_seconds",
    "talk_seconds",
    "hold_seconds",
    "wrap_up_seconds",
    "handle_seconds",
    "calls",
    "occupancy",
    "utilisation",
    "calls_per_hour",
)


def agent_time_row(
    group: str,
    interval_start: datetime,
    *,
    logged_in: float,
    paused: float,
    paused_by_reason: dict[str, float],
    available: float,
    ringing: float,
    talk: float,
    hold: float,
    wrap_up: float,
    calls: int,
) -> AgentTimeRow:
    """One agent's interval from the seconds summed per state and the calls connected."""
    handle = talk + hold + wrap_up
    working = logged_in - paused
    return AgentTimeRow(
        group=group,
        interval_start=interval_start,
        logged_in_seconds=logged_in,
        paused_seconds=paused,
        paused_by_reason=paused_by_reason,
        available_seconds=available,
        ringing_seconds=ringing,
        talk_seconds=talk,
        hold_seconds=hold,
        wrap_up_seconds=wrap_up,
        handle_seconds=handle,
        calls=calls,
        occupancy=ratio(handle, working),
        utilisation=ratio(handle, logged_in),
        calls_per_hour=ratio(calls, working / 3600),
    )
