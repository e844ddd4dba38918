"""The standard call-center metrics: their parameters, their definitions and one result row.

PostgreSQL counts and sums (``db/metrics_query.py``); the ratios are taken here, in one
place, so that a zero denominator gives ``None`` (shown "n/a"), never a division error.

Definitions (docs: /work/shared/domain.md, "What call centers measure"):

- offered: inbound calls that entered a queue (``queued_at``) in the interval;
- answered: offered calls connected to an agent (``connected_at`` set, ``queue_exit``
  ``connected``); answered within T: also waited ``connected_at - queued_at <= T`` seconds;
- abandoned: ``queue_exit = 'abandoned'`` (a caller who took a callback did not abandon);
  short abandon: an abandon that waited less than the short-abandon threshold;
- service level: see :class:`SlVariant`;
- ASA: mean ``connected_at - queued_at`` of the answered calls;
- handled: answered calls whose conversation is over (``talk_ended_at`` set); AHT: mean
  ``talk + hold + wrap-up`` of the handled calls (queue and ring time excluded); average talk,
  hold and wrap-up over the same calls (a missing hold or wrap-up counts as 0 s);
- abandonment rate: ``(abandoned - short abandons) / (offered - short abandons)`` (short
  abandons excluded, as usual);
- FCR: share of answered calls from a known caller number not followed by another inbound
  call from the same number (digits compared) within the FCR window; anonymous callers
  (no digits) skipped;
- callbacks: ``queue_exit = 'callback'``; transfers: calls with a ``BLINDTRANSFER`` or
  ``ATTENDEDTRANSFER`` event; holds: summed ``hold_count``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SlVariant(StrEnum):
    """How service level treats abandoned calls (``A`` answered, ``A_T`` answered within T,
    ``B`` abandoned, ``S`` short abandons)."""

    #: ``A_T / A``: abandons ignored (Asterisk app_queue's SL).
    ANSWERED = "answered"
    #: ``A_T / (A + B)``: every abandon counts against.
    OFFERED = "offered"
    #: ``A_T / (A + B - S)``: short abandons dropped from the denominator, others count against.
    SHORT_ABANDONS_EXCLUDED = "short_abandons_excluded"
    #: ``(A_T + S) / (A + B)``: short abandons count as calls served in time.
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
) -> float | None:
    """The share (0..1) of calls served within T, by ``variant`` (None: no calls to count)."""
    if variant is SlVariant.ANSWERED:
        return ratio(answered_within_t, answered)
    if variant is SlVariant.OFFERED:
        return ratio(answered_within_t, answered + abandoned)
    if variant is SlVariant.SHORT_ABANDONS_EXCLUDED:
        return ratio(answered_within_t, answered + abandoned - short_abandons)
    return ratio(answered_within_t + short_abandons, answered + abandoned)


@dataclass(frozen=True)
class Counts:
    """What PostgreSQL counts and sums for one group and interval."""

    offered: int = 0
    answered: int = 0
    answered_within_t: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    callbacks: int = 0
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
    callbacks: int
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
    counts: Counts = field(repr=False, compare=False)

    def service_level_as(self, variant: SlVariant) -> float | None:
        """Service level of this row by another variant."""
        c = self.counts
        return service_level(
            variant, c.answered, c.answered_within_t, c.abandoned, c.short_abandons
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
    "callbacks",
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
        callbacks=c.callbacks,
        transfers=c.transfers,
        holds=c.holds,
        handled=c.handled,
        service_level=service_level(
            params.sl_variant, c.answered, c.answered_within_t, c.abandoned, c.short_abandons
        ),
        asa=ratio(c.answer_wait_seconds, c.answered),
        aht=ratio(aht_total, c.handled),
        avg_talk=ratio(c.talk_seconds, c.handled),
        avg_hold=ratio(c.hold_seconds, c.handled),
        avg_wrap_up=ratio(c.wrap_up_seconds, c.handled),
        abandonment_rate=ratio(c.abandoned - c.short_abandons, c.offered - c.short_abandons),
        fcr=ratio(c.fcr_resolved, c.fcr_contacts),
        fcr_contacts=c.fcr_contacts,
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
