"""The agent state machine, without Asterisk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.acd.agents import MOVES, Agent, AgentState, AgentStateError

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
S = AgentState


def state(agent: Agent) -> AgentState:
    """The state now (a call, so type checkers do not narrow it between moves)."""
    return agent.state


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_whole_call_with_hold_and_timed_wrap_up() -> None:
    agent = Agent("alice")
    assert not agent.can_take_calls(at(0))
    agent.log_in(at(0))
    assert state(agent) is S.AVAILABLE and agent.can_take_calls(at(0))
    agent.offer(at(10), "c1")
    assert state(agent) is S.RINGING and agent.call_id == "c1" and agent.busy
    agent.answer(at(13))
    agent.hold(at(20))
    assert state(agent) is S.ON_HOLD
    agent.unhold(at(30))
    agent.call_ended(at(60), wrap_up=15)
    assert state(agent) is S.WRAP_UP and agent.idle_since == at(60)
    assert not agent.can_take_calls(at(70))
    assert agent.can_take_calls(at(75))  # wrap-up time is over
    agent.offer(at(80), "c2")  # straight from an expired wrap-up
    assert state(agent) is S.RINGING


def test_wrap_up_ends_early_and_logout_waits_for_the_call() -> None:
    agent = Agent("bob")
    agent.log_in(at(0))
    agent.offer(at(1), "c1")
    agent.answer(at(2))
    with pytest.raises(AgentStateError, match="log out after the call"):
        agent.log_out(at(3))
    agent.call_ended(at(4), wrap_up=60)
    agent.end_wrap_up(at(10))
    assert state(agent) is S.AVAILABLE
    agent.log_out(at(11))
    assert state(agent) is S.LOGGED_OUT


def test_no_answer_autopauses_after_the_configured_rings() -> None:
    agent = Agent("carol")
    agent.log_in(at(0))
    agent.offer(at(1), "c1")
    assert agent.no_answer(at(16), autopause_after=2) is False
    assert state(agent) is S.AVAILABLE and agent.missed_in_a_row == 1
    agent.offer(at(17), "c2")
    assert agent.no_answer(at(32), autopause_after=2) is True
    assert state(agent) is S.PAUSED and agent.pause_reason == "autopause: no answer"
    assert not agent.can_take_calls(at(33))
    agent.resume(at(40))
    assert state(agent) is S.AVAILABLE and agent.missed_in_a_row == 0


def test_answering_resets_the_missed_count_and_zero_never_autopauses() -> None:
    agent = Agent("dan")
    agent.log_in(at(0))
    for n in range(5):
        agent.offer(at(n * 20), f"c{n}")
        assert agent.no_answer(at(n * 20 + 15), autopause_after=0) is False
    agent.offer(at(200), "c9")
    agent.answer(at(201))
    assert agent.missed_in_a_row == 0


def test_pause_during_a_call_starts_after_it() -> None:
    agent = Agent("erin")
    agent.log_in(at(0))
    agent.offer(at(1), "c1")
    agent.answer(at(2))
    agent.pause(at(3), "lunch")
    assert state(agent) is S.ON_CALL
    agent.call_ended(at(30), wrap_up=10)
    assert state(agent) is S.PAUSED and agent.pause_reason == "lunch"


def test_a_withdrawn_offer_keeps_the_agents_idle_time() -> None:
    agent = Agent("fay")
    agent.log_in(at(0))
    agent.offer(at(50), "c1")
    agent.offer_withdrawn(at(52))
    assert state(agent) is S.AVAILABLE and agent.idle_since == at(0)


def test_impossible_moves_are_refused_with_the_reason() -> None:
    agent = Agent("gus")
    with pytest.raises(AgentStateError, match="log in first"):
        agent.pause(at(0), "break")
    with pytest.raises(AgentStateError, match="cannot take a call"):
        agent.offer(at(0), "c1")
    agent.log_in(at(0))
    with pytest.raises(AgentStateError, match="already logged in"):
        agent.log_in(at(1))
    with pytest.raises(AgentStateError, match="not ringing"):
        agent.answer(at(1))
    with pytest.raises(AgentStateError, match="no call to end"):
        agent.call_ended(at(1), wrap_up=0)
    agent.unregistered(at(2))
    assert not agent.can_take_calls(at(2))


def test_every_state_can_reach_logged_out_and_back() -> None:
    for state, targets in MOVES.items():
        assert state is S.LOGGED_OUT or S.LOGGED_OUT in targets
    assert S.AVAILABLE in MOVES[S.LOGGED_OUT]
