"""The safety net under agent states: an offer never outlives its ring time, and an agent
busy with no channel of ours in Asterisk is put back. The rules alone, then the ACD at run
time with a faked ARI whose lost events leave an agent stuck."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ari_app.acd import AcdOffer, AcdRuntime, QueueSettings
from ari_app.events import Event
from callcenter.acd.agents import OFFER_MARGIN_SECONDS, Agent, AgentState
from callcenter.acd.routing import Member, QueueState
from callcenter.acd.stuck_agents import NO_CHANNEL, RING_TIMEOUT, StuckAgentWatch
from db.record_ops import RecordOp

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
S = AgentState


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ringing(name: str, call_id: str = "c1", ring: float | None = 30) -> Agent:
    agent = Agent(name)
    agent.log_in(at(0))
    agent.offer(at(0), call_id, ring_seconds=ring)
    return agent


# --- the rules ------------------------------------------------------------------------------


def test_an_offer_is_over_at_its_ring_timeout_plus_the_margin() -> None:
    watch = StuckAgentWatch()
    alice = ringing("alice", ring=30)
    assert alice.offer_deadline == at(30 + OFFER_MARGIN_SECONDS)
    # Asterisk cannot be asked (None): only the deadline can decide, and it has not passed.
    assert watch.check([alice], at(34.9), None) == []
    (repair,) = watch.check([alice], at(35), None)
    assert (repair.agent, repair.state, repair.call_id, repair.reason) == (
        "alice",
        S.RINGING,
        "c1",
        RING_TIMEOUT,
    )


def test_the_deadline_goes_with_the_ringing() -> None:
    alice = ringing("alice")
    alice.answer(at(3))
    assert alice.offer_deadline is None
    assert StuckAgentWatch().check([alice], at(3600), None) == []


def test_busy_with_no_channel_is_stuck_only_once_the_grace_has_passed() -> None:
    watch = StuckAgentWatch(grace_seconds=3)
    alice = ringing("alice")
    bob = ringing("bob", "c2")
    bob.answer(at(1))
    channels = {"alice": ["c1-alice-1"], "bob": []}
    assert watch.check([alice, bob], at(2), channels) == []  # bob first seen without one
    assert watch.check([alice, bob], at(4), channels) == []  # 2 s: still within the grace
    (repair,) = watch.check([alice, bob], at(5), channels)
    assert (repair.agent, repair.state, repair.reason) == ("bob", S.ON_CALL, NO_CHANNEL)


def test_a_channel_seen_again_or_a_new_call_starts_the_grace_anew() -> None:
    watch = StuckAgentWatch(grace_seconds=3)
    alice = ringing("alice")
    assert watch.check([alice], at(1), {"alice": []}) == []
    assert watch.check([alice], at(3), {"alice": ["c1-alice-1"]}) == []  # it was on its way
    assert watch.check([alice], at(5), {"alice": []}) == []
    assert watch.check([alice], at(7), {"alice": []}) == []
    # Another call now (the same agent busy again): its own grace.
    alice.offer_withdrawn(at(7.5))
    alice.offer(at(7.5), "c9", ring_seconds=30)
    assert watch.check([alice], at(8), {"alice": []}) == []
    assert [r.call_id for r in watch.check([alice], at(11), {"alice": []})] == ["c9"]


def test_agents_who_are_not_busy_are_left_alone() -> None:
    watch = StuckAgentWatch(grace_seconds=0)
    free = Agent("free")
    free.log_in(at(0))
    paused = Agent("paused")
    paused.log_in(at(0), paused_reason="lunch")
    assert watch.check([free, paused, Agent("out")], at(100), {}) == []


def test_put_back_keeps_a_pause_asked_for_during_the_call() -> None:
    alice = ringing("alice")
    alice.answer(at(1))
    alice.pause(at(2), "lunch")
    alice.put_back(at(10))
    assert alice.state is S.PAUSED and alice.call_id is None
    bob = ringing("bob")
    idle_before = bob.idle_since
    bob.put_back(at(5))
    # A withdrawn offer keeps the agent's place for longest idle.
    assert bob.state is S.AVAILABLE and bob.idle_since == idle_before


# --- the ACD at run time, with a faked ARI ---------------------------------------------------


class FakeAri:
    app = "switchboard"

    def __init__(self) -> None:
        self.endpoints: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    async def get(self, path: str, **_params: Any) -> Any:
        if path == "/endpoints/PJSIP":
            return self.endpoints
        name = path.rsplit("/", 1)[-1]
        return next(e for e in self.endpoints if e["resource"] == name)

    async def delete(self, path: str, **_params: Any) -> None:
        self.deleted.append(path)


class FakeWriter:
    def __init__(self) -> None:
        self.ops: list[RecordOp] = []

    def submit(self, op: RecordOp) -> None:
        self.ops.append(op)

    def agent_events(self, agent: str) -> list[dict[str, Any]]:
        return [o.row for o in self.ops if o.kind == "agent_event" and o.row["agent"] == agent]


def runtime(ari: FakeAri, writer: FakeWriter) -> AcdRuntime:
    acd = AcdRuntime(ari, None, writer, "postgresql://unused", "node1")  # type: ignore[arg-type]
    acd.settings["billing"] = QueueSettings("billing", ring_timeout=30)
    acd.queues["billing"] = QueueState("billing")
    acd.queues["billing"].members["alice"] = Member("alice", 0)
    acd.agents["alice"] = Agent("alice", registered=True)
    acd.login("alice")
    return acd


def state_of(acd: AcdRuntime, name: str) -> AgentState:
    """The state now (a call, so type checkers do not narrow it between moves)."""
    return acd.agents[name].state


def endpoint(name: str, *channels: str) -> dict[str, Any]:
    return {"resource": name, "state": "online", "channel_ids": list(channels)}


def offer_alice(acd: AcdRuntime, call_id: str) -> list[Event]:
    delivered: list[Event] = []
    acd.join(call_id, "billing", 0, {}, delivered.append)
    acd._route()
    assert state_of(acd, "alice") is S.RINGING
    assert [type(e) for e in delivered] == [AcdOffer]
    return delivered


CALL = "0b8c7a8e-1c55-4b6e-9d0e-6f1d2b3c4d5e"


def test_a_lost_channel_end_leaves_no_agent_ringing() -> None:
    """The caller's handler never hears that alice's leg ended (the event was lost in a
    reconnect): Asterisk's endpoint list shows no channel of ours, and a few seconds later
    alice is available again, with an event that says why."""

    async def scenario() -> None:
        ari, writer = FakeAri(), FakeWriter()
        acd = runtime(ari, writer)
        acd.stuck.grace_seconds = 0.2
        offer_alice(acd, CALL)
        ari.endpoints = [endpoint("alice", f"{CALL}-alice-1")]
        await acd.refresh_registrations()
        assert state_of(acd, "alice") is S.RINGING  # the ring is there: nothing to do
        ari.endpoints = [endpoint("alice")]  # gone, and nobody told the call
        await acd.refresh_registrations()
        assert state_of(acd, "alice") is S.RINGING  # first seen without it: grace
        await asyncio.sleep(0.25)
        await acd.refresh_registrations()
        assert state_of(acd, "alice") is S.AVAILABLE
        reset = writer.agent_events("alice")[-1]
        assert reset["type"] == "RESET" and reset["state"] == "available"
        assert reset["reason"] == f"{NO_CHANNEL} (was ringing)"
        assert str(reset["call_id"]) == CALL and reset["queue"] == "billing"
        # The stored state follows.
        states = [o.row for o in writer.ops if o.kind == "agent_state"]
        assert states[-1]["state"] == "available"

    asyncio.run(scenario())


def test_an_offer_past_its_deadline_is_withdrawn_and_its_ring_stopped() -> None:
    async def scenario() -> None:
        ari, writer = FakeAri(), FakeWriter()
        acd = runtime(ari, writer)
        offer_alice(acd, CALL)
        ari.endpoints = [endpoint("alice", f"{CALL}-alice-1", "her-own-call")]
        deadline = acd.agents["alice"].offer_deadline
        assert deadline is not None
        acd.repair_stuck(deadline - timedelta(seconds=1), None)
        assert state_of(acd, "alice") is S.RINGING
        acd.repair_stuck(deadline, None)
        assert state_of(acd, "alice") is S.AVAILABLE
        await asyncio.sleep(0.05)  # the hang-up runs on its own task
        assert ari.deleted == [f"/channels/{CALL}-alice-1"]  # never her own call
        reset = writer.agent_events("alice")[-1]
        assert reset["type"] == "RESET" and reset["reason"].startswith(RING_TIMEOUT)

    asyncio.run(scenario())


def test_a_call_that_ends_without_tidying_up_lets_its_agents_go() -> None:
    """A call's handler that ends on any path leaves no agent ringing or talking for it;
    a callback holding the same caller's place is not touched."""

    async def scenario() -> None:
        ari, writer = FakeAri(), FakeWriter()
        acd = runtime(ari, writer)
        delivered = offer_alice(acd, CALL)
        mine = delivered.append
        ari.endpoints = [endpoint("alice", f"{CALL}-alice-1")]
        acd.call_gone(CALL, lambda e: None)  # some other handler of the same id
        assert state_of(acd, "alice") is S.RINGING
        acd.call_gone(CALL, mine)
        assert state_of(acd, "alice") is S.AVAILABLE
        canceled = writer.agent_events("alice")[-1]
        assert canceled["type"] == "RINGCANCELED" and canceled["reason"] == "the call ended"
        await asyncio.sleep(0.05)
        assert ari.deleted == [f"/channels/{CALL}-alice-1"]
        # Answered, then the handler ends: the call is over for alice (wrap-up as set).
        offer_alice(acd, CALL)
        assert acd.answered(CALL, "alice", "billing", mine)
        acd.call_gone(CALL, mine)
        assert state_of(acd, "alice") is S.AVAILABLE
        assert writer.agent_events("alice")[-1]["type"] == "CALLEND"

    asyncio.run(scenario())


def test_a_late_word_about_an_old_call_does_not_end_the_new_one() -> None:
    async def scenario() -> None:
        ari, writer = FakeAri(), FakeWriter()
        acd = runtime(ari, writer)
        offer_alice(acd, CALL)
        acd.repair_stuck(acd.agents["alice"].offer_deadline or T0, None)
        other = "11111111-2222-4333-8444-555555555555"
        delivered = offer_alice(acd, other)
        assert acd.answered(other, "alice", "billing", delivered.append)
        acd.call_over("alice", "billing", CALL)  # the first call's handler, at last
        assert state_of(acd, "alice") is S.ON_CALL
        acd.call_over("alice", "billing", other)
        assert state_of(acd, "alice") is S.AVAILABLE

    asyncio.run(scenario())


@pytest.mark.parametrize("found", [S.ON_CALL, S.ON_HOLD])
def test_an_agent_on_a_call_that_vanished_is_put_back(found: AgentState) -> None:
    async def scenario() -> None:
        ari, writer = FakeAri(), FakeWriter()
        acd = runtime(ari, writer)
        acd.stuck.grace_seconds = 0
        delivered = offer_alice(acd, CALL)
        assert acd.answered(CALL, "alice", "billing", delivered.append)
        if found is S.ON_HOLD:
            acd.hold("alice", True)
        acd.repair_stuck(T0, {"alice": []})
        assert state_of(acd, "alice") is S.AVAILABLE
        assert "alice" not in acd.talking
        reset = writer.agent_events("alice")[-1]
        assert reset["reason"] == f"{NO_CHANNEL} (was {found.value})"

    asyncio.run(scenario())
