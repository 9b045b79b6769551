"""Staff accounts managed in Parvis: one-time passwords, TOTP enrolment, recovery codes.

Revision ID: identity_0005
Revises: identity_0004
Create Date: 2026-12-07 09:00:00

docs/operations.md, "Staff accounts". Accounts made before this revision were given their
password and TOTP secret by ``parvis staff create`` and are kept as they are: no forced
change, second factor enrolled.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0005"
down_revision: str | None = "identity_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_staff") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(
            sa.Column("one_time_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("totp_enrolled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "identity_staff_recovery_codes",
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["identity_staff.id"],
            name=op.f("fk_identity_staff_recovery_codes_staff_id_identity_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "staff_id", "code_hash", name=op.f("pk_identity_staff_recovery_codes")
        ),
    )


def downgrade() -> None:
    op.drop_table("identity_staff_recovery_codes")
    with op.batch_alter_table("identity_staff") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("totp_enrolled")
        batch.drop_column("one_time_expires_at")
        batch.drop_column("must_change_password")
