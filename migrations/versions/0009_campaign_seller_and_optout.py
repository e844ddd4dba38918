"""campaigns: the seller the abandoned-call message names, the opt-out key, and the
abandonment limit capped at the law's 3% (a stored limit above it is lowered to it)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:00:46.151576
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("seller_name", sa.Text(), nullable=True))
    op.add_column(
        "campaigns",
        sa.Column("optout_key", sa.String(length=1), server_default="9", nullable=False),
    )
    op.create_check_constraint("optout_key", "campaigns", "optout_key ~ '^[0-9*#]$'")
    op.drop_constraint(op.f("ck_campaigns_abandon_limit"), "campaigns", type_="check")
    op.execute("UPDATE campaigns SET abandon_limit = 0.03 WHERE abandon_limit > 0.03")
    op.create_check_constraint(
        "abandon_limit", "campaigns", "abandon_limit > 0 AND abandon_limit <= 0.03"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_abandon_limit"), "campaigns", type_="check")
    op.create_check_constraint(
        "abandon_limit", "campaigns", "abandon_limit > 0 AND abandon_limit <= 0.05"
    )
    op.drop_constraint(op.f("ck_campaigns_optout_key"), "campaigns", type_="check")
    op.drop_column("campaigns", "optout_key")
    op.drop_column("campaigns", "seller_name")
