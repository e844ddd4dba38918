"""Webhook subscriptions (made by the CLI) and the outbox's deliveries (taken and settled
by the running app's sender, docs/webhooks.md).

Events are written by the database's triggers in the same transaction as their records
(migration 0011); a delivery is taken with a lease (``FOR UPDATE SKIP LOCKED``), so several
app instances never send it at once and a crashed sender's deliveries come back.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.webhooks.topics import parse_topics
from db.models import WebhookDelivery, WebhookEvent, WebhookSubscription


class WebhookError(ValueError):
    """A webhook request that cannot be carried out (the message says why)."""


# --- subscriptions and the log: the CLI's side ----------------------------------------------


def add_subscription(
    engine: Engine, url: str, events: str, max_attempts: int = 12
) -> tuple[int, str]:
    """Subscribe ``url`` to ``events`` (comma-separated); returns its id and its secret."""
    from urllib.parse import urlsplit

    topics = parse_topics(events)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"url {url!r}: an http:// or https:// address")
    if not 1 <= max_attempts <= 100:
        raise WebhookError("max attempts: from 1 to 100")
    secret = "whsec_" + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        new_id = connection.execute(
            insert(WebhookSubscription)
            .values(url=url, topics=list(topics), secret=secret, max_attempts=max_attempts)
            .returning(WebhookSubscription.id)
        ).scalar_one()
    return new_id, secret


def list_subscriptions(engine: Engine) -> list[dict[str, Any]]:
    pending = (
        select(func.count())
        .where(
            WebhookDelivery.subscription_id == WebhookSubscription.id,
            WebhookDelivery.status == "pending",
        )
        .scalar_subquery()
    )
    dead = (
        select(func.count())
        .where(
            WebhookDelivery.subscription_id == WebhookSubscription.id,
            WebhookDelivery.status == "dead",
        )
        .scalar_subquery()
    )
    query = select(
        WebhookSubscription.id,
        WebhookSubscription.url,
        WebhookSubscription.topics,
        WebhookSubscription.max_attempts,
        WebhookSubscription.active,
        WebhookSubscription.created_at,
        pending.label("pending"),
        dead.label("dead"),
    ).order_by(WebhookSubscription.id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def remove_subscription(engine: Engine, subscription_id: int) -> None:
    """Unsubscribe: nothing more is sent to it (its undelivered events are dropped)."""
    with engine.begin() as connection:
        result = connection.execute(
            delete(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
        )
    if result.rowcount == 0:
        raise WebhookError(f"no webhook {subscription_id}")


def delivery_log(
    engine: Engine,
    subscription_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The latest deliveries, newest first."""
    if status is not None and status not in ("pending", "delivered", "dead"):
        raise WebhookError(f"status {status!r}: pending, delivered or dead")
    query = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.subscription_id,
            WebhookEvent.uid,
            WebhookEvent.topic,
            WebhookEvent.occurred_at,
            WebhookDelivery.status,
            WebhookDelivery.attempts,
            WebhookDelivery.last_attempt_at,
            WebhookDelivery.last_status,
            WebhookDelivery.last_error,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.delivered_at,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def retry_dead(engine: Engine, subscription_id: int | None = None) -> int:
    """Send dead-lettered deliveries again (from a fresh count of tries); returns how many."""
    statement = (
        update(WebhookDelivery)
        .where(WebhookDelivery.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=func.now(), leased_until=None)
    )
    if subscription_id is not None:
        statement = statement.where(WebhookDelivery.subscription_id == subscription_id)
    with engine.begin() as connection:
        count = connection.execute(statement).rowcount
        connection.execute(text("SELECT pg_notify('switchboard_webhooks', 'retry')"))
    return count


# --- the sender's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A delivery taken for one attempt (``attempt`` counts this one)."""

    id: int
    attempt: int
    event_uid: uuid.UUID
    topic: str
    occurred_at: datetime
    data: dict[str, Any]
    url: str
    secret: str
    max_attempts: int


_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= now()
          AND (leased_until IS NULL OR leased_until < now())
        ORDER BY next_attempt_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_deliveries AS d
    SET leased_until = now() + make_interval(secs => :lease),
        attempts = d.attempts + 1,
        last_attempt_at = now()
    FROM due, webhook_events AS e, webhook_subscriptions AS s
    WHERE d.id = due.id AND e.id = d.event_id AND s.id = d.subscription_id
    RETURNING d.id, d.attempts, e.uid, e.topic, e.occurred_at, e.data, s.url, s.secret,
              s.max_attempts
    """
)

# A callback whose time came is announced once (callback.due), whoever is subscribed then.
_ANNOUNCE = text(
    """
    WITH due AS (
        SELECT id FROM callback_requests
        WHERE status = 'pending' AND due_announced_at IS NULL
          AND (due_at IS NULL OR due_at <= now())
        ORDER BY due_at NULLS FIRST, requested_at
        LIMIT 200
        FOR UPDATE SKIP LOCKED
    ), announced AS (
        UPDATE callback_requests AS c SET due_announced_at = now()
        FROM due WHERE c.id = due.id
        RETURNING c.*
    )
    SELECT webhook_emit('callback.due', coalesce(a.due_at, a.requested_at), to_jsonb(a))
    FROM announced AS a
    """
)


async def claim_due(engine: AsyncEngine, limit: int, lease_seconds: float) -> list[Due]:
    async with engine.begin() as connection:
        rows = (await connection.execute(_CLAIM, {"limit": limit, "lease": lease_seconds})).all()
    return [Due(*row) for row in rows]


async def settle(
    engine: AsyncEngine,
    delivery_id: int,
    status: str,
    next_attempt_at: datetime | None,
    http_status: int | None,
    error: str | None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "leased_until": None,
        "last_status": http_status,
        "last_error": error,
    }
    if status == "delivered":
        values["delivered_at"] = func.now()
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    async with engine.begin() as connection:
        await connection.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
        )


async def next_due_at(engine: AsyncEngine) -> datetime | None:
    """When the earliest waiting delivery may be tried (None: nothing waits)."""
    async with engine.connect() as connection:
        return (
            await connection.execute(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.status == "pending"
                )
            )
        ).scalar()


async def announce_due_callbacks(connection: AsyncConnection) -> int:
    """Raise callback.due for callbacks whose time came; returns how many."""
    return len((await connection.execute(_ANNOUNCE)).all())
