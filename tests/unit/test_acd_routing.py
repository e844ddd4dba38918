"""Routing strategies, caller order and skill widening, without Asterisk."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from callcenter.acd.agents import Agent
from callcenter.acd.routing import (
    QueueState,
    Strategy,
    Waiting,
    Widening,
    dispatch,
    estimated_wait,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def team(*names: str, idle: dict[str, float] | None = None) -> dict[str, Agent]:
    agents = {}
    for name in names:
        agent = Agent(name)
        agent.log_in(at((idle or {}).get(name, 0)))
        agents[name] = agent
    return agents


def queue(strategy: Strategy, *members: str, **kw: object) -> QueueState:
    q = QueueState("support", strategy, **kw)  # type: ignore[arg-type]
    for name in members:
        q.add_member(name)
    return q


def caller(call_id: str, arrived: float = 0, **kw: object) -> Waiting:
    return Waiting(call_id, at(arrived), **kw)  # type: ignore[arg-type]


def serve(q: QueueState, agents: dict[str, Agent], now: float, talk: float = 30) -> str:
    """Offer the head caller, have the agent answer and finish; returns the agent."""
    (offer,) = dispatch([q], agents, at(now))
    (name,) = offer.agents
    agents[name].offer(at(now), offer.call_id)
    agents[name].answer(at(now + 1))
    q.members[name].calls += 1
    q.waiting = [w for w in q.waiting if w.call_id != offer.call_id]
    agents[name].call_ended(at(now + talk), wrap_up=0)
    return name


def test_leastrecent_rings_the_longest_idle_agent() -> None:
    agents = team("a", "b", "c", idle={"a": 30, "b": 10, "c": 20})
    q = queue(Strategy.LEASTRECENT, "a", "b", "c")
    q.waiting = [caller("c1")]
    assert [o.agents for o in dispatch([q], agents, at(40))] == [("b",)]


def test_leastrecent_spreads_calls_evenly_over_a_shift() -> None:
    agents = team("a", "b", "c")
    q = queue(Strategy.LEASTRECENT, "a", "b", "c")
    served = []
    for n in range(30):
        q.waiting = [caller(f"c{n}", n * 100)]
        served.append(serve(q, agents, n * 100 + 1))
    assert Counter(served) == {"a": 10, "b": 10, "c": 10}
    assert served[:6] == ["a", "b", "c", "a", "b", "c"]


def test_fewestcalls_prefers_the_agent_with_fewest_answered() -> None:
    agents = team("a", "b", "c")
    q = queue(Strategy.FEWESTCALLS, "a", "b", "c")
    q.members["a"].calls, q.members["b"].calls, q.members["c"].calls = 5, 2, 3
    q.waiting = [caller("c1")]
    assert dispatch([q], agents, at(1))[0].agents == ("b",)


def test_ringall_rings_every_free_member() -> None:
    agents = team("a", "b", "c")
    agents["b"].pause(at(0), "break")
    q = queue(Strategy.RINGALL, "a", "b", "c")
    q.waiting = [caller("c1"), caller("c2", 1)]
    offers = dispatch([q], agents, at(2))
    assert [(o.call_id, o.agents) for o in offers] == [("c1", ("a", "c"))]


def test_random_uses_every_member() -> None:
    agents = team("a", "b", "c")
    q = queue(Strategy.RANDOM, "a", "b", "c")
    q.waiting = [caller("c1")]
    rng = random.Random(7)
    seen = Counter(dispatch([q], agents, at(1), rng=rng)[0].agents[0] for _ in range(300))
    assert set(seen) == {"a", "b", "c"} and min(seen.values()) > 60


def test_round_robin_remembers_where_it_stopped() -> None:
    agents = team("a", "b", "c")
    q = queue(Strategy.RRMEMORY, "a", "b", "c")
    picks = []
    for n in range(5):
        q.waiting = [caller(f"c{n}", n)]
        picks.append(dispatch([q], agents, at(n + 1))[0].agents[0])
    assert picks == ["a", "b", "c", "a", "b"]
    agents["a"].pause(at(10), "break")  # skipped, and the memory carries on after it
    q.last_offered = "c"
    q.waiting = [caller("c9", 10)]
    assert dispatch([q], agents, at(11))[0].agents == ("b",)


def test_linear_always_starts_at_the_top_of_the_list() -> None:
    agents = team("a", "b", "c", idle={"a": 50, "b": 0, "c": 0})
    q = queue(Strategy.LINEAR, "a", "b", "c")
    q.waiting = [caller("c1")]
    assert dispatch([q], agents, at(60))[0].agents == ("a",)
    agents["a"].pause(at(61), "break")
    assert dispatch([q], agents, at(62))[0].agents == ("b",)


def test_callers_by_priority_then_arrival_and_a_callback_keeps_its_place() -> None:
    agents = team("a")
    q = queue(Strategy.LEASTRECENT, "a")
    q.waiting = [
        caller("late", 30),
        caller("callback", 5, callback=True),
        caller("vip", 40, priority=5),
        caller("early", 10),
    ]
    assert [w.call_id for w in q.ordered()] == ["vip", "callback", "early", "late"]
    assert q.position("early") == 3
    assert dispatch([q], agents, at(50))[0].call_id == "vip"


def test_penalty_tiers_are_strict_until_widened() -> None:
    agents = team("primary", "backup")
    q = queue(Strategy.LEASTRECENT, widening=[Widening(after=30, max_penalty=5)])
    q.add_member("primary", penalty=0)
    q.add_member("backup", penalty=5)
    agents["primary"].offer(at(0), "other")  # busy
    q.waiting = [caller("c1", 0)]
    q.members["backup"].penalty = 5
    # The lowest tier with a free agent is used: the backup tier, once widened to it.
    assert dispatch([q], agents, at(10))[0].agents == ("backup",)
    q.widening = [Widening(after=0, max_penalty=0), Widening(after=30, max_penalty=5)]
    assert dispatch([q], agents, at(10)) == []
    assert dispatch([q], agents, at(31))[0].agents == ("backup",)


def test_skills_widen_while_the_caller_keeps_their_place() -> None:
    agents = team("expert", "junior")
    agents["expert"].skills = {"french": 90}
    agents["junior"].skills = {"french": 40}
    q = queue(Strategy.SKILLS, "expert", "junior", widening=[Widening(after=60, relax=30)])
    agents["expert"].offer(at(0), "busy")
    q.waiting = [caller("needs-french", 0, skills={"french": 70}), caller("anyone", 5)]
    # The junior cannot serve the first caller yet, so serves the second one...
    assert [(o.call_id, o.agents) for o in dispatch([q], agents, at(10))] == [
        ("anyone", ("junior",))
    ]
    # ... and once widened (70 - 30 = 40), the first caller comes first again.
    assert [(o.call_id, o.agents) for o in dispatch([q], agents, at(61))] == [
        ("needs-french", ("junior",))
    ]


def test_skills_prefer_the_most_proficient_free_agent() -> None:
    agents = team("good", "better")
    agents["good"].skills = {"billing": 60}
    agents["better"].skills = {"billing": 95}
    q = queue(Strategy.SKILLS, "good", "better")
    q.waiting = [caller("c1", skills={"billing": 50})]
    assert dispatch([q], agents, at(1))[0].agents == ("better",)


def test_shared_agents_go_to_the_longest_waiting_caller_across_queues() -> None:
    agents = team("a")
    sales = queue(Strategy.LEASTRECENT, "a")
    sales.name = "sales"
    support = queue(Strategy.LEASTRECENT, "a")
    support.waiting = [caller("s1", 20)]
    sales.waiting = [caller("p1", 10)]
    assert [(o.queue, o.call_id) for o in dispatch([support, sales], agents, at(30))] == [
        ("sales", "p1")
    ]


def test_callers_already_ringing_an_agent_are_left_alone() -> None:
    agents = team("a", "b")
    q = queue(Strategy.LEASTRECENT, "a", "b")
    q.waiting = [caller("c1"), caller("c2", 1)]
    offers = dispatch([q], agents, at(2), busy_callers={"c1"})
    assert [o.call_id for o in offers] == ["c2"]


def test_unregistered_and_paused_agents_get_nothing() -> None:
    agents = team("a", "b")
    agents["a"].unregistered(at(0))
    agents["b"].pause(at(0), "training")
    q = queue(Strategy.RINGALL, "a", "b")
    q.waiting = [caller("c1")]
    assert dispatch([q], agents, at(1)) == []


def test_estimated_wait() -> None:
    assert estimated_wait(3, 2, 120) == 180
    assert estimated_wait(1, 0, 120) is None


def test_a_callback_kept_for_an_agent_waits_for_them_and_lets_others_pass() -> None:
    """09:00 a callback kept for kit (busy) comes due, then a caller at 09:00:05; lia is
    free and first in the list: she takes the caller, never the kept callback; once kit is
    free, it is hers."""
    agents = team("lia", "kit")
    q = queue(Strategy.LINEAR, "lia", "kit")
    agents["kit"].offer(at(0), "busy")
    q.waiting = [caller("kept", 0, callback=True, only_agent="kit"), caller("walk-in", 5)]
    assert [(o.call_id, o.agents) for o in dispatch([q], agents, at(10))] == [("walk-in", ("lia",))]
    agents["kit"] = team("kit")["kit"]  # kit is free again
    agents["lia"].offer(at(20), "walk-in")
    assert [(o.call_id, o.agents) for o in dispatch([q], agents, at(30))] == [("kept", ("kit",))]
