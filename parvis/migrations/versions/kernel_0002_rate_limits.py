"""Kernel: rate-limit counters shared by every worker and host (ADR 0014).

Revision ID: kernel_0002
Revises: 0001_kernel
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "kernel_0002"
down_revision: str | None = "0001_kernel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kernel_rate_limits",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key_hash", "bucket", name=op.f("pk_kernel_rate_limits")),
    )
    op.create_index(
        op.f("ix_kernel_rate_limits_expires"), "kernel_rate_limits", ["expires"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_kernel_rate_limits_expires"), table_name="kernel_rate_limits")
    op.drop_table("kernel_rate_limits")
