"""The webhook outbox on the real PostgreSQL with the sender posting over real HTTP to a
receiver on loopback: triggers write events in the record's own transaction, retries,
dead-letter and its replay, two senders never sending one delivery twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from ari_app.webhook_sender import SenderSettings, WebhookSender
from callcenter.webhooks.retry import Backoff
from db.engine import async_engine
from pbx.ports import free_port
from switchboard.cli.main import app as main_app
from testkit.webhook_receiver import WebhookReceiver
from tests.support import query

pytestmark = pytest.mark.integration


def cli(database_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        main_app, list(args), env={"DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def clean(database_url: str) -> Iterator[None]:
    def wipe() -> None:
        for statement in (
            "DELETE FROM webhook_subscriptions",
            "DELETE FROM webhook_events",
            "DELETE FROM agent_events WHERE agent LIKE 'hook%%'",
            "DELETE FROM callback_requests WHERE number LIKE '+1555870%%'",
        ):
            query(database_url, statement)

    wipe()
    query(database_url, "INSERT INTO nodes (id) VALUES ('hooks') ON CONFLICT DO NOTHING")
    yield
    wipe()


def subscribe(database_url: str, receiver: WebhookReceiver, events: str, *extra: str) -> int:
    output = cli(database_url, "webhooks", "add", receiver.url, "--events", events, *extra)
    receiver.secret = output.split("secret :")[1].split()[0]
    return int(output.split("webhook ")[1].split()[0])


def agent_event(database_url: str, agent: str, state: str) -> None:
    query(
        database_url,
        "INSERT INTO agent_events (uid, agent, node_id, occurred_at, type, state) "
        "VALUES (%s, %s, 'hooks', now(), 'STATE', %s)",
        uuid.uuid4(),
        agent,
        state,
    )


def run_senders(
    database_url: str, done: Callable[[], bool], timeout: float, senders: int = 1, **settings: float
) -> list[WebhookSender]:
    """Run senders (as the app runs them) until ``done()`` or ``timeout`` seconds."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    config = SenderSettings(
        timeout=settings.get("timeout", 5.0),
        concurrency=int(settings.get("concurrency", 8)),
        backoff=Backoff(settings.get("base", 0.2), settings.get("cap", 1.0)),
        poll=settings.get("poll", 0.5),
    )

    async def main() -> list[WebhookSender]:
        engine = async_engine(url)
        made = [WebhookSender(engine, url, config) for _ in range(senders)]
        tasks = [asyncio.create_task(s.run()) for s in made]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while loop.time() < deadline and not await asyncio.to_thread(done):
                await asyncio.sleep(0.1)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await engine.dispose()
        return made

    return asyncio.run(main())


def deliveries(database_url: str) -> list[dict[str, object]]:
    return query(
        database_url,
        "SELECT d.*, e.uid, e.topic FROM webhook_deliveries d "
        "JOIN webhook_events e ON e.id = d.event_id ORDER BY d.id",
    )


def test_without_a_subscriber_nothing_is_written(database_url: str, clean: None) -> None:
    agent_event(database_url, "hook0", "available")
    assert query(database_url, "SELECT * FROM webhook_events") == []


def test_agent_state_and_a_due_callback_reach_the_receiver_signed(
    database_url: str, clean: None
) -> None:
    receiver = WebhookReceiver(free_port()).start()
    try:
        subscribe(database_url, receiver, "agent.state,callback.due")
        agent_event(database_url, "hook1", "paused")
        # A callback whose time came a minute ago, and one due tomorrow (not announced).
        now = datetime.now(UTC)
        for number, due in (
            ("+15558700001", now - timedelta(minutes=1)),
            ("+15558700002", now + timedelta(days=1)),
        ):
            query(
                database_url,
                "INSERT INTO callback_requests (id, number, queue, source, requested_at, due_at) "
                "VALUES (%s, %s, 'sales', 'ivr', %s, %s)",
                uuid.uuid4(),
                number,
                now - timedelta(minutes=5),
                due,
            )
        run_senders(database_url, lambda: len(receiver.received) >= 2, 15)
        assert receiver.refused == []  # every signature checked out
        (state,) = receiver.of("agent.state")
        assert state["data"]["agent"] == "hook1" and state["data"]["state"] == "paused"
        (announced,) = receiver.of("callback.due")
        assert announced["data"]["number"] == "+15558700001"
        assert announced["data"]["queue"] == "sales"
        rows = deliveries(database_url)
        assert [(r["topic"], r["status"], r["attempts"]) for r in rows] == [
            ("agent.state", "delivered", 1),
            ("callback.due", "delivered", 1),
        ]
        # Announced once: a second round raises nothing new.
        run_senders(database_url, lambda: False, 1.5)
        assert len(receiver.received) == 2
    finally:
        receiver.stop()


def test_a_failing_receiver_is_retried_then_dead_lettered_and_replayed(
    database_url: str, clean: None
) -> None:
    receiver = WebhookReceiver(free_port(), status=503).start()
    try:
        webhook = subscribe(database_url, receiver, "agent.state", "--max-attempts", "3")
        agent_event(database_url, "hook2", "available")
        run_senders(database_url, lambda: deliveries(database_url)[0]["status"] == "dead", 15)
        (row,) = deliveries(database_url)
        assert row["status"] == "dead" and row["attempts"] == 3
        assert row["last_status"] == 503 and "HTTP 503" in str(row["last_error"])
        log = cli(database_url, "webhooks", "log", "--status", "dead", "--webhook", str(webhook))
        assert "agent.state" in log and "dead" in log and "503" in log
        (line,) = [
            x for x in cli(database_url, "webhooks", "list").splitlines() if receiver.url in x
        ]
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        # id, url, events, tries, waiting, dead
        assert cells[:6] == [str(webhook), receiver.url, "agent.state", "3", "0", "1"]
        # The receiver is mended; the operator replays the dead letters.
        receiver.status = 200
        assert "1 dead-lettered delivery queued again" in cli(database_url, "webhooks", "retry")
        run_senders(database_url, lambda: len(receiver.received) >= 1, 10)
        (got,) = receiver.received
        assert got.key == str(row["uid"])  # the same idempotency key as every earlier try
        assert deliveries(database_url)[0]["status"] == "delivered"
    finally:
        receiver.stop()


def test_two_senders_never_send_one_delivery_twice(database_url: str, clean: None) -> None:
    receiver = WebhookReceiver(free_port(), delay=0.05).start()
    try:
        subscribe(database_url, receiver, "agent.state")
        for i in range(40):
            agent_event(database_url, f"hook{i}", "available")
        run_senders(
            database_url, lambda: len(receiver.received) >= 40, 30, senders=2, concurrency=4
        )
        keys = receiver.keys()
        assert len(keys) == 40 and len(set(keys)) == 40
        assert {r["status"] for r in deliveries(database_url)} == {"delivered"}
    finally:
        receiver.stop()


def test_bad_subscriptions_are_refused_with_the_reason(database_url: str, clean: None) -> None:
    out = cli(database_url, "webhooks", "add", "ftp://x", "--events", "call.ended", code=2)
    assert "http:// or https://" in out
    out = cli(
        database_url, "webhooks", "add", "http://127.0.0.1/x", "--events", "call.started", code=2
    )
    assert "unknown event call.started" in out
    out = cli(database_url, "webhooks", "remove", "999999", code=2)
    assert "no webhook 999999" in out
