"""Blended agents (issue 15, item 9): an agent in an inbound queue and in a campaign's queue
is not counted free by the pacer when the inbound queue needs them (its waiting callers +
a reserve of 1 agent, ``pacing.inbound_hold``), through the dialer's view of the agents."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ari_app.dialer import Dialer
from ari_app.session import utcnow
from callcenter.acd.agents import Agent, AgentState
from callcenter.acd.routing import Member, QueueState, Waiting
from callcenter.config import Settings
from callcenter.outbound.pacing import BudgetRead, InboundQueue, Tally, inbound_hold, make_pacer
from db.campaign_store import CampaignConfig


class _Row(SimpleNamespace):
    """A campaigns row; a column this test does not name reads None."""

    def __getattr__(self, name: str) -> None:
        return None


def campaign(uk: bool = False) -> CampaignConfig:
    row = _Row(
        name="spring",
        mode="progressive",
        state="running",
        queue="outq",
        caller_id="+12125550000",
        caller_name=None,
        abandon_limit=0.03,
        ring_seconds=25,
        amd="off",
        message_prompt="sound:please-try-call-later",
        seller_name="Acme Ltd",
        optout_key="9",
        max_attempts=3,
        retry_delays={},
        hours={},
        max_calls_24h=3,
        max_calls_30d=None,
        uk_mode=uk,
        national_dnc=None,
    )
    return CampaignConfig.from_row(row)


def agent(name: str, state: AgentState, now: datetime, wrap_left: float | None = None) -> Agent:
    a = Agent(name, state=state, since=now - timedelta(seconds=60), registered=True)
    if state is not AgentState.AVAILABLE:
        a.call_started = now - timedelta(seconds=60)
    if wrap_left is not None:
        a.wrap_up_until = now + timedelta(seconds=wrap_left)
    return a


def queue(name: str, members: list[str], waiting: int = 0) -> QueueState:
    state = QueueState(name, members={m: Member(m) for m in members})
    state.waiting = [Waiting(f"{name}-{i}", utcnow()) for i in range(waiting)]
    return state


def dialer(agents: list[Agent], queues: list[QueueState]) -> Dialer:
    acd = SimpleNamespace(
        agents={a.name: a for a in agents}, queues={q.name: q for q in queues}, outbound_uri=""
    )
    none = cast(Any, None)
    made = Dialer(
        cast(Any, acd), none, none, none, none, none, node_id="node-a", clock=utcnow
    )  # fmt: skip
    made._campaign_queues = {"outq", "otherq"}  # queues of campaigns: not inbound
    return made


OUTQ = ["a1", "a2", "a3", "a4", "a5"]  # the campaign's agents; a1 and a2 also take support


def test_free_blended_agents_are_kept_for_the_inbound_queue() -> None:
    now = utcnow()
    free, talking = AgentState.AVAILABLE, AgentState.ON_CALL
    people = [agent("a1", free, now), agent("a2", free, now), agent("a3", free, now)]
    people += [agent("a4", talking, now), agent("a5", talking, now), agent("s1", talking, now)]
    # support: a1, a2 (blended) and s1 (inbound only, on a call); otherq: a campaign's queue
    outq, otherq = queue("outq", OUTQ), queue("otherq", ["a3"], waiting=4)
    pacer = make_pacer("progressive")

    # No caller waiting in support: it keeps 1 agent (the reserve); s1 is busy, so a1 is it.
    view = dialer(people, [outq, otherq, queue("support", ["a1", "a2", "s1"])]).view(campaign())
    assert (view.free_agents, len(view.busy_agents), view.held_for_inbound) == (2, 2, 1)
    # One caller waiting: support needs 1 + 1 = 2 agents: a1 and a2. Of a1, a2, a3 free,
    # the pacer counts a3 only (before: all 3, and dialed 3 calls).
    d = dialer(people, [outq, otherq, queue("support", ["a1", "a2", "s1"], waiting=1)])
    d.campaigns = {"spring": campaign()}
    view = d.view(campaign())
    assert (view.free_agents, view.held_for_inbound) == (1, 2)
    assert pacer.dials_to_place(0.0, view) == 1
    assert d.status()["spring"]["held_for_inbound"] == 2

    # s1 free covers the reserve when nobody waits: nothing held.
    people[5] = agent("s1", free, now)
    view = dialer(people, [outq, otherq, queue("support", ["a1", "a2", "s1"])]).view(campaign())
    assert (view.free_agents, view.held_for_inbound) == (3, 0)
    # A queue without any of the campaign's agents, or none inbound: nothing held.
    view = dialer(people, [outq, otherq, queue("sales", ["s1"], waiting=3)]).view(campaign())
    assert (view.free_agents, view.held_for_inbound) == (3, 0)


def test_busy_blended_agents_are_left_out_of_the_releases_an_inbound_queue_needs() -> None:
    now = utcnow()
    wrap, talking, free = AgentState.WRAP_UP, AgentState.ON_CALL, AgentState.AVAILABLE
    people = [
        agent("a1", wrap, now, wrap_left=4.0),  # free in 4 s: support's next agent
        agent("a2", talking, now),
        agent("a3", free, now),
        agent("a4", talking, now),
        agent("a5", wrap, now, wrap_left=9.0),
        agent("s1", talking, now),
    ]
    # support: 2 callers waiting + 1 = 3 agents needed, nobody free there: a1 and a2 (busy,
    # blended) are its next releases, not the campaign's; a5's release stays the campaign's.
    view = dialer(people, [queue("outq", OUTQ), queue("support", ["a1", "a2", "s1"], 2)]).view(
        campaign()
    )
    assert view.free_agents == 1
    assert sorted(view.wrap_up_left, key=lambda x: (x is None, x)) == [
        pytest.approx(9.0, abs=0.5),
        None,
    ]
    assert len(view.busy_agents) == 2 and view.held_for_inbound == 2


def test_inbound_hold_covers_each_queue_once_fewest_candidates_first() -> None:
    # sales: a1, a2 (blended, free); support: a1 only. Support is served first (one
    # candidate), takes a1; sales then takes a2: both held, each for one queue.
    held = inbound_hold(
        campaign_agents={"a1", "a2", "a3"},
        free={"a1", "a2", "a3"},
        busy={},
        inbound=[
            InboundQueue("sales", frozenset({"a1", "a2"})),
            InboundQueue("support", frozenset({"a1"})),
        ],
    )
    assert held == (frozenset({"a1", "a2"}), frozenset())
    # reserve 0 and nobody waiting: nothing held; 2 waiting with a free inbound-only agent:
    # s1 covers one, a1 the other
    none = inbound_hold(
        campaign_agents={"a1"},
        free={"a1"},
        busy={},
        inbound=[InboundQueue("q", frozenset({"a1"}))],
        reserve=0,
    )
    assert none == (frozenset(), frozenset())
    two = inbound_hold(
        campaign_agents={"a1", "a2"},
        free={"a1", "a2", "s1"},
        busy={},
        inbound=[InboundQueue("q", frozenset({"a1", "a2", "s1"}), waiting=2)],
        reserve=0,
    )
    assert two == (frozenset({"a1"}), frozenset())
    with pytest.raises(ValueError):
        inbound_hold(campaign_agents=(), free=(), busy={}, inbound=[], reserve=-1)


def test_the_dialer_marks_uk_campaigns_budget() -> None:
    d = dialer([], [queue("outq", OUTQ)])
    assert d._budget(campaign(uk=True)).uk_mode
    assert not d._budget(campaign(uk=False)).uk_mode  # the same budget, the setting changed


def test_the_uk_false_positive_rate_setting_reaches_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SWITCHBOARD_UK_AMD_FALSE_POSITIVE_RATE, through the settings, is the rate the dialer's
    budgets estimate with: 100 live, 1 drop, 50 machines at 10% count 6 drops in 105."""
    monkeypatch.setenv("SWITCHBOARD_UK_AMD_FALSE_POSITIVE_RATE", "0.1")
    rate = Settings(database_url="postgresql://x@127.0.0.1/x").uk_amd_false_positive_rate
    acd = SimpleNamespace(agents={}, queues={}, outbound_uri="")
    none = cast(Any, None)
    made = Dialer(
        cast(Any, acd), none, none, none, none, none, node_id="node-a", clock=utcnow,
        false_positive_rate=rate,
    )  # fmt: skip
    budget = made._budget(campaign(uk=True))
    budget.sync(0.0, BudgetRead(Tally(100, 1, 50), Tally(100, 1, 50)))
    assert budget.windows(0.0) == ((105, 6), (105, 6))
    monkeypatch.setenv("SWITCHBOARD_UK_AMD_FALSE_POSITIVE_RATE", "1.5")
    with pytest.raises(ValueError):
        Settings(database_url="postgresql://x@127.0.0.1/x")
