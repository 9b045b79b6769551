"""The FranceConnect sandbox's state moves to the database (shared by worker processes).

Revision ID: identity_0003
Revises: identity_0002
Create Date: 2026-12-07 06:40:00

The sandbox kept interactions, codes, tokens, provider sessions, issued ID tokens and its
signing keys in one process's memory, so a demo served by several workers failed whenever
two steps of one sign-in reached two processes (franceconnect.md, "The sandbox Parvis
ships"). Nothing to migrate: the state was never persisted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0003"
down_revision: str | None = "identity_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_fc_sandbox_state",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_identity_fc_sandbox_state")),
    )
    with op.batch_alter_table("identity_fc_sandbox_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_fc_sandbox_state_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_fc_sandbox_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_fc_sandbox_state_expires_at"))
    op.drop_table("identity_fc_sandbox_state")
