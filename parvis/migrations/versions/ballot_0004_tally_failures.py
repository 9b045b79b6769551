"""``ballot_tally_failures``: the reason of an election's last failed tally (ADR 0010).

A tally runs its check (#ballots counted ≤ #tokens issued ≤ eligible population, tokens as
the close entry states them) before it records anything; when the check fails it records
only this row, and ``publish`` refuses the election while the row exists. A tally that
passes deletes it. Existing elections start with none.

Revision ID: ballot_0004
Revises: ballot_0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0004"
down_revision: str | None = "ballot_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballot_tally_failures",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_tally_failures_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", name=op.f("pk_ballot_tally_failures")),
    )


def downgrade() -> None:
    op.drop_table("ballot_tally_failures")
