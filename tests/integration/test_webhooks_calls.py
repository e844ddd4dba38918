"""Webhooks for real calls (Asterisk, sipp, PostgreSQL, a real HTTP receiver on loopback):
call.ended and call.coded arrive signed with the call's own figures; a receiver down for
30 s gets every event afterwards, once each; a slow receiver does not delay calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from pbx.ports import free_port
from switchboard.cli.main import app as main_app
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from testkit.webhook_receiver import WebhookReceiver
from tests.integration.test_acd_calls import (
    Center,
    calls,
    center,  # noqa: F401  (the fixture)
    post,
    wait_state,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration

FAST_RETRIES = {
    "SWITCHBOARD_WEBHOOK_RETRY_SECONDS": "1",
    "SWITCHBOARD_WEBHOOK_RETRY_CAP_SECONDS": "4",
    "SWITCHBOARD_WEBHOOK_POLL_SECONDS": "1",
}


def cli(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        main_app, list(args), env={"DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def hooks(database_url: str) -> Iterator[None]:
    """The session's database is shared: no subscription outlives its test."""
    for statement in ("DELETE FROM webhook_subscriptions", "DELETE FROM webhook_events"):
        query(database_url, statement)
    yield
    for statement in ("DELETE FROM webhook_subscriptions", "DELETE FROM webhook_events"):
        query(database_url, statement)


def subscribe(database_url: str, receiver: WebhookReceiver, events: str) -> None:
    output = cli(database_url, "webhooks", "add", receiver.url, "--events", events)
    receiver.secret = output.split("secret :")[1].split()[0]


def call_and_code(
    center: Center,  # noqa: F811
    agent: str,
    caller: str,
    note: str,
) -> dict[str, Any]:
    """A caller talks 2 s to ``agent`` and hangs up; the agent codes it in wrap-up."""
    script = CallerScript(caller=caller, hang_up_after_ms=2000)
    result = asyncio.run(place_calls(center.asterisk.params.sip_port, "5000", script))
    assert result.ok, result.output
    (row,) = calls(center.database_url, caller, 1)
    wait_state(center, agent, "wrap_up")
    status, answer = post(
        center, f"/api/agents/{agent}/disposition", {"code": "resolved", "note": note}
    )
    assert status == 200, answer
    return row


def test_a_call_is_told_ended_and_coded_signed(
    center: Center,  # noqa: F811
    database_url: str,
    hooks: None,
) -> None:
    receiver = WebhookReceiver(free_port()).start()
    try:
        subscribe(database_url, receiver, "call.ended,call.coded")
        center.agent("hookann")
        center.queue("hooks", ["hookann"], wrap_up_seconds=30)
        center.start("hooks", **FAST_RETRIES)
        center.phone("hookann")
        center.login("hookann")
        row = call_and_code(center, "hookann", "+15558800001", "wants the blue one")
        wait_until(lambda: len(receiver.received) >= 2, 15, what="call.ended and call.coded")
        assert receiver.refused == []  # both signatures checked out
        (ended,) = receiver.of("call.ended")
        data = ended["data"]
        assert data["id"] == str(row["id"]) and data["caller_number"] == "+15558800001"
        assert data["agent"] == "hookann" and data["queue"] == "hooks"
        assert data["direction"] == "inbound" and data["queue_exit"] == "connected"
        # The figures are the call's own, as stored.
        assert data["talk_seconds"] == pytest.approx(row["talk_seconds"])
        assert data["wait_seconds"] == pytest.approx(row["wait_seconds"])
        assert 1.5 < data["talk_seconds"] < 5
        (coded,) = receiver.of("call.coded")
        assert coded["data"]["call_id"] == str(row["id"])
        assert coded["data"]["code"] == "resolved" and coded["data"]["set_by"] == "agent:hookann"
        assert coded["data"]["note"] == "wants the blue one"
        # Only the agent's code is told (not the platform's own "answered").
        time.sleep(2)
        assert len(receiver.received) == 2
    finally:
        receiver.stop()


def test_a_receiver_down_for_30_s_gets_every_event_afterwards_once(
    center: Center,  # noqa: F811
    database_url: str,
    hooks: None,
) -> None:
    receiver = WebhookReceiver(free_port())  # not listening yet: connections are refused
    subscribe(database_url, receiver, "call.ended,call.coded")
    down_at = time.monotonic()
    center.agent("hookbob")
    center.queue("hooks2", ["hookbob"], wrap_up_seconds=30)
    center.start("hooks2", **FAST_RETRIES)
    center.phone("hookbob")
    center.login("hookbob")
    rows = [
        call_and_code(center, "hookbob", caller, "while the CRM was down")
        for caller in ("+15558800002", "+15558800003")
    ]
    # Tried and tried again while it is down.
    wait_until(
        lambda: query(
            database_url,
            "SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND attempts >= 3",
        ),
        20,
        what="retries",
    )
    log = cli(database_url, "webhooks", "log")
    assert "pending" in log and "ClientConnectorError" in log
    time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
    receiver.start()
    try:
        wait_until(
            lambda: (
                not query(
                    database_url, "SELECT 1 FROM webhook_deliveries WHERE status <> 'delivered'"
                )
            ),
            20,
            what="every delivery delivered",
        )
        events = query(database_url, "SELECT uid::text AS uid, topic FROM webhook_events")
        assert sorted(e["topic"] for e in events) == ["call.coded"] * 2 + ["call.ended"] * 2
        keys = receiver.keys()
        assert sorted(keys) == sorted(e["uid"] for e in events)  # every event, once each
        assert receiver.refused == []
        ended = {d["data"]["id"] for d in receiver.of("call.ended")}
        assert ended == {str(row["id"]) for row in rows}
        assert all(r.attempt > 1 for r in receiver.received)  # they came by retries
    finally:
        receiver.stop()


def test_a_slow_receiver_does_not_delay_calls(
    center: Center,  # noqa: F811
    database_url: str,
    hooks: None,
) -> None:
    # Every request held 4 s, two at a time: the outbox backs up for the whole test.
    receiver = WebhookReceiver(free_port(), delay=4.0).start()
    try:
        subscribe(database_url, receiver, "call.ended,call.coded,agent.state")
        center.agent("hookcy")
        center.queue("hooks3", ["hookcy"], wrap_up_seconds=30)
        center.start("hooks3", SWITCHBOARD_WEBHOOK_CONCURRENCY="2", **FAST_RETRIES)
        center.phone("hookcy")
        center.login("hookcy")
        rows = [
            call_and_code(center, "hookcy", caller, "slow CRM")
            for caller in ("+15558800004", "+15558800005", "+15558800006")
        ]
        waiting = query(
            database_url,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'",
        )[0]["n"]
        figures = [
            (
                (r["answered_at"] - r["arrived_at"]).total_seconds(),
                (r["connected_at"] - r["queued_at"]).total_seconds(),
            )
            for r in rows
        ]
        print(
            f"slow receiver: {receiver.most_in_flight} requests held at once, {waiting} "
            "deliveries waiting; per call (answer s, queue->agent s): "
            + ", ".join(f"({a:.3f}, {q:.3f})" for a, q in figures)
        )
        assert receiver.most_in_flight == 2 and waiting > 0  # it really was backed up
        # The calls were answered and connected as fast as without webhooks (the agent's
        # phone rings 200 ms before answering).
        for answered, connected in figures:
            assert answered < 0.5 and connected < 1.5
        wait_until(
            lambda: (
                not query(
                    database_url, "SELECT 1 FROM webhook_deliveries WHERE status <> 'delivered'"
                )
            ),
            60,
            what="the backlog delivered",
        )
        assert len(receiver.keys()) == len(set(receiver.keys()))
    finally:
        receiver.stop()
