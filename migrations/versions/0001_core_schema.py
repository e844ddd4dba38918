"""core schema: nodes, calls, call legs, call events

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:14:03.431311
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("asterisk_version", sa.String(length=255), nullable=True),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=True),
        sa.Column("caller_name", sa.Text(), nullable=True),
        sa.Column("dialed_number", sa.Text(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digits", sa.Text(), nullable=True),
        sa.Column("hangup_party", sa.String(length=16), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "direction IN ('inbound', 'outbound', 'internal')", name=op.f("ck_calls_direction")
        ),
        sa.CheckConstraint(
            "hangup_party IS NULL OR hangup_party IN ('caller', 'system', 'agent', 'callee', 'unknown')",
            name=op.f("ck_calls_hangup_party"),
        ),
        sa.CheckConstraint(
            "answered_at IS NULL OR answered_at >= arrived_at", name=op.f("ck_calls_answer_order")
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= arrived_at", name=op.f("ck_calls_end_order")
        ),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_calls_node_id_nodes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_calls_channel_id")),
    )
    op.create_index("ix_calls_arrived_at", "calls", ["arrived_at"], unique=False)
    op.create_index(op.f("ix_calls_linkedid"), "calls", ["linkedid"], unique=False)
    op.create_index(
        "ix_calls_live", "calls", ["node_id"], unique=False, postgresql_where="ended_at IS NULL"
    )
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_events_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_call_events_node_id_nodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
    )
    op.create_index(
        "ix_call_events_call_time", "call_events", ["call_id", "occurred_at"], unique=False
    )
    op.create_table(
        "call_legs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("channel_name", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "role IN ('caller', 'agent', 'callee', 'supervisor', 'other')",
            name=op.f("ck_call_legs_role"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_legs_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_legs")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_call_legs_channel_id")),
    )
    op.create_index(op.f("ix_call_legs_call_id"), "call_legs", ["call_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_call_legs_call_id"), table_name="call_legs")
    op.drop_table("call_legs")
    op.drop_index("ix_call_events_call_time", table_name="call_events")
    op.drop_table("call_events")
    op.drop_index("ix_calls_live", table_name="calls", postgresql_where="ended_at IS NULL")
    op.drop_index(op.f("ix_calls_linkedid"), table_name="calls")
    op.drop_index("ix_calls_arrived_at", table_name="calls")
    op.drop_table("calls")
    op.drop_table("nodes")
