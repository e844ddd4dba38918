"""Managing campaigns and the national do-not-call list (the CLI's side; sync)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from callcenter.outbound.compliance import (
    CallingHours,
    ComplianceConfigError,
    DncFacts,
    Policy,
    Target,
    check,
)
from db.acd_store import check_name
from db.models import (
    AMD_ACTIONS,
    DIAL_MODES,
    Agent,
    Call,
    Campaign,
    DialAttempt,
    DispositionSet,
    DncEntry,
    DncList,
    Lead,
    Queue,
    QueueMember,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NATIONAL_MAX_AGE = timedelta(days=31)
RETRY_RESULTS = ("busy", "no_answer", "machine", "dropped", "congestion", "failed", "interrupted")


class CampaignError(ValueError):
    """An operator's request that cannot be carried out (the message says why)."""


def parse_hours(items: list[str], holidays: list[str]) -> dict[str, Any]:
    """``mon-fri=09:00-20:00``, ``sat=10:00-13:00,14:00-18:00``, ``sun=`` (no calls)."""
    days: dict[str, list[list[str]]] = {}
    for item in items:
        spec, sep, windows = item.partition("=")
        if not sep:
            raise CampaignError(f"--hours {item!r}: expected DAYS=HH:MM-HH:MM[,HH:MM-HH:MM]")
        first, _, last = spec.strip().lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CampaignError(f"--hours {item!r}: days are {', '.join(DAYS)} (or a range a-b)")
        span = DAYS[DAYS.index(first) : DAYS.index(last or first) + 1]
        if not span:
            raise CampaignError(f"--hours {item!r}: the day range runs backwards")
        parsed = []
        for window in filter(None, (w.strip() for w in windows.split(","))):
            match = re.fullmatch(r"(\d{1,2}:\d{2})-(\d{1,2}:\d{2})", window)
            if match is None:
                raise CampaignError(f"--hours {item!r}: {window!r} is not HH:MM-HH:MM")
            parsed.append([match.group(1), match.group(2)])
        for day in span:
            days[day] = parsed
    value: dict[str, Any] = {}
    if days:
        value["days"] = days
    if holidays:
        value["holidays"] = sorted(set(holidays))
    if value:
        try:
            CallingHours.from_json(value)
        except (ComplianceConfigError, ValueError) as exc:
            raise CampaignError(f"calling hours: {exc}") from None
    return value


def parse_retries(items: list[str]) -> dict[str, int]:
    """``busy=10m``, ``no_answer=2h``, ``machine=1d``, ``dropped=3600`` (seconds)."""
    units = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
    retries: dict[str, int] = {}
    for item in items:
        result, sep, delay = item.partition("=")
        match = re.fullmatch(r"(\d+)([smhd]?)", delay.strip())
        if not sep or result not in RETRY_RESULTS or match is None:
            raise CampaignError(
                f"--retry {item!r}: expected RESULT=DELAY, RESULT one of "
                f"{', '.join(RETRY_RESULTS)}, DELAY like 600, 10m, 2h, 1d"
            )
        retries[result] = int(match.group(1)) * units[match.group(2)]
    return retries


# The most a campaign may abandon (FTC TSR, FCC 47 CFR 64.1200, Ofcom): no setting goes above.
LEGAL_ABANDON_LIMIT = 0.03


def check_caller_id(number: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise CampaignError(f"caller ID {number!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise CampaignError(
            f"caller ID {number!r} is not a valid number in {region}: callees must be able to "
            "call it back"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _check_values(connection: Any, values: dict[str, Any]) -> dict[str, Any]:
    if "mode" in values and values["mode"] not in DIAL_MODES:
        raise CampaignError(f"mode {values['mode']!r}: one of {', '.join(DIAL_MODES)}")
    if "amd" in values and values["amd"] not in AMD_ACTIONS:
        raise CampaignError(f"amd {values['amd']!r}: one of {', '.join(AMD_ACTIONS)}")
    limit = values.get("abandon_limit")
    if limit is not None and not 0 < limit <= LEGAL_ABANDON_LIMIT:
        raise CampaignError(
            f"abandon limit: above 0 and at most {LEGAL_ABANDON_LIMIT} (the law allows 3% of "
            "live answers: US per 30 days, UK per 24 hours); a stricter limit is fine"
        )
    key = values.get("optout_key")
    if key is not None and (len(key) != 1 or key not in "0123456789*#"):
        raise CampaignError(f"opt-out key {key!r}: one key, 0-9, * or #")
    if "seller_name" in values and not str(values["seller_name"]).strip():
        raise CampaignError("seller: the name the abandoned-call message says (not empty)")
    ring = values.get("ring_seconds")
    if ring is not None and not 15 <= ring <= 120:
        raise CampaignError("ring time: at least 15 s (the law's minimum) and at most 120 s")
    if values.get("max_attempts") is not None and values["max_attempts"] < 1:
        raise CampaignError("maximum attempts: at least 1")
    for cap in ("max_calls_24h", "max_calls_30d"):
        if values.get(cap) is not None and values[cap] < 1:
            raise CampaignError(f"{cap.replace('_', ' ')}: at least 1 (leave it out for no cap)")
    region = values.get("region")
    if region is not None:
        region = values["region"] = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise CampaignError(f"region {region!r} is not an ISO country code phonenumbers knows")
    if (
        values.get("queue") is not None
        and connection.execute(select(Queue.name).where(Queue.name == values["queue"])).first()
        is None
    ):
        raise CampaignError(f"no queue {values['queue']!r} (switchboard queues add ...)")
    code_set = values.get("disposition_set")
    if (
        code_set is not None
        and connection.execute(
            select(DispositionSet.name).where(DispositionSet.name == code_set)
        ).first()
        is None
    ):
        raise CampaignError(f"no disposition set {code_set!r}")
    national = values.get("national_dnc")
    if (
        national is not None
        and connection.execute(
            select(DncList.name).where(DncList.name == national, DncList.kind == "national")
        ).first()
        is None
    ):
        raise CampaignError(
            f"no national do-not-call list {national!r} (switchboard dnc import ...)"
        )
    return values


def create_campaign(engine: Engine, name: str, values: dict[str, Any]) -> None:
    check_name("campaign", name)
    with engine.begin() as connection:
        values = _check_values(connection, dict(values))
        values["caller_id"] = check_caller_id(values["caller_id"], values.get("region") or "US")
        try:
            connection.execute(insert(Campaign).values(name=name, **values))
        except IntegrityError:
            raise CampaignError(f"campaign {name!r} exists already") from None


def change_campaign(engine: Engine, name: str, values: dict[str, Any]) -> None:
    with engine.begin() as connection:
        row = _campaign(connection, name)
        values = _check_values(connection, dict(values))
        if "caller_id" in values:
            values["caller_id"] = check_caller_id(
                values["caller_id"], values.get("region") or row.region
            )
        connection.execute(update(Campaign).where(Campaign.name == name).values(**values))


def _campaign(connection: Any, name: str) -> Any:
    row = connection.execute(select(Campaign).where(Campaign.name == name)).first()
    if row is None:
        raise CampaignError(f"no campaign {name!r} (switchboard campaign list)")
    return row


TRANSITIONS = {
    "start": ({"draft", "stopped"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "stop": ({"running", "paused", "draft"}, "stopped"),
}


@dataclass
class StartReport:
    """What an operator should know when a campaign starts (or resumes)."""

    agents: int
    agents_ready: int
    leads_due: int
    callable_now: int
    checked: int
    next_opening: datetime | None
    refusals: dict[str, int]


def change_state(engine: Engine, name: str, action: str, now: datetime) -> StartReport | None:
    allowed, target = TRANSITIONS[action]
    with engine.begin() as connection:
        row = _campaign(connection, name)
        if row.state == target:
            raise CampaignError(f"campaign {name!r} is {row.state} already")
        if row.state not in allowed:
            raise CampaignError(
                f"campaign {name!r} is {row.state}: {action} applies to "
                f"{' or '.join(sorted(allowed))} campaigns"
            )
        if target == "running":
            _refuse_stale_national(connection, row, now)
            _refuse_anonymous_message(row)
        values: dict[str, Any] = {"state": target}
        if action == "start":
            values["started_at"] = now
        connection.execute(update(Campaign).where(Campaign.name == name).values(**values))
        if target == "stopped":
            return None
        return _start_report(connection, row, now) if target == "running" else None


# Asterisk's stock prompt: it names nobody and offers no opt-out.
STOCK_MESSAGE = "sound:please-try-call-later"


def _refuse_anonymous_message(row: Any) -> None:
    """A campaign that may abandon calls (progressive, predictive) plays its message to the
    people it drops: it must name the seller and say how to opt out (47 CFR 64.1200(a)(7),
    (b)), in a recording of the operator's own."""
    if row.mode == "preview":
        return  # the agent dials: nobody is ever dropped
    if not (row.seller_name or "").strip():
        raise CampaignError(
            f"campaign {row.name!r} has no seller: the message a dropped callee hears must name "
            "who is calling (switchboard campaign set NAME --seller 'Acme Ltd')"
        )
    if not row.message_prompt or row.message_prompt == STOCK_MESSAGE:
        raise CampaignError(
            f"campaign {row.name!r} plays Asterisk's stock message, which names nobody: record "
            f"one that names {row.seller_name} and says to press {row.optout_key} not to be "
            "called again, and set it (--message sound:NAME)"
        )


def _refuse_stale_national(connection: Any, row: Any, now: datetime) -> None:
    if row.national_dnc is None:
        return
    data_date = connection.execute(
        select(DncList.data_date).where(DncList.name == row.national_dnc)
    ).scalar()
    if data_date is None:
        raise CampaignError(
            f"the national do-not-call list {row.national_dnc!r} has no data yet: import it "
            "first (switchboard dnc import FILE --national --date YYYY-MM-DD)"
        )
    age = now.date() - data_date
    if age > NATIONAL_MAX_AGE:
        raise CampaignError(
            f"the national do-not-call list {row.national_dnc!r} is from {data_date} "
            f"({age.days} days old; the law allows {NATIONAL_MAX_AGE.days}): import a fresh copy"
        )


def _start_report(connection: Any, row: Any, now: datetime, sample: int = 1000) -> StartReport:
    members = connection.execute(
        select(Agent.name, Agent.state)
        .join(QueueMember, QueueMember.agent == Agent.name)
        .where(QueueMember.queue == row.queue)
    ).all()
    ready = sum(1 for m in members if m.state == "available")
    leads = connection.execute(
        select(Lead.number, Lead.time_zones, Lead.region)
        .where(Lead.campaign == row.name, Lead.state != "done")
        .order_by(Lead.priority, Lead.next_attempt_at.nulls_first(), Lead.id)
        .limit(sample)
    ).all()
    due = connection.execute(
        select(func.count()).where(Lead.campaign == row.name, Lead.state != "done")
    ).scalar_one()
    policy = Policy(
        hours=CallingHours.from_json(row.hours) if row.hours else None,
        max_calls_24h=None,
        max_calls_30d=None,
    )
    nobody = DncFacts(internal_until=None, national_listed=False, national_data_date=None)
    callable_now = 0
    refusals: dict[str, int] = {}
    opening: datetime | None = None
    for lead in leads:
        verdict = check(
            Target(lead.number, tuple(lead.time_zones), lead.region),
            policy,
            now=now,
            history=(),
            dnc=nobody,
            ring_seconds=row.ring_seconds,
        )
        if verdict.allowed:
            callable_now += 1
            continue
        refusals[verdict.rule] = refusals.get(verdict.rule, 0) + 1
        if verdict.retry_at is not None and (opening is None or verdict.retry_at < opening):
            opening = verdict.retry_at
    return StartReport(len(members), ready, int(due), callable_now, len(leads), opening, refusals)


def list_campaigns(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Campaign).order_by(Campaign.name)).all()
        return [status_of(connection, row, now) for row in rows]


def campaign_status(engine: Engine, name: str, now: datetime) -> dict[str, Any]:
    with engine.connect() as connection:
        return status_of(connection, _campaign(connection, name), now)


def status_of(connection: Any, row: Any, now: datetime) -> dict[str, Any]:
    """Everything ``campaign status`` shows, from the database (so it covers every instance
    that dials the campaign)."""
    day, month, hour = now - timedelta(hours=24), now - timedelta(days=30), now - timedelta(hours=1)
    a = DialAttempt
    counts = connection.execute(
        select(
            func.count().filter(a.result == "dialing", a.answered_at.is_(None)),
            func.count().filter(a.result == "dialing", a.answered_at.is_not(None)),
            func.count().filter(a.placed_at >= hour),
            func.count().filter(a.live, a.placed_at >= day),
            func.count().filter(a.dropped, a.placed_at >= day),
            func.count().filter(a.live),
            func.count().filter(a.dropped),
            func.count().filter(a.result == "connected", a.placed_at >= day),
            func.count().filter(a.result == "machine", a.placed_at >= day),
        ).where(a.campaign == row.name, a.placed_at >= month)
    ).one()
    connected_now = connection.execute(
        select(func.count()).where(
            Call.campaign == row.name, Call.agent.is_not(None), Call.ended_at.is_(None)
        )
    ).scalar_one()
    leads = dict(
        connection.execute(
            select(Lead.state, func.count()).where(Lead.campaign == row.name).group_by(Lead.state)
        ).all()
    )
    agents = dict(
        connection.execute(
            select(Agent.state, func.count())
            .join(QueueMember, QueueMember.agent == Agent.name)
            .where(QueueMember.queue == row.queue)
            .group_by(Agent.state)
        ).all()
    )

    def rate(drops: int, live: int) -> float | None:
        return drops / live if live else None

    return {
        "name": row.name,
        "state": row.state,
        "mode": row.mode,
        "queue": row.queue,
        "caller_id": row.caller_id,
        "ringing": counts[0],
        "answered_waiting": counts[1],
        "connected": connected_now,
        "free_agents": agents.get("available", 0),
        "agents": sum(agents.values()),
        "agents_by_state": agents,
        "dials_last_hour": counts[2],
        "live_24h": counts[3],
        "drops_24h": counts[4],
        "abandonment_24h": rate(counts[4], counts[3]),
        "abandonment_30d": rate(counts[6], counts[5]),
        "abandon_limit": row.abandon_limit,
        "connected_24h": counts[7],
        "machines_24h": counts[8],
        "leads_total": sum(leads.values()),
        "leads_left": leads.get("pending", 0) + leads.get("dialing", 0),
        "leads_done": leads.get("done", 0),
    }


# --- the national do-not-call list ------------------------------------------------------------


@dataclass
class NationalImport:
    entries: int
    bad: list[tuple[int, str]]


def import_national(
    engine: Engine,
    name: str,
    lines: Iterable[str],
    data_date: date,
    region: str,
    now: datetime | None = None,
) -> NationalImport:
    """Replace the list's entries with the numbers in ``lines`` (one per line; the first
    field of a CSV line), all in one transaction: dialers see the old list or the new one."""
    check_name("do-not-call list", name)
    now = now or datetime.now(UTC)
    numbers: set[str] = set()
    bad: list[tuple[int, str]] = []
    for line_number, line in enumerate(lines, start=1):
        text = line.split(",", 1)[0].strip().strip('"')
        if (
            not text
            or text.startswith("#")
            or (line_number == 1 and not any(c.isdigit() for c in text))
        ):
            continue
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            bad.append((line_number, text[:40]))
            continue
        if not phonenumbers.is_possible_number(parsed):
            bad.append((line_number, text[:40]))
            continue
        numbers.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    with engine.begin() as connection:
        kind = connection.execute(select(DncList.kind).where(DncList.name == name)).scalar()
        if kind == "internal":
            raise CampaignError(f"{name!r} is an internal list; pick another name")
        connection.execute(delete(DncEntry).where(DncEntry.list_name == name))
        ordered = sorted(numbers)
        for start in range(0, len(ordered), 10_000):
            connection.execute(
                insert(DncEntry),
                [
                    {"list_name": name, "number": n, "added_at": now, "reason": "national list"}
                    for n in ordered[start : start + 10_000]
                ],
            )
        statement = insert(DncList).values(
            name=name, kind="national", data_date=data_date, imported_at=now, entries=len(numbers)
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[DncList.name],
                set_={
                    "data_date": data_date,
                    "imported_at": now,
                    "entries": len(numbers),
                    "kind": "national",
                },
            )
        )
    return NationalImport(len(numbers), bad)
