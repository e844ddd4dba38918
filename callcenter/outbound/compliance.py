"""May this number be dialed now, under this campaign's rules? One pure answer.

``check`` is the only gate between a lead and an originate: it takes the number (its time
zones and country), the campaign's ``Policy``, the moment (``now``, an aware datetime passed in:
this module never reads a clock, a database or the network), the number's past attempts, its
do-not-call facts and the dial settings, and returns a ``Verdict``. Naive datetimes are refused
with ``ValueError`` everywhere, never taken for UTC.

Rules, in the order they are evaluated (``check`` returns the first refusal, ``refusals`` all
of them). Refusals a lead cannot wait out come first, so that a dialer closing or pausing on
the first refusal never reschedules a number that must not be called at all; then refusals
that hold back the whole campaign; then the ones that pass with time, each with ``retry_at``.

==  ======================  ===================================================  ===========
#   rule                    refuses when                                         retry_at
==  ======================  ===================================================  ===========
1   dnc_internal            an internal DNC entry in force (dated or forever)    its expiry
2   dnc_national            the number is on the national list (whenever the     None
                            facts say so, even if the campaign does not require
                            the list: a known listing is honoured)
3   bad_time_zone           no time zone, or a name that is not an IANA zone     None
4   dnc_national_missing    the campaign requires a national list, none loaded   None
5   dnc_national_stale      the loaded list's data is older than the max age     None
6   ring_too_short          the dial would ring less than ``min_ring_seconds``   None
7   abandon_limit           a given abandonment rate (24 h or 30 d) >= limit     None
8   holiday                 the local date is a holiday in any of the zones      next opening
                            (the campaign's or the callee country's)
9   calling_hours           the local time is outside a window in any zone       next opening
                            (the campaign's hours within the legal ones)
10  cap_24h                 ``max_calls_24h`` attempts in the last 24 h          roll-off
11  cap_30d                 ``max_calls_30d`` attempts in the last 30 days       roll-off
12  uk_abandoned_72h        UK mode, a dropped call in the last 72 h             drop + 72 h
13  uk_machine_24h          UK mode, an AMD-detected machine in the last 24 h    machine + 24 h
==  ======================  ===================================================  ===========

Calling hours (``hours_for``): a campaign's hours narrow the law, never widen it. For a
country with legal hours (``LEGAL_HOURS``: US and its territories, Canada, France) the hours
that apply are the campaign's intersected with the law's, with both lists of holidays (the
French public holidays are built in); a campaign without hours gets the law's. For a country
with no legal hours known (the UK, Germany, ...) the campaign's hours apply alone, and a
campaign without hours gets ``REGION_HOURS``' default, 08:00-21:00 every day. The country is
the lead's ``region``, else the one its number belongs to.

Boundaries, all half-open so that ``retry_at`` is itself allowed:

- a calling window ``(start, end)`` holds from ``start`` included to ``end`` excluded, in the
  callee's local wall-clock time (zoneinfo; so 08:00-21:00 allows 08:00:00 and refuses
  21:00:00; an end of "24:00" runs to midnight); a number with several possible zones is
  called only when every zone allows it;
- a DNC entry holds while ``now < until``: at its expiry the number may be called;
- an attempt counts for a cap (or blocks in UK mode) while ``now - at < period``: exactly 24 h
  (30 d, 72 h) after it was placed it no longer does; every attempt counts whatever its result
  (a failed or busy attempt is still an attempt), and attempts stamped after ``now`` (another
  dialer's clock running ahead) count too;
- a national list is stale when the UTC date of ``now`` minus the list's data date exceeds
  ``national_dnc_max_age`` (31 days old passes, 32 days old does not).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

__all__ = [
    "CAMPAIGN_RULES",
    "DAY_NAMES",
    "END_OF_DAY",
    "LEGAL_HOURS",
    "NUMBER_RULES",
    "OPENING_HORIZON",
    "REGION_HOURS",
    "RULES",
    "CallRefused",
    "CallingHours",
    "ComplianceConfigError",
    "DncFacts",
    "PastAttempt",
    "Policy",
    "Target",
    "Verdict",
    "check",
    "hours_for",
    "refusals",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()

# How far ahead a next opening is looked for; beyond it the answer is "unknown" (None).
OPENING_HORIZON = timedelta(days=14)

# Every rule name a refusal can carry, in evaluation order.
RULES = (
    "dnc_internal",
    "dnc_national",
    "bad_time_zone",
    "dnc_national_missing",
    "dnc_national_stale",
    "ring_too_short",
    "abandon_limit",
    "holiday",
    "calling_hours",
    "cap_24h",
    "cap_30d",
    "uk_abandoned_72h",
    "uk_machine_24h",
)

# Refusals about the number itself that no wait lifts (with ``retry_at`` None: the internal
# entry is forever, the number is listed, its zone is unknown): close the lead.
NUMBER_RULES = frozenset({"dnc_internal", "dnc_national", "bad_time_zone"})
# Refusals about the campaign, not the number: every lead gets the same one until someone
# loads a national list, fixes the ring time or the drop rate falls. Pause or alert; do not
# close or reschedule leads on them.
CAMPAIGN_RULES = frozenset(
    {"dnc_national_missing", "dnc_national_stale", "ring_too_short", "abandon_limit"}
)

CAP_24H = timedelta(hours=24)
CAP_30D = timedelta(days=30)
UK_AFTER_DROP = timedelta(hours=72)
UK_AFTER_MACHINE = timedelta(hours=24)

Window = tuple[time, time]


class ComplianceConfigError(ValueError):
    """A calling-hours or policy setting that cannot be right (says which and why)."""


class CallRefused(Exception):
    """Raised by ``Verdict.require`` for a refused call."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(f"{verdict.rule}: {verdict.reason}")
        self.verdict = verdict


def _require_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must be a timezone-aware datetime, got the naive {value.isoformat()}"
        )


# --- calling hours ------------------------------------------------------------------------


# A window's end meaning "until midnight", the whole rest of the day ("24:00" in JSON).
END_OF_DAY = time.max


def _format_time(value: time) -> str:
    if value == END_OF_DAY:
        return "24:00"
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


_TIME_TEXT = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _parse_time(text: object, where: str, *, end: bool = False) -> time:
    if not isinstance(text, str):
        raise ComplianceConfigError(f'{where}: expected a time like "08:00", got {text!r}')
    match = _TIME_TEXT.fullmatch(text.strip())
    if match is None:
        raise ComplianceConfigError(f'{where}: {text!r} is not a time like "08:00" or "08:00:30"')
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if end and (hour, minute, second) == (24, 0, 0):
        return END_OF_DAY
    if hour > 23 or minute > 59 or second > 59:
        raise ComplianceConfigError(
            f"{where}: {text!r} is not a time of day (00:00 to 23:59:59, or 24:00 as an end)"
        )
    return time(hour, minute, second)


def _parse_date(text: object, where: str) -> date:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise ComplianceConfigError(f'{where}: expected a date like "2026-12-25", got {text!r}')
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ComplianceConfigError(f"{where}: {text!r} is not a calendar date") from None


def _describe_windows(windows: Sequence[Window]) -> str:
    if not windows:
        return "no calls that day"
    return ", ".join(f"{_format_time(s)}-{_format_time(e)}" for s, e in windows)


@dataclass(frozen=True)
class CallingHours:
    """When calls may be placed, in the callee's local wall-clock time.

    ``days`` maps a weekday (0 = Monday .. 6 = Sunday) to its windows ``(start, end)``, start
    included, end excluded; a weekday missing from the mapping, or with no windows, has no
    calls. Windows may overlap (their union counts); they are kept sorted. ``holidays`` are
    local dates with no calls. Times are naive, whole seconds, and ``start < end``; an end of
    ``END_OF_DAY`` (``time.max``, "24:00") runs to midnight. A window cannot cross midnight:
    split it into two days' windows.
    """

    days: Mapping[int, tuple[Window, ...]]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.days, Mapping):
            raise ComplianceConfigError("days must map weekday numbers (0=Monday) to windows")
        days: dict[int, tuple[Window, ...]] = {}
        for day, windows in self.days.items():
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise ComplianceConfigError(f"weekday {day!r}: expected 0 (Monday) to 6 (Sunday)")
            days[day] = tuple(sorted(self._check_window(day, w) for w in windows))
        for day in range(7):
            days.setdefault(day, ())
        object.__setattr__(self, "days", MappingProxyType(dict(sorted(days.items()))))
        holidays = frozenset(self.holidays)
        for holiday in holidays:
            if isinstance(holiday, datetime) or not isinstance(holiday, date):
                raise ComplianceConfigError(f"holiday {holiday!r}: expected a date")
        object.__setattr__(self, "holidays", holidays)

    @staticmethod
    def _check_window(day: int, window: object) -> Window:
        where = f"{DAY_NAMES[day]} window {window!r}"
        if not isinstance(window, tuple | list) or len(window) != 2:
            raise ComplianceConfigError(f"{where}: expected a (start, end) pair")
        start, end = window
        for value in (start, end):
            if not isinstance(value, time):
                raise ComplianceConfigError(f"{where}: {value!r} is not a time")
            if value.tzinfo is not None:
                raise ComplianceConfigError(f"{where}: times are local wall-clock, without zone")
            if value.microsecond and value != END_OF_DAY:  # (as a start it fails below)
                raise ComplianceConfigError(f"{where}: times are given to the second")
        if not start < end:
            raise ComplianceConfigError(
                f"{DAY_NAMES[day]} window {_format_time(start)}-{_format_time(end)}: "
                "the end must come after the start (a window cannot cross midnight)"
            )
        return (start, end)

    def __hash__(self) -> int:
        return hash((tuple(self.days.items()), self.holidays))

    @classmethod
    def default(cls) -> CallingHours:
        """08:00-21:00 every day: the US federal rule (47 CFR 64.1200(c)(1), 16 CFR 310.4(c))."""
        return _DEFAULT_HOURS

    @classmethod
    def every_day(cls, *windows: Window, holidays: frozenset[date] = frozenset()) -> CallingHours:
        """The same windows every day of the week."""
        return cls({day: tuple(windows) for day in range(7)}, holidays)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CallingHours:
        """Read the form stored with a campaign::

            {"days": {"mon": [["08:00", "21:00"]], "sat": [], ...}, "holidays": ["2026-12-25"]}

        A day left out gets the default window (08:00-21:00); ``[]`` means no calls that day;
        ``{}`` is the default. Day names are the first three letters, in any case.
        """
        if not isinstance(value, Mapping):
            raise ComplianceConfigError(f"calling hours: expected an object, got {value!r}")
        unknown = set(value) - {"days", "holidays"}
        if unknown:
            raise ComplianceConfigError(
                f"calling hours: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                'expected "days" and "holidays"'
            )
        raw_days = value.get("days", {})
        if not isinstance(raw_days, Mapping):
            raise ComplianceConfigError(
                f'calling hours: "days" must be an object, got {raw_days!r}'
            )
        days: dict[int, tuple[Window, ...]] = {day: (_DEFAULT_WINDOW,) for day in range(7)}
        seen: set[int] = set()
        for name, raw_windows in raw_days.items():
            key = name.strip().lower() if isinstance(name, str) else name
            if key not in DAY_NAMES:
                raise ComplianceConfigError(
                    f"calling hours: unknown day {name!r}; expected one of {', '.join(DAY_NAMES)}"
                )
            day = DAY_NAMES.index(key)
            if day in seen:
                raise ComplianceConfigError(f"calling hours: day {key!r} is given twice")
            seen.add(day)
            if not isinstance(raw_windows, list | tuple):
                raise ComplianceConfigError(
                    f"calling hours, {key}: expected a list of [start, end] pairs, "
                    f"got {raw_windows!r}"
                )
            windows: list[Window] = []
            for raw in raw_windows:
                where = f"calling hours, {key} window {raw!r}"
                if not isinstance(raw, list | tuple) or len(raw) != 2:
                    raise ComplianceConfigError(f"{where}: expected [start, end]")
                start, end = _parse_time(raw[0], where), _parse_time(raw[1], where, end=True)
                if not start < end:
                    raise ComplianceConfigError(
                        f"{where}: the end must come after the start "
                        "(a window cannot cross midnight)"
                    )
                windows.append((start, end))
            days[day] = tuple(windows)
        raw_holidays = value.get("holidays", [])
        if not isinstance(raw_holidays, list | tuple):
            raise ComplianceConfigError(
                f'calling hours: "holidays" must be a list of dates, got {raw_holidays!r}'
            )
        holidays = frozenset(_parse_date(h, "calling hours, holidays") for h in raw_holidays)
        return cls(days, holidays)

    def to_json(self) -> dict[str, Any]:
        """The ``from_json`` form, every day spelled out, holidays sorted."""
        return {
            "days": {
                DAY_NAMES[day]: [[_format_time(s), _format_time(e)] for s, e in windows]
                for day, windows in self.days.items()
            },
            "holidays": [h.isoformat() for h in sorted(self.holidays)],
        }

    def describe(self, weekday: int) -> str:
        """The windows of a weekday for a sentence: "10:00-13:00, 14:00-20:00"."""
        return _describe_windows(self.days[weekday])

    def allows(self, local: datetime) -> bool:
        """Whether the wall-clock reading of ``local`` (aware, in the callee's zone) is inside
        a window and not on a holiday."""
        _require_aware(local, "local")
        if local.date() in self.holidays:
            return False
        wall = local.time()
        return any(
            start <= wall and (wall < end or end == END_OF_DAY)
            for start, end in self.days[local.weekday()]
        )

    def next_opening(self, local: datetime) -> datetime | None:
        """The earliest moment at or after ``local`` that ``allows``, in ``local``'s zone, or
        None when there is none within ``OPENING_HORIZON``.

        Exact across DST changes: the moments where an allowed stretch can begin are a window's
        start (either reading of an ambiguous wall time) and the instants where the zone's UTC
        offset changes (the clock jumping into a window); the earliest of those that is allowed
        is the answer.
        """
        _require_aware(local, "local")
        if self.allows(local):
            return local
        zone = local.tzinfo
        assert zone is not None  # _require_aware
        begin = local.astimezone(UTC)
        horizon = begin + OPENING_HORIZON
        low = begin
        while low < horizon:  # a day at a time: the answer is nearly always within the first
            high = min(low + timedelta(days=1), horizon)
            candidates = set(_offset_changes(zone, low, high))
            # From the day before: a fall-back at midnight brings yesterday's date back.
            day = low.astimezone(zone).date() - timedelta(days=1)
            last = high.astimezone(zone).date() + timedelta(days=1)
            while day <= last:
                if day not in self.holidays:
                    for start, _ in self.days[day.weekday()]:
                        wall = datetime.combine(day, start, tzinfo=zone)
                        candidates.add(wall.astimezone(UTC))
                        candidates.add(wall.replace(fold=1).astimezone(UTC))
                day += timedelta(days=1)
            for moment in sorted(c for c in candidates if low < c <= high):
                there = moment.astimezone(zone)
                if self.allows(there):
                    return there
            low = high
        return None


def _offset_changes(zone: tzinfo, begin: datetime, end: datetime) -> Iterator[datetime]:
    """The UTC instants in (begin - 1 s, end] where ``zone``'s UTC offset changes: hourly
    samples, then a search to the second (zone transitions fall on whole seconds; two changes
    within one hour are not seen, and no zone has them)."""
    base = begin.astimezone(UTC).replace(microsecond=0)
    hours = math.ceil((end - base) / timedelta(hours=1))

    def offset(seconds: int) -> timedelta | None:
        return (base + timedelta(seconds=seconds)).astimezone(zone).utcoffset()

    before = offset(0)
    for hour in range(1, hours + 1):
        after = offset(hour * 3600)
        if after != before:
            low, high = (hour - 1) * 3600, hour * 3600  # offset(low) == before != offset(high)
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == before:
                    low = middle
                else:
                    high = middle
            yield base + timedelta(seconds=high)
        before = after


_DEFAULT_WINDOW: Window = (time(8), time(21))
_DEFAULT_HOURS = CallingHours({day: (_DEFAULT_WINDOW,) for day in range(7)})


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _french_public_holidays(first_year: int, last_year: int) -> frozenset[date]:
    """The eleven national jours fériés (Code du travail L3133-1), Alsace-Moselle's two extra
    days (Good Friday, 26 December) not included."""
    days: set[date] = set()
    for year in range(first_year, last_year + 1):
        easter = _easter(year)
        days.update(
            {
                date(year, 1, 1),
                easter + timedelta(days=1),  # lundi de Pâques
                date(year, 5, 1),
                date(year, 5, 8),
                easter + timedelta(days=39),  # Ascension
                easter + timedelta(days=50),  # lundi de Pentecôte
                date(year, 7, 14),
                date(year, 8, 15),
                date(year, 11, 1),
                date(year, 11, 11),
                date(year, 12, 25),
            }
        )
    return frozenset(days)


_FR_WEEKDAY = ((time(10), time(13)), (time(14), time(20)))

# Calling hours set by law, by the number's country (ISO 3166, as phonenumbers names it). A
# campaign's own hours are narrowed to these (``hours_for``): a setting never widens the law.
LEGAL_HOURS: Mapping[str, CallingHours] = MappingProxyType(
    {
        # 47 CFR 64.1200(c)(1) / 16 CFR 310.4(c): not before 08:00 nor after 21:00 local time.
        # Some states are stricter; a campaign calling them sets its own hours. The US
        # territories with their own country code in the numbering plan are under the same rule.
        **dict.fromkeys(("US", "PR", "VI", "GU", "AS", "MP"), _DEFAULT_HOURS),
        # Décret 2022-1313 (Code de la consommation): Monday to Friday 10:00-13:00 and
        # 14:00-20:00, never on Saturdays, Sundays or public holidays (national ones for
        # 2020-2060 built in; Alsace-Moselle's Good Friday and 26 December are not).
        "FR": CallingHours(
            {day: _FR_WEEKDAY for day in range(5)}, _french_public_holidays(2020, 2060)
        ),
        # CRTC Unsolicited Telecommunications Rules: weekdays 09:00-21:30, weekends
        # 10:00-18:00. Listed so a Canadian number does not fall back to the looser US hours.
        "CA": CallingHours(
            {
                **{day: ((time(9), time(21, 30)),) for day in range(5)},
                **{day: ((time(10), time(18)),) for day in (5, 6)},
            }
        ),
    }
)

# Built-in calling hours by the number's country, used when a campaign sets none: the legal
# ones, plus defaults where no law sets hours.
REGION_HOURS: Mapping[str, CallingHours] = MappingProxyType(
    {
        **LEGAL_HOURS,
        # Ofcom's persistent-misuse policy sets no calling hours. We use the US rule,
        # 08:00-21:00 every day, which matches common UK practice; campaigns wanting quieter
        # hours (no Sundays, earlier evenings) set their own, and those then apply alone.
        "GB": _DEFAULT_HOURS,
    }
)


def _merged(windows: Sequence[Window]) -> list[Window]:
    """Sorted windows with overlapping or touching ones joined."""
    joined: list[Window] = []
    for start, end in sorted(windows):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


@lru_cache(maxsize=256)
def _narrowed(campaign: CallingHours, legal: CallingHours) -> CallingHours:
    """The moments both allow: each day's windows intersected, the holidays of both."""
    days: dict[int, tuple[Window, ...]] = {}
    for day in range(7):
        days[day] = tuple(
            (max(start, other_start), min(end, other_end))
            for start, end in _merged(campaign.days[day])
            for other_start, other_end in _merged(legal.days[day])
            if max(start, other_start) < min(end, other_end)
        )
    return CallingHours(days, campaign.holidays | legal.holidays)


def hours_for(policy: Policy, region: str | None) -> CallingHours:
    """The hours that apply to a number of ``region`` (its ISO country; None: unknown):

    - a country with legal hours (``LEGAL_HOURS``): the campaign's hours intersected with the
      law's (both holiday lists), or the law's alone when the campaign sets none;
    - any other country, or an unknown one: the campaign's hours, else the built-in
      ``REGION_HOURS`` default of the country, else the US rule (08:00-21:00 every day).
    """
    key = (region or "").strip().upper()
    if policy.hours is None:
        return REGION_HOURS.get(key or "US", _DEFAULT_HOURS)
    legal = LEGAL_HOURS.get(key)
    if legal is None:
        return policy.hours
    return _narrowed(policy.hours, legal)


def _region_of(target: Target) -> str | None:
    """The callee's country: the lead's, else the one its E.164 number belongs to (a +1 number
    phonenumbers cannot place counts as US, the looser of the NANP laws it knows), else None."""
    if target.region is not None and target.region.strip():
        return target.region
    try:
        parsed = phonenumbers.parse(target.number, None)
    except phonenumbers.NumberParseException:
        return None
    found = phonenumbers.region_code_for_number(parsed)
    if found and found != "001":
        return str(found)
    return "US" if parsed.country_code == 1 else None


# --- what check takes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One campaign's rules. ``hours``: the campaign's calling hours, which only narrow the
    legal hours of the callee's country (``hours_for``); None: the callee country's
    ``REGION_HOURS`` (the US rule if unknown). A cap of None: no cap. ``uk_mode``: Ofcom's
    no-repeat rules (72 h after a dropped call, 24 h after an AMD-detected machine)."""

    hours: CallingHours | None
    max_calls_24h: int | None = 3
    max_calls_30d: int | None = None
    uk_mode: bool = False
    national_dnc_required: bool = False
    national_dnc_max_age: timedelta = timedelta(days=31)
    min_ring_seconds: int = 15
    abandon_limit: float = 0.03

    def __post_init__(self) -> None:
        if self.hours is not None and not isinstance(self.hours, CallingHours):
            raise ComplianceConfigError(f"hours: expected CallingHours or None, got {self.hours!r}")
        for name in ("max_calls_24h", "max_calls_30d"):
            cap = getattr(self, name)
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
                raise ComplianceConfigError(f"{name}: expected a whole number >= 1 or None")
        if self.national_dnc_max_age < timedelta(0):
            raise ComplianceConfigError("national_dnc_max_age cannot be negative")
        if self.min_ring_seconds < 0:
            raise ComplianceConfigError("min_ring_seconds cannot be negative")
        if not 0 < self.abandon_limit < 1:  # also refuses NaN
            raise ComplianceConfigError(
                f"abandon_limit: expected a share between 0 and 1, got {self.abandon_limit!r}"
            )


@dataclass(frozen=True)
class Target:
    """Who would be dialed: an E.164 number, the IANA zones it may be in (the call must be legal
    in every one of them) and its ISO country (None: unknown)."""

    number: str
    time_zones: tuple[str, ...]
    region: str | None

    def __post_init__(self) -> None:
        if isinstance(self.time_zones, str):
            raise TypeError("time_zones must be a sequence of zone names, not one string")
        object.__setattr__(self, "time_zones", tuple(self.time_zones))


@dataclass(frozen=True)
class PastAttempt:
    """An earlier dial of the number: when it was placed and how it ended ("connected",
    "dropped", "machine", "no_answer", "busy", ...)."""

    at: datetime
    result: str

    def __post_init__(self) -> None:
        _require_aware(self.at, "PastAttempt.at")


@dataclass(frozen=True)
class DncFacts:
    """What the do-not-call lists say about the number. ``internal_until``: the longest-running
    internal entry's expiry ("forever" for none; None when not listed). ``national_data_date``:
    the date of the loaded national list's data (None: no national list loaded)."""

    internal_until: datetime | Literal["forever"] | None
    national_listed: bool
    national_data_date: date | None

    def __post_init__(self) -> None:
        if isinstance(self.internal_until, str):
            if self.internal_until != "forever":
                raise ValueError(
                    f'internal_until: expected a datetime, None or "forever", '
                    f"got {self.internal_until!r}"
                )
        elif self.internal_until is not None:
            _require_aware(self.internal_until, "DncFacts.internal_until")
        if isinstance(self.national_data_date, datetime):
            raise TypeError("national_data_date must be a date, not a datetime")

    @classmethod
    def clear(cls) -> DncFacts:
        """Not on any list, no national list loaded."""
        return cls(internal_until=None, national_listed=False, national_data_date=None)


@dataclass(frozen=True)
class Verdict:
    """``allowed``, or the refusing ``rule`` (one of ``RULES``), a sentence for operators and
    ``retry_at``: the earliest moment (UTC) that rule could pass, None when it never will or
    time alone cannot tell (a config or data problem)."""

    allowed: bool
    rule: str
    reason: str
    retry_at: datetime | None

    def require(self) -> None:
        """Raise ``CallRefused`` unless allowed: call it right before placing the call."""
        if not self.allowed:
            raise CallRefused(self)

    @property
    def final(self) -> bool:
        """The number must not be dialed again (a forever DNC entry, a national listing, a
        time zone that does not exist) until its data changes: close the lead. Not true of a
        ``retry_at`` of None for any other rule, which means "unknown", not "never"."""
        return not self.allowed and self.retry_at is None and self.rule in NUMBER_RULES

    @property
    def campaign_wide(self) -> bool:
        """The refusal is the campaign's (``CAMPAIGN_RULES``): it says nothing about the
        number, and every other lead would get it too."""
        return not self.allowed and self.rule in CAMPAIGN_RULES


_ALLOWED = Verdict(allowed=True, rule="", reason="", retry_at=None)


def _refuse(rule: str, reason: str, retry_at: datetime | None = None) -> Verdict:
    return Verdict(
        allowed=False,
        rule=rule,
        reason=reason,
        retry_at=None if retry_at is None else retry_at.astimezone(UTC),
    )


# --- the rules ------------------------------------------------------------------------------

_BAD_ZONE_NAMES = frozenset({"localtime", "posixrules", "Factory"})


def _zone(name: object) -> ZoneInfo | None:
    """The IANA zone of that name; None for anything else (including the server's own
    ``localtime`` and the ``posix/``, ``right/`` variants)."""
    if not isinstance(name, str) or not name or name != name.strip():
        return None
    if name in _BAD_ZONE_NAMES or name.startswith(("posix/", "right/")):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _local_text(local: datetime) -> str:
    return local.strftime("%H:%M on %a %Y-%m-%d")


def _common_opening(
    hours: CallingHours, zones: Sequence[ZoneInfo], now: datetime
) -> datetime | None:
    """The earliest moment at or after ``now`` that every zone allows (UTC), or None when none
    is found within ``OPENING_HORIZON`` of ``now``. Each zone's next opening is a lower bound;
    jump to the latest until they agree."""
    moment = now.astimezone(UTC)
    horizon = moment + OPENING_HORIZON
    while moment <= horizon:
        latest = moment
        for zone in zones:
            there = moment.astimezone(zone)
            if hours.allows(there):
                continue
            opening = hours.next_opening(there)
            if opening is None:
                return None
            latest = max(latest, opening.astimezone(UTC))
        if latest == moment:
            return moment
        moment = latest
    return None


def _rolled_off(
    history: Sequence[PastAttempt], now: datetime, period: timedelta, cap: int
) -> tuple[int, datetime | None]:
    """How many attempts count within ``period`` before ``now`` and, at or over ``cap``, when
    enough of them have rolled off for one more call."""
    counted = sorted(at for at in (a.at.astimezone(UTC) for a in history) if now - at < period)
    if len(counted) < cap:
        return len(counted), None
    return len(counted), counted[len(counted) - cap] + period


def _last(
    history: Sequence[PastAttempt], result: str, now: datetime, period: timedelta
) -> datetime | None:
    recent = [a.at.astimezone(UTC) for a in history if a.result == result]
    return max((at for at in recent if now - at < period), default=None)


def _evaluate(  # ``now`` in UTC: all arithmetic on instants, never on wall clocks
    target: Target,
    policy: Policy,
    now: datetime,
    history: Sequence[PastAttempt],
    dnc: DncFacts,
    ring_seconds: int,
    abandonment: tuple[float, float] | None,
) -> Iterator[Verdict]:
    # 1-2. Do-not-call: the number's own listings.
    until = dnc.internal_until
    if until == "forever":
        yield _refuse("dnc_internal", "The number is on the internal do-not-call list for good.")
    elif isinstance(until, datetime) and now < until.astimezone(UTC):
        yield _refuse(
            "dnc_internal",
            f"The number is on the internal do-not-call list until {_utc_text(until)}.",
            until,
        )
    if dnc.national_listed:
        yield _refuse("dnc_national", "The number is on the national do-not-call registry.")

    # 3. Where the callee is: without a known zone the local time cannot be known.
    zones: list[ZoneInfo] = []
    bad = [name for name in target.time_zones if _zone(name) is None]
    if not target.time_zones:
        yield _refuse("bad_time_zone", "No time zone is known for the number.")
    elif bad:
        yield _refuse(
            "bad_time_zone",
            f"Unknown time zone {', '.join(map(repr, bad))} for the number; fix the lead.",
        )
    else:
        zones = [z for z in map(_zone, target.time_zones) if z is not None]

    # 4-5. The campaign's national list.
    if policy.national_dnc_required:
        if dnc.national_data_date is None:
            yield _refuse(
                "dnc_national_missing",
                "The campaign requires a national do-not-call list and none is loaded.",
            )
        else:
            age = now.date() - dnc.national_data_date
            if age > policy.national_dnc_max_age:
                yield _refuse(
                    "dnc_national_stale",
                    f"The national do-not-call data is from {dnc.national_data_date.isoformat()}, "
                    f"{age.days} days old, more than the {policy.national_dnc_max_age.days} days "
                    "allowed; import a fresh copy.",
                )

    # 6-7. How the call would be placed.
    if ring_seconds < policy.min_ring_seconds:
        yield _refuse(
            "ring_too_short",
            f"Calls would ring {ring_seconds} s, less than the {policy.min_ring_seconds} s "
            "minimum.",
        )
    if abandonment is not None:
        day, month = abandonment
        limit = policy.abandon_limit
        # NaN (no way to tell) counts as over the limit.
        if not (day < limit and month < limit):
            yield _refuse(
                "abandon_limit",
                f"The campaign's abandonment rate ({day:.1%} over 24 h, {month:.1%} over 30 days) "
                f"is at or over its {limit:.1%} limit.",
            )

    # 8-9. Local calling hours, in every zone the callee may be in.
    if zones:
        hours = hours_for(policy, _region_of(target))
        holiday: tuple[ZoneInfo, datetime] | None = None
        closed: tuple[ZoneInfo, datetime] | None = None
        for zone in zones:
            there = now.astimezone(zone)
            if holiday is None and there.date() in hours.holidays:
                holiday = (zone, there)
            if closed is None and not hours.allows(there):
                closed = (zone, there)
        if closed is not None:
            retry = _common_opening(hours, zones, now)
            when = (
                f" The next opening is {_utc_text(retry)}."
                if retry is not None
                else " No opening within the next 14 days."
            )
            if holiday is not None:
                zone, there = holiday
                yield _refuse(
                    "holiday",
                    f"{there.date().isoformat()} is a holiday in {zone.key}.{when}",
                    retry,
                )
            else:
                zone, there = closed
                yield _refuse(
                    "calling_hours",
                    f"It is {_local_text(there)} in {zone.key}, outside the calling hours "
                    f"({hours.describe(there.weekday())}).{when}",
                    retry,
                )

    # 10-11. Frequency caps over the number's attempts.
    for rule, cap, period, label in (
        ("cap_24h", policy.max_calls_24h, CAP_24H, "24 hours"),
        ("cap_30d", policy.max_calls_30d, CAP_30D, "30 days"),
    ):
        if cap is None:
            continue
        count, retry_at = _rolled_off(history, now, period, cap)
        if retry_at is not None:
            yield _refuse(
                rule,
                f"The number was dialed {count} times in the last {label} (cap {cap}); "
                f"the next call may be placed at {_utc_text(retry_at)}.",
                retry_at,
            )

    # 12-13. Ofcom: no repeat call soon after an abandoned call or an answering machine.
    if policy.uk_mode:
        dropped = _last(history, "dropped", now, UK_AFTER_DROP)
        if dropped is not None:
            yield _refuse(
                "uk_abandoned_72h",
                f"A call to the number was abandoned at {_utc_text(dropped)}; no repeat call "
                "within 72 hours.",
                dropped + UK_AFTER_DROP,
            )
        machine = _last(history, "machine", now, UK_AFTER_MACHINE)
        if machine is not None:
            yield _refuse(
                "uk_machine_24h",
                f"An answering machine was detected at {_utc_text(machine)}; no repeat call "
                "within 24 hours.",
                machine + UK_AFTER_MACHINE,
            )


def _validate(
    target: Target, policy: Policy, now: datetime, history: Sequence[PastAttempt], dnc: DncFacts
) -> None:
    for value, kind in ((target, Target), (policy, Policy), (dnc, DncFacts)):
        if not isinstance(value, kind):
            raise TypeError(f"expected a {kind.__name__}, got {type(value).__name__}")
    _require_aware(now, "now")
    for attempt in history:
        _require_aware(attempt.at, "PastAttempt.at")
    if isinstance(dnc.internal_until, datetime):
        _require_aware(dnc.internal_until, "DncFacts.internal_until")


def check(
    target: Target,
    policy: Policy,
    *,
    now: datetime,
    history: Sequence[PastAttempt],
    dnc: DncFacts,
    ring_seconds: int,
    abandonment: tuple[float, float] | None = None,
) -> Verdict:
    """Whether ``target`` may be dialed at ``now`` under ``policy``: the first refusal in the
    module's rule order, or an allowed verdict.

    ``history``: the number's past attempts (all campaigns the caps should cover).
    ``ring_seconds``: how long the call would ring before giving up. ``abandonment``: the
    campaign's (24 h, 30 d) drop rates, passed for dial modes that can drop a live answer
    (predictive); left out, the limit is not checked here (it is the pacer's job).
    """
    _validate(target, policy, now, history, dnc)
    now = now.astimezone(UTC)
    for verdict in _evaluate(target, policy, now, history, dnc, ring_seconds, abandonment):
        return verdict
    return _ALLOWED


def refusals(
    target: Target,
    policy: Policy,
    *,
    now: datetime,
    history: Sequence[PastAttempt],
    dnc: DncFacts,
    ring_seconds: int,
    abandonment: tuple[float, float] | None = None,
) -> tuple[Verdict, ...]:
    """Every rule that refuses the call, in rule order (empty: allowed); for operators asking
    why a lead is held back."""
    _validate(target, policy, now, history, dnc)
    now = now.astimezone(UTC)
    return tuple(_evaluate(target, policy, now, history, dnc, ring_seconds, abandonment))
