"""The webhook sender: takes deliveries from the outbox in PostgreSQL and POSTs them, signed,
to their receivers, off every call's path (a slow or dead receiver costs the calls nothing:
its deliveries wait in the database, never in a call's handler).

Woken by NOTIFY switchboard_webhooks (the triggers raise it with each event) and by its own
poll; up to ``concurrency`` requests in flight; every attempt is settled in the database
(delivered, tried again after a backoff, or dead-lettered after the subscription's tries).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.notify_wake import wake_on_notify
from callcenter.webhooks import payloads
from callcenter.webhooks.retry import Backoff, after_attempt, success
from callcenter.webhooks.signing import HEADER, sign
from db.webhook_store import Due, announce_due_callbacks, claim_due, next_due_at, settle

log = structlog.get_logger()

CHANNEL = "switchboard_webhooks"
USER_AGENT = "Switchboard-Webhooks/1"


@dataclass(frozen=True)
class SenderSettings:
    timeout: float = 10.0
    concurrency: int = 8
    backoff: Backoff = field(default_factory=Backoff)
    poll: float = 5.0

    @property
    def lease(self) -> float:
        """How long a taken delivery is ours: well past the request's own timeout."""
        return self.timeout * 3 + 30


def headers(due: Due, body: bytes, now: float) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": str(due.event_uid),
        "Switchboard-Event": due.topic,
        "Switchboard-Delivery": str(due.id),
        "Switchboard-Attempt": str(due.attempt),
        HEADER: sign(due.secret, body, int(now)),
    }


class WebhookSender:
    def __init__(self, engine: AsyncEngine, database_url: str, settings: SenderSettings) -> None:
        self.engine = engine
        self.database_url = database_url
        self.settings = settings
        self._wake = asyncio.Event()
        self._last_announce = 0.0
        self.sent = 0
        self.failed = 0

    async def run(self) -> None:
        listener = asyncio.create_task(
            wake_on_notify(self.database_url, CHANNEL, self._wake), name="webhooks-listen"
        )
        in_flight: set[asyncio.Task[None]] = set()
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        session = aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT})
        try:
            while True:
                try:
                    wait = await self._round(session, in_flight)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database away: try again at the next poll
                    log.warning("webhooks.round_failed", error=str(exc))
                    wait = self.settings.poll
                if wait <= 0:
                    continue
                waiter = asyncio.create_task(self._wake.wait())
                done, _ = await asyncio.wait(
                    {waiter, *in_flight}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                self._wake.clear()
                in_flight.difference_update(done)
        finally:
            listener.cancel()
            for task in in_flight:
                task.cancel()
            # (Their leases run out and another round sends them: at least once.)
            with contextlib.suppress(Exception):
                await asyncio.gather(listener, *in_flight, return_exceptions=True)
            await session.close()

    async def _round(
        self, session: aiohttp.ClientSession, in_flight: set[asyncio.Task[None]]
    ) -> float:
        """Start what is due; returns how long to wait before looking again (0: at once)."""
        in_flight.difference_update({task for task in in_flight if task.done()})
        now = time.monotonic()
        if now - self._last_announce >= self.settings.poll:
            self._last_announce = now
            async with self.engine.begin() as connection:
                announced = await announce_due_callbacks(connection)
            if announced:
                log.info("webhooks.callbacks_due", count=announced)
        free = self.settings.concurrency - len(in_flight)
        if free > 0:
            batch = await claim_due(self.engine, free, self.settings.lease)
            for due in batch:
                in_flight.add(asyncio.create_task(self._deliver(session, due)))
            if len(batch) == free:
                return 0.0
        if len(in_flight) >= self.settings.concurrency:
            return self.settings.poll
        soonest = await next_due_at(self.engine)
        if soonest is None:
            return self.settings.poll
        until = (soonest - datetime.now(UTC)).total_seconds()
        return min(self.settings.poll, max(0.05, until))

    async def _deliver(self, session: aiohttp.ClientSession, due: Due) -> None:
        body = payloads.body(str(due.event_uid), due.topic, due.occurred_at, due.data)
        status: int | None = None
        error: str | None = None
        started = time.monotonic()
        try:
            async with session.post(
                due.url, data=body, headers=headers(due, body, time.time()), allow_redirects=False
            ) as response:
                status = response.status
                if not success(status):
                    error = f"HTTP {status} {response.reason or ''}".strip()
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            error = f"no answer within {self.settings.timeout:g} s"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        outcome = after_attempt(
            status, due.attempt, due.max_attempts, datetime.now(UTC), self.settings.backoff
        )
        if outcome.status == "delivered":
            self.sent += 1
        else:
            self.failed += 1
        log.info(
            "webhooks.attempt",
            delivery=due.id,
            topic=due.topic,
            attempt=due.attempt,
            status=outcome.status,
            http=status,
            error=error,
            ms=round((time.monotonic() - started) * 1000),
        )
        try:
            await settle(
                self.engine, due.id, outcome.status, outcome.next_attempt_at, status, error
            )
        except Exception as exc:  # its lease runs out and it is sent again: at least once
            log.warning("webhooks.settle_failed", delivery=due.id, error=str(exc))
