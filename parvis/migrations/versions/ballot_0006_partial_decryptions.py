"""``ballot_partial_decryptions``: the trustees whose partial decryption is on the board of an
encrypted election (docs/board-format.md §10.4), one row each.

The primary key ``(election_id, trustee)`` refuses a trustee's second upload even while the
first still waits for the audit sequencer. Existing elections start with none.

Revision ID: ballot_0006
Revises: ballot_0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0006"
down_revision: str | None = "ballot_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballot_partial_decryptions",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("trustee", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_partial_decryptions_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint(
            "election_id", "trustee", name=op.f("pk_ballot_partial_decryptions")
        ),
    )


def downgrade() -> None:
    op.drop_table("ballot_partial_decryptions")
