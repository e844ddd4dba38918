"""api credentials: tokens (their SHA-256) and roles for the HTTP API

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:49:13.310289
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "name ~ '^[a-z][a-z0-9_.-]{0,31}$'", name=op.f("ck_api_credentials_name")
        ),
        sa.CheckConstraint(
            "role <> 'agent' OR agent IS NOT NULL", name=op.f("ck_api_credentials_agent_named")
        ),
        sa.CheckConstraint(
            "role IN ('agent', 'supervisor', 'operator')", name=op.f("ck_api_credentials_role")
        ),
        sa.CheckConstraint(
            "token_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_api_credentials_token_hash")
        ),
        sa.ForeignKeyConstraint(
            ["agent"],
            ["agents.name"],
            name=op.f("fk_api_credentials_agent_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_credentials")),
        sa.UniqueConstraint("name", name=op.f("uq_api_credentials_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_credentials_token_hash")),
    )
    op.create_index(op.f("ix_api_credentials_agent"), "api_credentials", ["agent"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_credentials_agent"), table_name="api_credentials")
    op.drop_table("api_credentials")
