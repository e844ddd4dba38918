"""No agent stays "ringing" or "on a call" for a caller who is gone, on real calls: sipp
callers and softphones through Asterisk 22, agent states from the app's API, rows in
PostgreSQL, channels from Asterisk's own endpoint list."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pbx.instance import AsteriskInstance
from pbx.ports import free_tcp_udp_port
from testkit.agents import SippAgent
from tests.conftest import AppFactory
from tests.integration.test_acd_calls import (
    Center,
    ari_get,
    call_in_background,
    calls,
    center,
    events,
    forget_acd,
    post,
    wait_state,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration
__all__ = ["center"]  # the fixture, used by name


def agent_events(database_url: str, agent: str) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT type, queue, reason, occurred_at FROM agent_events WHERE agent = %s "
        "ORDER BY occurred_at, id",
        agent,
    )


def our_channels(center: Center, agent: str) -> list[str]:
    endpoint = ari_get(center, f"/endpoints/PJSIP/{agent}")
    return [str(c) for c in endpoint.get("channel_ids") or ()]


def legs(database_url: str, call_id: Any) -> list[dict[str, Any]]:
    return query(database_url, "SELECT * FROM call_legs WHERE call_id = %s", call_id)


def free_at_once(database_url: str, agent: str, kind: str, ended: datetime) -> None:
    """The agent's offer or call ended with the caller (``kind``), within a second of the
    caller's hang-up, not by the safety net."""
    steps = agent_events(database_url, agent)
    freed = [e for e in steps if e["type"] == kind]
    assert freed, [e["type"] for e in steps]
    assert abs((freed[-1]["occurred_at"] - ended).total_seconds()) < 1.0
    assert "RESET" not in [e["type"] for e in steps]


def test_overflowed_caller_hangs_up_while_the_agent_rings(
    center: Center, database_url: str
) -> None:
    """care (max wait 3 s) overflows to billing; alice, in both, never answers; the caller
    hangs up while alice's phone rings for billing."""
    center.agent("alice")
    center.queue("billing", ["alice"], ring_timeout=30)
    center.queue("care", ["alice"], ring_timeout=30, max_wait_seconds=3, overflow_queue="billing")
    center.start("care")
    center.phone("alice", ring_ms=None)
    center.login("alice")
    caller = "+15558400001"
    done = call_in_background(center, caller, 6500)
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    wait_state(center, "alice", "available", timeout=2)
    steps = events(database_url, row["id"])
    kinds = [(e["type"], e["data"].get("queue")) for e in steps]
    assert ("EXITWITHTIMEOUT", "care") in kinds
    assert ("RINGCANCELED", "care") in kinds
    # What the caller did in billing, in app_queue's terms.
    tail = [k for k in kinds if k[1] == "billing"]
    assert tail == [
        ("ENTERQUEUE", "billing"),
        ("RINGING", "billing"),
        ("RINGCANCELED", "billing"),
        ("ABANDON", "billing"),
    ], kinds
    abandon = next(e["data"] for e in steps if e["type"] == "ABANDON")
    assert 2.0 <= abandon["waittime"] <= 5.0
    assert row["queue"] == "billing" and row["queue_exit"] == "abandoned"
    assert row["agent"] is None and row["hangup_party"] == "caller"
    free_at_once(database_url, "alice", "RINGCANCELED", row["ended_at"])
    # Every leg of the call has ended, in our rows and in Asterisk.
    agent_legs = [leg for leg in legs(database_url, row["id"]) if leg["role"] == "agent"]
    assert len(agent_legs) == 2 and all(leg["ended_at"] is not None for leg in agent_legs)
    wait_until(lambda: not our_channels(center, "alice"), 3, what="alice's phone stops ringing")
    # And she takes the next call.
    center.phones[0].stop()
    center.phones.clear()
    center.phone("alice", ring_ms=200)
    again = call_in_background(center, "+15558400002", 1500)
    assert again.result(timeout=60).ok
    (answered,) = calls(database_url, "+15558400002", 1)
    assert answered["agent"] == "alice"


def test_transfer_target_rings_while_the_caller_hangs_up(center: Center, database_url: str) -> None:
    center.agent("amy")
    center.agent("bob")
    center.queue("front", ["amy"])
    center.start("front")
    center.phone("amy")
    center.phone("bob", ring_ms=None)
    center.login("amy", "bob")
    caller = "+15558400003"
    done = call_in_background(center, caller, 10000)
    wait_state(center, "amy", "on_call")
    # The safety net's witness: Asterisk lists an answered leg of ours on amy's phone...
    assert any(c.startswith(center.state("amy")["call_id"]) for c in our_channels(center, "amy"))
    status, answer = post(center, "/api/agents/amy/call/transfer", {"target": "agent:bob"})
    assert status == 200 and answer == {"ringing": "bob", "attended": False}
    assert center.state("bob")["state"] == "ringing"
    # ... and a ringing one on bob's, who rings for about 8 s, past the net's grace.
    assert our_channels(center, "bob")
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    wait_state(center, "bob", "available", timeout=2)
    wait_state(center, "amy", "available", timeout=2)
    steps = events(database_url, row["id"])
    canceled = [e["data"] for e in steps if e["type"] == "RINGCANCELED"]
    assert [(c["agent"], c.get("transfer")) for c in canceled] == [("bob", True)]
    free_at_once(database_url, "bob", "RINGCANCELED", row["ended_at"])
    assert all(leg["ended_at"] is not None for leg in legs(database_url, row["id"]))
    wait_until(lambda: not our_channels(center, "bob"), 3, what="bob's phone stops ringing")


@pytest.mark.parametrize("talk_ms", [400, 0])
def test_callback_leg_ends_with_the_customer(
    app_factory: AppFactory,
    asterisk: AsteriskInstance,
    database_url: str,
    tmp_path: Path,
    talk_ms: int,
) -> None:
    """A callback: the agent's leg is answered, the customer is called and hangs up
    after a few words or as soon as they answer (before the two are bridged); the agent
    is free again with the customer's hang-up."""
    forget_acd(database_url)
    customer = SippAgent("customer", "", asterisk.params.sip_port, ring_ms=200)
    customer.hang_up_after_ms = talk_ms
    customer.port = free_tcp_udp_port("127.0.0.1")
    center = Center(app_factory, asterisk, database_url, tmp_path)
    center.outbound_uri = f"sip:127.0.0.1:{customer.port}"
    try:
        customer.start(register=False)
        center.agent("cora")
        center.queue("help", ["cora"], callback_key="*")
        center.start("help")
        center.phone("cora")
        center.api("POST", "/api/agents/cora/login", {"reason": "briefing"})  # paused
        caller = "+15558400004" if talk_ms else "+15558400005"
        asked = call_in_background(center, caller, 0, keys=((1500, "*"), (1500, "1")))
        assert asked.result(timeout=30).ok
        center.api("POST", "/api/agents/cora/resume")
        back = wait_until(
            lambda: query(
                database_url,
                "SELECT * FROM calls WHERE dialed_number = %s AND direction = 'outbound' "
                "AND ended_at IS NOT NULL",
                caller,
            ),
            30,
            what="the call back",
        )[0]
        # Hung up as they answered, the customer may never have been bridged to cora.
        assert back["agent"] in (("cora",) if talk_ms else ("cora", None))
        assert back["hangup_party"] == "caller"
        wait_state(center, "cora", "available", timeout=2)
        free_at_once(database_url, "cora", "CALLEND", back["ended_at"])
        time.sleep(0.5)
        assert our_channels(center, "cora") == []
    finally:
        customer.stop()
        center.close()
        forget_acd(database_url)
