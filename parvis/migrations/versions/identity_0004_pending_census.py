"""A census import waits for a separate activation.

Revision ID: identity_0004
Revises: identity_0003
Create Date: 2026-12-07 07:30:00

An import used to replace the territory's active census at once, rejected lines and all. It
is now *pending* until a staff member activates it (``activated_at``/``activated_by``);
imports made before this revision were activated when imported, so they get their import
time and author.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0004"
down_revision: str | None = "identity_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_census_imports") as batch:
        batch.add_column(sa.Column("activated_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE identity_census_imports SET activated_at = imported_at, activated_by = imported_by"
    )


def downgrade() -> None:
    # Pending imports have no meaning before this revision: they go with their entries.
    op.execute(
        "DELETE FROM identity_census_entries WHERE import_id IN"
        " (SELECT id FROM identity_census_imports WHERE activated_at IS NULL)"
    )
    op.execute("DELETE FROM identity_census_imports WHERE activated_at IS NULL")
    with op.batch_alter_table("identity_census_imports") as batch:
        batch.drop_column("activated_at")
        batch.drop_column("activated_by")
