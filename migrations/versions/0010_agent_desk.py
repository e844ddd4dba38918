"""the agent desk: which phone an agent takes calls on (a softphone or the desk's browser
phone, WebRTC; Asterisk's endpoint is made for that kind), and a queue's call script (text
shown to the agent on connect, with the caller's fields filled in), and the agent a
callback is kept for

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "agents",
        sa.Column("phone", sa.String(length=16), server_default="softphone", nullable=False),
    )
    op.create_check_constraint("phone", "agents", "phone IN ('softphone', 'browser')")
    op.add_column("queues", sa.Column("script", sa.Text(), nullable=True))
    # A callback the agent keeps for themselves ("call back myself"): only they are offered it.
    op.add_column(
        "callback_requests",
        sa.Column(
            "agent",
            sa.String(length=32),
            sa.ForeignKey(
                "agents.name", name=op.f("fk_callback_requests_agent_agents"), ondelete="SET NULL"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("callback_requests", "agent")
    op.drop_column("queues", "script")
    op.drop_constraint(op.f("ck_agents_phone"), "agents", type_="check")
    op.drop_column("agents", "phone")
