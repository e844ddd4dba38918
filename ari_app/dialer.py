"""The outbound dialer: for each running campaign, asks its pacer how many calls to place,
claims that many leads through the compliance gate (db/campaign_store.py), and dials them
through the outbound trunk.

A dial is an ``Attempt`` until the callee answers: it gets the channel's events (a busy or
unanswered dial ends with a ChannelDestroyed and its cause). When the callee answers, the
channel runs answering-machine detection in dialplan if the campaign asks for it
([switchboard-amd] in extensions.conf), then becomes a call of its own whose flow hands the
live customer to an agent within 2 s, or plays the campaign's message and counts a drop
(ari_app/campaign_call.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
import urllib.parse
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.acd import AcdRuntime, CommandRefused
from ari_app.attempt import Attempt
from ari_app.campaign_call import campaign_answered
from ari_app.client import AriClient, AriError, AriNotFound, live_channel_ids
from ari_app.events import StasisStart
from ari_app.preview_call import Preview
from ari_app.session import CallSession, Flow, utcnow
from callcenter.acd.agents import AgentState
from callcenter.calls.record import CallRecord
from callcenter.outbound.pacing import (
    AMD_FALSE_POSITIVE_RATE,
    BUDGET_REFRESH_SECONDS,
    BUDGET_STALE_SECONDS,
    INBOUND_RESERVE,
    Abandonment,
    InboundQueue,
    Pacer,
    PacerView,
    inbound_hold,
    make_pacer,
)
from db.abandonment_query import CampaignWindows, SqlAttemptCounts, campaign_queues
from db.campaign_store import (
    CampaignConfig,
    Claimed,
    active_campaigns,
    claim_leads,
    interrupted_attempts,
    preview_campaign_for,
    recheck_claim,
    release_claim,
    renew_leases,
)
from db.record_ops import RecordOp
from db.writer import RecordWriter

if TYPE_CHECKING:
    from ari_app.registry import CallRegistry
    from ari_app.session import CallSink

log = structlog.get_logger(__name__)

TRUNK = "trunk-out"
ORIGINATE_BACKOFF_SECONDS = 10.0
LEASE_RENEW_SECONDS = 60.0
BUSY_STATES = (AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAP_UP)
MESSAGE_RECHECK_SECONDS = 60.0


async def message_in_asterisk(ari: AriClient, prompt: str) -> bool | None:
    """Whether Asterisk has the recording ``prompt`` names (``sound:NAME`` in its sounds,
    ``recording:NAME`` among stored recordings); anything else is no recording at all. None:
    Asterisk could not say."""
    kind, _, name = prompt.partition(":")
    folder = {"sound": "/sounds/", "recording": "/recordings/stored/"}.get(kind)
    if folder is None or not name:
        return False
    try:
        await ari.get(folder + urllib.parse.quote(name, safe=""))
    except AriNotFound:
        return False
    except AriError:
        return None
    return True


class Dialer:
    def __init__(
        self,
        acd: AcdRuntime,
        registry: CallRegistry,
        ari: AriClient,
        engine: AsyncEngine,
        writer: RecordWriter,
        sink: CallSink,
        *,
        node_id: str,
        clock: Callable[[], datetime],
        tick_seconds: float = 0.5,
        refresh_seconds: float = 2.0,
        budget_seconds: float = BUDGET_REFRESH_SECONDS,
        windows: CampaignWindows | None = None,
        inbound_reserve: int = INBOUND_RESERVE,
        false_positive_rate: float = AMD_FALSE_POSITIVE_RATE,
    ) -> None:
        self.acd = acd
        self.registry = registry
        self.ari = ari
        self.engine = engine
        self.writer = writer
        self.sink = sink
        self.node_id = node_id
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.false_positive_rate = false_positive_rate
        self.refresh_seconds = refresh_seconds
        # The abandonment budget: every campaign's windows over every instance, read this
        # often (callcenter/outbound/pacing.py, db/abandonment_query.py).
        self.budget_seconds = budget_seconds
        self.windows = (
            windows
            if windows is not None
            else CampaignWindows(SqlAttemptCounts(engine), node_id=node_id)
        )
        # agents each inbound queue keeps beyond its waiting callers (blended agents)
        self.inbound_reserve = inbound_reserve
        self.campaigns: dict[str, CampaignConfig] = {}
        self.attempts: dict[str, Attempt] = {}
        self._pacers: dict[str, Pacer] = {}
        # per campaign, kept across pacers (a mode change): its shared abandonment budget
        self._budgets: dict[str, Abandonment] = {}
        self._budgets_read = -math.inf
        self._campaign_queues: set[str] = set()  # queues campaigns dial into: not inbound
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refreshed = 0.0
        self._warned: set[str] = set()
        self._messages: dict[str, tuple[bool, float]] = {}  # prompt -> (in Asterisk, checked)
        self._held: dict[str, str] = {}  # campaign: the rule that holds all its dials
        self.previews: dict[str, Preview] = {}  # agent: the lead they are looking at
        self._backoff: dict[str, float] = {}  # campaign: no dials before (monotonic)
        self._last_view: dict[str, tuple[int, int, int, int]] = {}
        self.dials_placed: dict[str, int] = {}  # per campaign, since start (a counter)
        self._renewed = 0.0
        self._preview_lock = asyncio.Lock()
        self._pacing: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()  # a dial ended: pace again now, not at the next tick

    # --- plumbing -------------------------------------------------------------------------

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def write(self, op: RecordOp) -> None:
        self.writer.submit(op)

    def write_attempt(self, attempt: Attempt, **values: Any) -> None:
        self.write(RecordOp("attempt", {"id": attempt.claimed.attempt_id, **values}))

    def forget(self, attempt: Attempt) -> None:
        self.attempts.pop(attempt.id, None)
        self._kick.set()
        self.registry.detach_target(attempt.claimed.channel_id)

    def pacer(self, campaign: CampaignConfig) -> Pacer:
        """The campaign's pacer (made on the dialer's refresh)."""
        pacer = self._pacers.get(campaign.name)
        if pacer is None:
            # Calls of a campaign this instance has not refreshed yet (a preview): figures
            # only, it places no dial until its budget has been read.
            return self._new_pacer(campaign)
        return pacer

    def _new_pacer(self, campaign: CampaignConfig) -> Pacer:
        return make_pacer(
            self._pacer_mode(campaign),  # type: ignore[arg-type]
            abandon_limit=campaign.abandon_limit,
            abandonment=self._budgets.get(campaign.name),
        )

    def _budget(self, campaign: CampaignConfig) -> Abandonment:
        """The campaign's abandonment budget, from the first sight of it on (its own dials
        counted here from ``since``, every other one read from the database)."""
        budget = self._budgets.get(campaign.name)
        if budget is None:
            budget = Abandonment(
                stale_after=BUDGET_STALE_SECONDS,
                since=self.clock(),
                false_positive_rate=self.false_positive_rate,
            )
            self._budgets[campaign.name] = budget
        budget.uk_mode = campaign.policy.uk_mode  # Ofcom: AMD false positives count
        return budget

    @staticmethod
    def _pacer_mode(campaign: CampaignConfig) -> str:
        return "predictive" if campaign.mode == "predictive" else "progressive"

    # --- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        await self.acd.loaded.wait()
        await self._recover()
        while True:
            try:
                await self.once()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("dialer.database_unavailable", error=str(exc)[:200])
            except Exception:
                log.exception("dialer.failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._pause()):
                    await self._kick.wait()
            self._kick.clear()

    def _pause(self) -> float:
        """Until the next round: a tick while a campaign dials; with none running, until
        the next look at the campaigns (an idle app's wake-ups were most of its CPU)."""
        if self._dialing():
            return self.tick_seconds
        return max(self.tick_seconds, self.refresh_seconds - (time.monotonic() - self._refreshed))

    async def _recover(self) -> None:
        """Attempts a killed instance of ours left 'dialing' are closed as interrupted."""
        try:
            live = await live_channel_ids(self.ari)
            closed = await interrupted_attempts(self.engine, self.node_id, live)
            if closed:
                log.info("dialer.recovered", interrupted=closed)
        except Exception as exc:
            log.warning("dialer.recover_failed", error=str(exc)[:200])

    async def once(self) -> int:
        """One pacing round over every running campaign; returns the dials placed."""
        now = time.monotonic()
        if now - self._refreshed >= self.refresh_seconds:
            await self._refresh()
            self._refreshed = now
        unread = any(
            budget.read is None for name, budget in self._budgets.items() if name in self.campaigns
        )
        if unread or time.monotonic() - self._budgets_read >= self.budget_seconds:
            await self._read_budgets()
        placed = 0
        for campaign in self._dialing():
            placed += await self._pace(campaign)
        return placed

    def _dialing(self) -> list[CampaignConfig]:
        """The campaigns the pacer dials for (running, and not preview: agents ask for
        those)."""
        return [c for c in self.campaigns.values() if c.state == "running" and c.mode != "preview"]

    async def _refresh(self) -> None:
        found = {c.name: c for c in await active_campaigns(self.engine)}
        self._campaign_queues = await campaign_queues(self.engine)
        self.campaigns = found
        for name, campaign in found.items():
            self._budget(campaign)
            pacer = self._pacers.get(name)
            if pacer is not None and pacer.mode == self._pacer_mode(campaign):
                continue
            # A new pacer (first sight, or the mode changed) on the campaign's budget: it
            # dials once the budget has been read (_pace).
            self._pacers[name] = self._new_pacer(campaign)
        if time.monotonic() - self._renewed >= LEASE_RENEW_SECONDS:
            await self._renew_leases()

    async def _read_budgets(self) -> None:
        """Every active campaign's windows over every instance, into its budget."""
        wanted = {
            name: budget.since or self.clock()
            for name, budget in self._budgets.items()
            if name in self.campaigns
        }
        reads = await self.windows.read(wanted, self.clock())
        now = time.monotonic()
        for name, read in reads.items():
            self._budgets[name].sync(now, read)
        self._budgets_read = now

    async def _renew_leases(self) -> None:
        """Leads of calls still going on (a long talk, a preview on screen) stay ours."""
        owners = [a.id for a in self.attempts.values() if not a.done]
        owners += [str(p.claimed.attempt_id) for p in self.previews.values()]
        await renew_leases(self.engine, owners, self.clock())
        self._renewed = time.monotonic()

    async def on_connect(self) -> None:
        """After every (re)connect: dials whose channel is gone (Asterisk restarted) end."""
        try:
            alive = await live_channel_ids(self.ari)
        except Exception as exc:
            log.warning("dialer.channels_unknown", error=str(exc)[:200])
            return
        for attempt in list(self.attempts.values()):
            channel = attempt.claimed.channel_id
            if channel not in alive and self.registry.get(channel) is None and not attempt.done:
                attempt.unanswered(38, "the channel was lost (Asterisk restarted)")

    async def stop(self) -> None:
        """Shutting down: no new dials; dials still ringing are cancelled (nobody would be
        there to take a person who answers)."""
        for attempt in list(self.attempts.values()):
            if attempt.answered is None and not attempt.done:
                await self.hang_up_strays(attempt.claimed.channel_id)

    def view(self, campaign: CampaignConfig) -> PacerView:
        now = utcnow()
        state = self.acd.queues.get(campaign.queue)
        members = state.members if state is not None else set()
        free_names: list[str] = []
        busy_names: dict[str, tuple[float, float | None]] = {}  # since call began, wrap-up left
        for name in members:
            agent = self.acd.agents.get(name)
            if agent is None or not agent.registered:
                continue
            if agent.can_take_calls(now):
                free_names.append(name)
            elif agent.state in BUSY_STATES:
                # Seconds since their current call began (talk, hold and wrap-up all count).
                since = agent.call_started or agent.since or now
                until = agent.wrap_up_until if agent.state is AgentState.WRAP_UP else None
                busy_names[name] = (
                    max(0.0, (now - since).total_seconds()),
                    max(0.0, (until - now).total_seconds()) if until is not None else None,
                )
        # Blended agents: inbound queues keep the agents they need (pacing.inbound_hold).
        held_free, held_busy = self.inbound_hold(campaign, members, now, busy_names)
        free = sum(1 for name in free_names if name not in held_free)
        busy: list[float] = []
        wrap_up_left: list[float | None] = []  # per busy agent: their wrap-up's end
        for name, (elapsed, left) in busy_names.items():
            if name not in held_busy:
                busy.append(elapsed)
                wrap_up_left.append(left)
        mono = time.monotonic()
        ringing = [
            mono - a.placed
            for a in self.attempts.values()
            if a.campaign.name == campaign.name and a.answered is None
        ]
        # Answered and not with an agent yet (in AMD, or waiting its 2 s): each may need one.
        waiting = sum(
            1
            for a in self.attempts.values()
            if a.campaign.name == campaign.name
            and a.answered is not None
            and not a.connected
            and a.preview is None
        )
        return PacerView(
            free_agents=free,
            busy_agents=busy,
            dials_in_progress=ringing,
            waiting_live=waiting,
            wrap_up_left=wrap_up_left,
            held_for_inbound=len(held_free) + len(held_busy),
        )

    def inbound_hold(
        self,
        campaign: CampaignConfig,
        members: Collection[str],
        now: datetime,
        busy: dict[str, tuple[float, float | None]],
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The campaign's agents (free, busy) that inbound queues keep for their callers:
        every queue that is no campaign's and shares an agent with this one."""
        inbound = []
        for name, queue in self.acd.queues.items():
            if name in self._campaign_queues or name == campaign.queue:
                continue
            if not any(m in members for m in queue.members):
                continue
            logged_in = frozenset(
                m
                for m in queue.members
                if (agent := self.acd.agents.get(m)) is not None
                and agent.registered
                and agent.state is not AgentState.LOGGED_OUT
            )
            inbound.append(InboundQueue(name, logged_in, len(queue.waiting)))
        if not inbound:
            return frozenset(), frozenset()
        free = {
            m
            for q in inbound
            for m in q.members
            if (agent := self.acd.agents.get(m)) is not None and agent.can_take_calls(now)
        }
        return inbound_hold(
            campaign_agents=set(members),
            free=free,
            # the soonest back first: in wrap-up by its end, then the longest talking
            busy={
                name: left if left is not None else 1e6 - elapsed
                for name, (elapsed, left) in busy.items()
            },
            inbound=inbound,
            reserve=self.inbound_reserve,
        )

    async def _message_ready(self, campaign: CampaignConfig) -> bool:
        """A campaign that may drop calls dials only while Asterisk has its message (a
        dropped callee must hear the seller's name and the opt-out): checked at first and
        every MESSAGE_RECHECK_SECONDS; when Asterisk cannot say, what was known holds."""
        if campaign.mode == "preview":
            return True
        prompt = campaign.message_prompt
        now = time.monotonic()
        known = self._messages.get(prompt)
        if known is not None and now - known[1] < MESSAGE_RECHECK_SECONDS:
            return known[0]
        ready = await message_in_asterisk(self.ari, prompt)
        if ready is None:
            return known[0] if known is not None else False
        if not ready and (known is None or known[0]):
            log.error(
                "dialer.message_missing",
                campaign=campaign.name,
                message=prompt,
                hint="no dialing until Asterisk has this recording (its sounds folder, or "
                "a stored recording): copy it there or set --message",
            )
        self._messages[prompt] = (ready, now)
        return ready

    async def _pace(self, campaign: CampaignConfig) -> int:
        if not self.acd.outbound_uri:
            if campaign.name not in self._warned:
                self._warned.add(campaign.name)
                log.error("dialer.no_trunk", campaign=campaign.name)
            return 0
        if self._backoff.get(campaign.name, 0.0) > time.monotonic():
            return 0
        if not await self._message_ready(campaign):
            return 0
        pacer = self._pacers.get(campaign.name)
        budget = self._budgets.get(campaign.name)
        if pacer is None or budget is None or budget.read is None:
            return 0  # the campaign's budget has not been read yet
        view = self.view(campaign)
        wanted = pacer.dials_to_place(time.monotonic(), view)
        shape = (view.free_agents, len(view.busy_agents), len(view.dials_in_progress), wanted)
        if self._last_view.get(campaign.name) != shape:
            self._last_view[campaign.name] = shape
            log.debug(
                "dialer.pace",
                campaign=campaign.name,
                free=view.free_agents,
                busy=len(view.busy_agents),
                dialing=len(view.dials_in_progress),
                waiting=view.waiting_live,
                wanted=wanted,
            )
        if wanted <= 0:
            return 0
        # Dials beyond the free agents can be dropped: only while the campaign's abandonment
        # is under its limit (the gate refuses them otherwise).
        in_flight = len(view.dials_in_progress) + wanted
        abandonment = pacer.abandonment(time.monotonic()) if in_flight > view.free_agents else None
        report = await claim_leads(
            self.engine,
            campaign,
            wanted,
            node_id=self.node_id,
            now=self.clock(),
            abandonment=abandonment,
        )
        safe = view.free_agents - len(view.dials_in_progress)
        if report.held is not None and abandonment is not None and safe > 0:
            # Over the limit: only dials an agent is free for (progressive) until it drops.
            held = report.held
            report = await claim_leads(
                self.engine,
                campaign,
                min(safe, wanted),
                node_id=self.node_id,
                now=self.clock(),
                abandonment=None,
            )
            report.held = report.held or held
        if report.held is not None:
            if self._held.get(campaign.name) != report.held.rule:
                log.warning(
                    "dialer.campaign_held",
                    campaign=campaign.name,
                    rule=report.held.rule,
                    reason=report.held.reason,
                )
            self._held[campaign.name] = report.held.rule
        else:
            self._held.pop(campaign.name, None)
        for lead_id, number, verdict in report.refused:
            if verdict is report.held:
                continue
            log.info(
                "dialer.refused",
                campaign=campaign.name,
                lead=lead_id,
                number=number,
                rule=verdict.rule,
                reason=verdict.reason,
                retry_at=verdict.retry_at.isoformat() if verdict.retry_at else None,
            )
        for claimed in report.claimed:
            # Each originate on its own: Asterisk sometimes takes seconds to answer one
            # (measured: 1 in 8 took 5 s under load), and the others must not wait for it.
            self.spawn(self._originate(self._prepare(campaign, claimed)))
        return len(report.claimed)

    async def dial(
        self, campaign: CampaignConfig, claimed: Claimed, preview: Preview | None = None
    ) -> Attempt:
        attempt = self._prepare(campaign, claimed, preview)
        await self._originate(attempt)
        return attempt

    def _prepare(
        self, campaign: CampaignConfig, claimed: Claimed, preview: Preview | None = None
    ) -> Attempt:
        """The attempt, counted as a dial in progress from now on (before its originate)."""
        record = CallRecord(
            node_id=self.node_id,
            channel_id=claimed.channel_id,
            direction="outbound",
            arrived_at=utcnow(),
            caller_number=campaign.caller_id,
            caller_name=campaign.caller_name,
            dialed_number=claimed.number,
            linkedid=claimed.channel_id,
            id=claimed.call_id,
        )
        record.campaign = campaign.name
        record.attempt_id = claimed.attempt_id
        attempt = Attempt(self, campaign, claimed, record, time.monotonic(), preview=preview)
        self.attempts[attempt.id] = attempt
        self.registry.attach_target(claimed.channel_id, attempt)
        self.sink.save(record, None)
        return attempt

    async def _originate(self, attempt: Attempt) -> None:
        campaign, claimed, record, preview = (
            attempt.campaign,
            attempt.claimed,
            attempt.record,
            attempt.preview,
        )
        name = (campaign.caller_name or "").replace('"', "")
        asked = time.monotonic()
        try:
            await self.ari.post(
                "/channels",
                body={
                    "variables": {
                        "SB_CALL_ID": str(record.id),
                        "SB_CAMPAIGN_ID": campaign.name,
                        "SB_ATTEMPT_ID": attempt.id,
                    }
                },
                endpoint=f"PJSIP/{claimed.number}@{TRUNK}",
                app=self.ari.app,
                appArgs=f"campaign-dial,{attempt.id}",
                channelId=claimed.channel_id,
                callerId=f'"{name}" <{campaign.caller_id}>' if name else campaign.caller_id,
                timeout=campaign.ring_seconds,
            )
        except AriError as exc:
            # Nothing was dialed (Asterisk away, the trunk missing): the lead is given back
            # untouched and the campaign waits a little before it tries again.
            log.warning("dialer.originate_failed", attempt=attempt.id, error=str(exc)[:200])
            attempt.done = True
            self.attempts.pop(attempt.id, None)
            self.registry.detach_target(claimed.channel_id)
            self._backoff[campaign.name] = time.monotonic() + ORIGINATE_BACKOFF_SECONDS
            record.end(utcnow(), cause=None, cause_text=f"not dialed: {str(exc)[:100]}")
            record.outcome = "not_dialed"
            self.sink.save(record, None)
            await release_claim(self.engine, claimed)
            if preview is not None:
                self.spawn(preview.customer_failed())
            return
        self.dials_placed[campaign.name] = self.dials_placed.get(campaign.name, 0) + 1
        log.debug(
            "dialer.dialed",
            campaign=campaign.name,
            attempt=attempt.id,
            originate_ms=round((time.monotonic() - asked) * 1000, 1),
        )
        self.sink.log_event(
            record.event(
                record.arrived_at,
                "DIAL",
                campaign=campaign.name,
                number=claimed.number,
                agent=preview.agent if preview is not None else None,
            )
        )

    # --- preview: the agent sees the lead, then dials it ------------------------------------

    async def preview_next(self, agent: str) -> dict[str, Any]:
        """The lead shown to ``agent`` (claimed for them), or {"lead": None, "why": ...}."""
        async with self._preview_lock:  # one claim per agent, however fast they click
            return await self._preview_next(agent)

    async def _preview_next(self, agent: str) -> dict[str, Any]:
        shown = self.previews.get(agent)
        if shown is not None:
            return shown.describe()
        if agent not in self.acd.agents:
            raise CommandRefused(404, f"no agent {agent!r}")
        campaign = await preview_campaign_for(self.engine, agent)
        if campaign is None:
            raise CommandRefused(409, f"{agent} is in no running preview campaign")
        report = await claim_leads(
            self.engine, campaign, 1, node_id=self.node_id, now=self.clock(), abandonment=None
        )
        if not report.claimed:
            why = report.held.reason if report.held else "no lead may be called now"
            return {"campaign": campaign.name, "lead": None, "why": why}
        preview = Preview(self, agent, campaign, report.claimed[0])
        self.previews[agent] = preview
        return preview.describe()

    async def preview_dial(self, agent: str) -> dict[str, Any]:
        preview = self.previews.get(agent)
        if preview is None:
            raise CommandRefused(409, f"{agent} has no lead in preview (GET .../preview first)")
        if preview.agent_channel is not None:
            raise CommandRefused(409, f"{agent} is dialing {preview.claimed.number} already")
        # The lead was shown a while ago: the rules (hours, lists, the lease) again, now.
        verdict = await recheck_claim(self.engine, preview.campaign, preview.claimed, self.clock())
        if verdict is not None:
            await self.release_preview(preview, f"refused at dial time: {verdict}")
            raise CommandRefused(409, f"{preview.claimed.number} may not be called now: {verdict}")
        await preview.dial()
        return preview.describe()

    async def preview_skip(self, agent: str) -> dict[str, Any]:
        preview = self.previews.get(agent)
        if preview is None:
            raise CommandRefused(409, f"{agent} has no lead in preview")
        if preview.agent_channel is not None:
            raise CommandRefused(409, f"{agent} is dialing {preview.claimed.number} already")
        await self.release_preview(preview, "skipped by the agent")
        return {"skipped": preview.claimed.lead_id}

    async def release_preview(self, preview: Preview, why: str) -> None:
        self.previews.pop(preview.agent, None)
        await release_claim(self.engine, preview.claimed)
        log.info(
            "dialer.preview_released", agent=preview.agent, lead=preview.claimed.lead_id, why=why
        )

    # --- calls ----------------------------------------------------------------------------

    def session_for(self, event: StasisStart) -> tuple[CallSession, Flow] | None:
        """The call an answered dial becomes (its record is the attempt's)."""
        attempt_id = event.args[1] if len(event.args) > 1 else ""
        attempt = self.attempts.get(attempt_id)
        if attempt is None:
            return None
        self.registry.detach_target(attempt.claimed.channel_id)
        session = CallSession(event.channel, attempt.record, self.ari, self.sink)
        amd = (event.args[2], event.args[3]) if len(event.args) > 3 else None
        return session, functools.partial(campaign_answered, attempt=attempt, amd=amd)

    async def hang_up_strays(self, channel_id: str) -> None:
        with contextlib.suppress(AriNotFound, AriError):
            await self.ari.delete(f"/channels/{channel_id}")

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, Any] = {}
        for name, campaign in self.campaigns.items():
            view = self.view(campaign)
            day, month = self.pacer(campaign).abandonment(now)
            out[name] = {
                "state": campaign.state,
                "mode": campaign.mode,
                "dialing": len(view.dials_in_progress),
                "waiting_live": view.waiting_live,
                "free_agents": view.free_agents,
                "busy_agents": len(view.busy_agents),
                "held_for_inbound": view.held_for_inbound,
                "abandonment_24h": day,
                "abandonment_30d": month,
                "dials_placed": self.dials_placed.get(name, 0),
            }
        return out
