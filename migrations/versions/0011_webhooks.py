"""webhooks: subscriptions, an outbox of events written by triggers in the same transaction
as the records they tell of (call.ended, call.coded, agent.state; callback.due is raised by
the sender when a callback's time comes), and their deliveries with retries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An event is written (with one delivery per subscriber) only while someone subscribes to
# its topic: a center without webhooks pays one look at a small table.
EMIT = """
CREATE FUNCTION webhook_emit(p_topic text, p_at timestamptz, p_data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_event bigint;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM webhook_subscriptions WHERE active AND p_topic = ANY (topics)
    ) THEN
        RETURN;
    END IF;
    INSERT INTO webhook_events (topic, occurred_at, data)
    VALUES (p_topic, p_at, p_data) RETURNING id INTO v_event;
    INSERT INTO webhook_deliveries (event_id, subscription_id)
    SELECT v_event, id FROM webhook_subscriptions WHERE active AND p_topic = ANY (topics);
    PERFORM pg_notify('switchboard_webhooks', p_topic);
END;
$$;

-- One trigger function for every table: TG_ARGV[0] is the topic, TG_ARGV[1] the row's column
-- that says when it happened. The row is turned into JSON only when someone subscribes.
CREATE FUNCTION webhook_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_row jsonb;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM webhook_subscriptions WHERE active AND TG_ARGV[0] = ANY (topics)
    ) THEN
        RETURN NULL;
    END IF;
    v_row := to_jsonb(NEW);
    PERFORM webhook_emit(TG_ARGV[0], (v_row ->> TG_ARGV[1])::timestamptz, v_row);
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_call_ended_insert AFTER INSERT ON calls
    FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL)
    EXECUTE FUNCTION webhook_row('call.ended', 'ended_at');
CREATE TRIGGER webhook_call_ended_update AFTER UPDATE ON calls
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
    EXECUTE FUNCTION webhook_row('call.ended', 'ended_at');
CREATE TRIGGER webhook_call_coded AFTER INSERT ON call_dispositions
    FOR EACH ROW WHEN (NEW.set_by <> 'system')
    EXECUTE FUNCTION webhook_row('call.coded', 'set_at');
CREATE TRIGGER webhook_agent_state AFTER INSERT ON agent_events
    FOR EACH ROW EXECUTE FUNCTION webhook_row('agent.state', 'occurred_at');
"""

DROP = """
DROP TRIGGER IF EXISTS webhook_agent_state ON agent_events;
DROP TRIGGER IF EXISTS webhook_call_coded ON call_dispositions;
DROP TRIGGER IF EXISTS webhook_call_ended_update ON calls;
DROP TRIGGER IF EXISTS webhook_call_ended_insert ON calls;
DROP FUNCTION IF EXISTS webhook_row();
DROP FUNCTION IF EXISTS webhook_emit(text, timestamptz, jsonb);
"""


def upgrade() -> None:
    op.add_column(
        "callback_requests",
        sa.Column("due_announced_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("topics", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="12", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("url ~ '^https?://'", name=op.f("ck_webhook_subscriptions_url")),
        sa.CheckConstraint(
            "topics <@ ARRAY['call.ended', 'call.coded', 'callback.due', 'agent.state']::text[] "
            "AND cardinality(topics) > 0",
            name=op.f("ck_webhook_subscriptions_topics"),
        ),
        sa.CheckConstraint(
            "max_attempts BETWEEN 1 AND 100", name=op.f("ck_webhook_subscriptions_max_attempts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("uid", name=op.f("uq_webhook_events_uid")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_webhook_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "uq_webhook_deliveries_event_subscription",
        "webhook_deliveries",
        ["event_id", "subscription_id"],
        unique=True,
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_subscription_id"),
        "webhook_deliveries",
        ["subscription_id"],
        unique=False,
    )
    op.execute(EMIT)


def downgrade() -> None:
    op.execute(DROP)
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscriptions")
    op.drop_column("callback_requests", "due_announced_at")
