"""The dialer's side of the campaign tables: which campaigns run, and claiming their leads.

Claiming is the one way a lead becomes a dial, and every claim goes through the compliance
gate (``callcenter.outbound.compliance.check``) in the same transaction that leases the lead
and writes its attempt row, so no code path dials a number the rules forbid. Leads are locked
with ``FOR UPDATE SKIP LOCKED`` and leased to one instance; two instances never claim the same
lead, and a crashed instance's leases run out and its leads come back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import and_, delete, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.outbound.compliance import (
    CallingHours,
    DncFacts,
    PastAttempt,
    Policy,
    Target,
    Verdict,
    check,
)
from db.campaign_admin import LEGAL_ABANDON_LIMIT
from db.models import Campaign, DialAttempt, DncEntry, DncList, Lead, QueueMember

log = structlog.get_logger(__name__)

LEASE = timedelta(minutes=15)
# Another dial of the same number still going on: no second one (a stale 'dialing' row of a
# crashed instance stops counting after this).
DIALING_HOLD = timedelta(hours=1)
ADVISORY_NAMESPACE = 0x5B0A
# Leads looked at per lead wanted: some are refused by the gate and rescheduled.
LOOK_AHEAD = 4


@dataclass(frozen=True)
class CampaignConfig:
    """A campaign as the dialer runs it (a snapshot of its row)."""

    name: str
    mode: str
    state: str
    queue: str
    caller_id: str
    caller_name: str | None
    abandon_limit: float
    ring_seconds: int
    amd: str
    message_prompt: str
    seller_name: str | None
    optout_key: str
    max_attempts: int
    retry_delays: dict[str, int]
    policy: Policy
    national_dnc: str | None

    @classmethod
    def from_row(cls, row: Any) -> CampaignConfig:
        hours = CallingHours.from_json(row.hours) if row.hours else None
        # A limit stored before the cap (or written around the CLI) never loosens the law.
        limit = min(float(row.abandon_limit), LEGAL_ABANDON_LIMIT)
        policy = Policy(
            hours=hours,
            max_calls_24h=row.max_calls_24h,
            max_calls_30d=row.max_calls_30d,
            uk_mode=row.uk_mode,
            national_dnc_required=row.national_dnc is not None,
            abandon_limit=limit,
        )
        return cls(
            name=row.name,
            mode=row.mode,
            state=row.state,
            queue=row.queue,
            caller_id=row.caller_id,
            caller_name=row.caller_name,
            abandon_limit=limit,
            ring_seconds=row.ring_seconds,
            amd=row.amd,
            message_prompt=row.message_prompt,
            seller_name=row.seller_name,
            optout_key=row.optout_key,
            max_attempts=row.max_attempts,
            retry_delays=dict(row.retry_delays or {}),
            policy=policy,
            national_dnc=row.national_dnc,
        )


@dataclass(frozen=True)
class Claimed:
    """A lead leased to this instance, with its attempt (already written, result 'dialing')."""

    attempt_id: uuid.UUID
    call_id: uuid.UUID
    channel_id: str
    lead_id: int
    attempts: int  # this one included
    number: str
    name: str | None
    data: dict[str, Any]


@dataclass
class ClaimReport:
    claimed: list[Claimed] = field(default_factory=list)
    refused: list[tuple[int, str, Verdict]] = field(default_factory=list)  # lead, number, why
    held: Verdict | None = None  # a refusal of the whole campaign


async def active_campaigns(engine: AsyncEngine) -> list[CampaignConfig]:
    """Running and paused campaigns; one whose settings cannot be used (edited by hand in
    the database, say) is left out and logged, and the others go on."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(Campaign).where(Campaign.state.in_(("running", "paused")))
            )
        ).all()
    found = []
    for row in rows:
        try:
            found.append(CampaignConfig.from_row(row))
        except (ValueError, TypeError) as exc:
            log.error("dialer.campaign_unusable", campaign=row.name, error=str(exc)[:300])
    return found


async def abandonment_counts(
    engine: AsyncEngine, campaign: str, now: datetime
) -> tuple[int, int, int, int]:
    """(live 30 d, drops 30 d, live 24 h, drops 24 h) from the campaign's attempts."""
    day, month = now - timedelta(hours=24), now - timedelta(days=30)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    func.count().filter(DialAttempt.live),
                    func.count().filter(DialAttempt.dropped),
                    func.count().filter(DialAttempt.live, DialAttempt.placed_at >= day),
                    func.count().filter(DialAttempt.dropped, DialAttempt.placed_at >= day),
                ).where(DialAttempt.campaign == campaign, DialAttempt.placed_at >= month)
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def _dnc_facts(
    connection: AsyncConnection, numbers: list[str], now: datetime, national: str | None
) -> tuple[dict[str, DncFacts], date | None]:
    national_date: date | None = None
    if national is not None:
        national_date = (
            await connection.execute(select(DncList.data_date).where(DncList.name == national))
        ).scalar()
    national_lists = select(DncList.name).where(DncList.kind == "national")
    rows = (
        await connection.execute(
            select(DncEntry.number, DncEntry.list_name, DncEntry.expires_at).where(
                DncEntry.number.in_(numbers),
                or_(DncEntry.expires_at.is_(None), DncEntry.expires_at > now),
            )
        )
    ).all()
    national_names = set((await connection.execute(national_lists)).scalars())
    internal: dict[str, datetime | Literal["forever"] | None] = {}
    listed: set[str] = set()
    for number, list_name, expires_at in rows:
        if list_name in national_names:
            listed.add(number)  # a known national listing is honoured by every campaign
            continue
        known = internal.get(number)
        if expires_at is None or known == "forever":
            internal[number] = "forever"
        elif known is None or (isinstance(known, datetime) and expires_at > known):
            internal[number] = expires_at
    facts = {
        n: DncFacts(
            internal_until=internal.get(n),
            national_listed=n in listed,
            national_data_date=national_date,
        )
        for n in numbers
    }
    return facts, national_date


async def _histories(
    connection: AsyncConnection, numbers: list[str], now: datetime
) -> dict[str, list[PastAttempt]]:
    rows = (
        await connection.execute(
            select(DialAttempt.number, DialAttempt.placed_at, DialAttempt.result).where(
                DialAttempt.number.in_(numbers), DialAttempt.placed_at > now - timedelta(days=31)
            )
        )
    ).all()
    history: dict[str, list[PastAttempt]] = {n: [] for n in numbers}
    for number, placed_at, result in rows:
        history[number].append(PastAttempt(placed_at, result))
    return history


async def claim_leads(
    engine: AsyncEngine,
    campaign: CampaignConfig,
    wanted: int,
    *,
    node_id: str,
    now: datetime,
    abandonment: tuple[float, float] | None,
    lease: timedelta = LEASE,
) -> ClaimReport:
    """Lease up to ``wanted`` due leads that the compliance gate lets us dial now; leads it
    refuses are rescheduled to when the rule could pass, or closed when it never will."""
    report = ClaimReport()
    if wanted <= 0:
        return report
    async with engine.begin() as connection:
        leads = (
            await connection.execute(
                select(Lead)
                .where(
                    Lead.campaign == campaign.name,
                    Lead.state != "done",
                    or_(Lead.next_attempt_at.is_(None), Lead.next_attempt_at <= now),
                    or_(
                        Lead.state == "pending",
                        and_(Lead.state == "dialing", Lead.lease_expires_at < now),
                    ),
                )
                .order_by(Lead.priority, Lead.next_attempt_at.nulls_first(), Lead.id)
                .limit(wanted * LOOK_AHEAD)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not leads:
            return report
        numbers = sorted({lead.number for lead in leads})
        # One claimer per number at a time, whatever the campaign (in a fixed order, so two
        # claimers cannot deadlock): the history read below includes every committed dial.
        for number in numbers:
            await connection.execute(
                select(func.pg_advisory_xact_lock(ADVISORY_NAMESPACE, func.hashtext(number)))
            )
        facts, _ = await _dnc_facts(connection, numbers, now, campaign.national_dnc)
        histories = await _histories(connection, numbers, now)
        dialing: dict[str, set[int | None]] = {}
        for number, lead_id in await connection.execute(
            select(DialAttempt.number, DialAttempt.lead_id).where(
                DialAttempt.number.in_(numbers),
                DialAttempt.result == "dialing",
                DialAttempt.placed_at > now - DIALING_HOLD,
            )
        ):
            dialing.setdefault(number, set()).add(lead_id)
        for lead in leads:
            if len(report.claimed) >= wanted:
                break
            if any(other != lead.id for other in dialing.get(lead.number, ())):
                # Being dialed right now (by another campaign): look again in a few minutes.
                await connection.execute(
                    update(Lead)
                    .where(Lead.id == lead.id)
                    .values(state="pending", next_attempt_at=now + timedelta(minutes=5))
                )
                continue
            verdict = check(
                Target(lead.number, tuple(lead.time_zones), lead.region),
                campaign.policy,
                now=now,
                history=histories[lead.number],
                dnc=facts[lead.number],
                ring_seconds=campaign.ring_seconds,
                abandonment=abandonment,
            )
            if not verdict.allowed:
                report.refused.append((lead.id, lead.number, verdict))
                if verdict.campaign_wide:
                    # About the campaign, not this lead (over its abandonment limit, its
                    # national list stale): nothing is dialed, no lead is touched.
                    report.held = verdict
                    break
                values: dict[str, Any]
                if verdict.final:
                    values = {
                        "state": "done",
                        "closed_reason": f"{verdict.rule}: {verdict.reason}"[:500],
                        "lease_owner": None,
                    }
                else:
                    # When the rule could pass (unknown: look again in a day).
                    retry_at = verdict.retry_at or now + timedelta(days=1)
                    values = {"state": "pending", "next_attempt_at": retry_at}
                await connection.execute(update(Lead).where(Lead.id == lead.id).values(**values))
                continue
            attempt_id = uuid.uuid4()
            claimed = Claimed(
                attempt_id=attempt_id,
                call_id=uuid.uuid4(),
                channel_id=f"dial-{attempt_id}",
                lead_id=lead.id,
                attempts=lead.attempts + 1,
                number=lead.number,
                name=lead.name,
                data=dict(lead.data or {}),
            )
            await connection.execute(
                update(Lead)
                .where(Lead.id == lead.id)
                .values(
                    state="dialing",
                    lease_owner=str(attempt_id),  # this attempt's lease, nobody else's
                    lease_expires_at=now + lease,
                    attempts=Lead.attempts + 1,
                )
            )
            await connection.execute(
                insert(DialAttempt).values(
                    id=attempt_id,
                    campaign=campaign.name,
                    lead_id=lead.id,
                    number=lead.number,
                    node_id=node_id,
                    call_id=claimed.call_id,
                    channel_id=claimed.channel_id,
                    placed_at=now,
                    result="dialing",
                    mode=campaign.mode,
                )
            )
            histories[lead.number].append(PastAttempt(now, "dialing"))
            report.claimed.append(claimed)
    return report


def lead_after(
    campaign: CampaignConfig, result: str, attempts: int, now: datetime
) -> dict[str, Any]:
    """What becomes of a lead after an attempt with ``result`` (its ``attempts``-th)."""
    values: dict[str, Any] = {
        "last_result": result,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if result == "connected":
        # An agent talked to them: their wrap-up code decides what follows (a callback or a
        # retry reopens the lead; see apply_lead_actions).
        return {**values, "state": "done", "closed_reason": "connected"}
    delay = campaign.retry_delays.get(result)
    if delay is None or attempts >= campaign.max_attempts:
        reason = "no retry for " + result if delay is None else "maximum attempts reached"
        return {**values, "state": "done", "closed_reason": reason}
    return {
        **values,
        "state": "pending",
        "priority": 1,
        "next_attempt_at": now + timedelta(seconds=delay),
    }


async def interrupted_attempts(engine: AsyncEngine, node_id: str, live: set[str]) -> int:
    """Attempts this node left 'dialing' (it was killed) whose channel is gone: closed as
    interrupted; their leads come back when their lease runs out."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(DialAttempt)
            .where(
                DialAttempt.node_id == node_id,
                DialAttempt.result == "dialing",
                DialAttempt.channel_id.not_in(live) if live else true(),
            )
            .values(result="interrupted", ended_at=func.now())
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def release_claim(engine: AsyncEngine, claimed: Claimed) -> None:
    """A claim that was never dialed (a preview the agent skipped): its attempt is removed
    (it counts against no cap) and the lead is free again."""
    async with engine.begin() as connection:
        await connection.execute(delete(DialAttempt).where(DialAttempt.id == claimed.attempt_id))
        await connection.execute(
            update(Lead)
            .where(Lead.id == claimed.lead_id, Lead.lease_owner == str(claimed.attempt_id))
            .values(
                state="pending",
                attempts=Lead.attempts - 1,
                lease_owner=None,
                lease_expires_at=None,
            )
        )


async def preview_campaign_for(engine: AsyncEngine, agent: str) -> CampaignConfig | None:
    """The running preview campaign whose queue has ``agent`` as a member (the first by name)."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(Campaign)
                .join(QueueMember, QueueMember.queue == Campaign.queue)
                .where(
                    QueueMember.agent == agent,
                    Campaign.mode == "preview",
                    Campaign.state == "running",
                )
                .order_by(Campaign.name)
                .limit(1)
            )
        ).first()
    return CampaignConfig.from_row(row) if row is not None else None


async def renew_leases(engine: AsyncEngine, owners: list[str], now: datetime) -> None:
    if not owners:
        return
    async with engine.begin() as connection:
        await connection.execute(
            update(Lead).where(Lead.lease_owner.in_(owners)).values(lease_expires_at=now + LEASE)
        )


async def recheck_claim(
    engine: AsyncEngine, campaign: CampaignConfig, claimed: Claimed, now: datetime
) -> str | None:
    """The rules again for a claim about to be dialed (a preview shown a while ago): None
    when it may be dialed now, else why not."""
    async with engine.connect() as connection:
        lead = (
            await connection.execute(
                select(Lead.lease_owner, Lead.time_zones, Lead.region, Campaign.state)
                .join(Campaign, Campaign.name == Lead.campaign)
                .where(Lead.id == claimed.lead_id)
            )
        ).first()
        if lead is None or lead.lease_owner != str(claimed.attempt_id):
            return "the lead is no longer held for this call"
        if lead.state != "running":
            return f"the campaign is {lead.state}"
        facts, _ = await _dnc_facts(connection, [claimed.number], now, campaign.national_dnc)
        history = [
            past
            for past in (await _histories(connection, [claimed.number], now))[claimed.number]
            if past.result != "dialing"  # this claim's own attempt row among them
        ]
    verdict = check(
        Target(claimed.number, tuple(lead.time_zones), lead.region),
        campaign.policy,
        now=now,
        history=history,
        dnc=facts[claimed.number],
        ring_seconds=campaign.ring_seconds,
    )
    return None if verdict.allowed else f"{verdict.rule}: {verdict.reason}"
