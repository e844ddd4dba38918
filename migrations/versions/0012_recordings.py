"""recordings you can manage: a row per recording (a queue call's, or a voicemail message)
with where it was paused, purged file first; a queue's overflow to voicemail; a voicemail's
callback knows its message

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=8), server_default="wav", nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=32), nullable=True),
        sa.Column("agent", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("paused_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column(
            "gaps",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('call', 'voicemail')", name=op.f("ck_recordings_kind")),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_recordings_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_recordings_node_id_nodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("name", name=op.f("uq_recordings_name")),
    )
    op.create_index(op.f("ix_recordings_call_id"), "recordings", ["call_id"], unique=False)
    op.create_index("ix_recordings_queue_started", "recordings", ["queue", "started_at"])
    op.create_index("ix_recordings_started", "recordings", ["started_at"])
    op.create_index(
        "ix_recordings_deleted",
        "recordings",
        ["node_id"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    # Recordings made before this revision: a row each, from the call that names it.
    op.execute(
        """
        INSERT INTO recordings (id, call_id, kind, name, node_id, queue, agent, started_at,
                                ended_at, duration_seconds)
        SELECT gen_random_uuid(), c.id, 'call', c.recording, c.node_id, c.queue, c.agent,
               COALESCE(c.connected_at, c.arrived_at), COALESCE(c.talk_ended_at, c.ended_at),
               EXTRACT(EPOCH FROM (COALESCE(c.talk_ended_at, c.ended_at)
                                   - COALESCE(c.connected_at, c.arrived_at)))
        FROM calls c WHERE c.recording IS NOT NULL
        ON CONFLICT (name) DO NOTHING
        """
    )
    op.add_column(
        "callback_requests",
        sa.Column(
            "recording_id",
            sa.UUID(),
            sa.ForeignKey(
                "recordings.id",
                name=op.f("fk_callback_requests_recording_id_recordings"),
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
    )
    # An anonymized callback request keeps no number.
    op.alter_column("callback_requests", "number", existing_type=sa.Text(), nullable=True)
    op.add_column(
        "queues",
        sa.Column("voicemail", sa.Boolean(), server_default="false", nullable=False),
    )
    # The platform's code for a call that ended with a message left (a contact, final for
    # the call, to be called back).
    op.execute(
        """
        INSERT INTO disposition_codes (code_set, code, label, human_answered, contact, success,
                                       final, callback, dnc, actions)
        VALUES ('system', 'voicemail', 'Left a voicemail message', true, true, false, true,
                true, false, '[]')
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM disposition_codes WHERE code_set = 'system' AND code = 'voicemail'")
    op.drop_column("queues", "voicemail")
    op.execute("DELETE FROM callback_requests WHERE number IS NULL")
    op.alter_column("callback_requests", "number", existing_type=sa.Text(), nullable=False)
    op.drop_column("callback_requests", "recording_id")
    op.drop_table("recordings")
