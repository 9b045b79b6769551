"""``ballot_ceremonies``: the key ceremony of an encrypted election
(docs/adr/0018-encrypted-elections.md; board-format.md §10.1).

One row per encrypted election from the first static key registered to ``dkg-complete``:
the static keys, the terms (the v2 manifest without ``encryption``), the setup, the round-1
messages and transcript signatures appended so far, and the ``dkg-complete`` entry. All of
it public. The election's mode lives in its definition: a definition stored before this
revision has no ``mode`` and reads as public, so existing elections need no data change.

Revision ID: ballot_0005
Revises: ballot_0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0005"
down_revision: str | None = "ballot_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballot_ceremonies",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("static_keys", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=True),
        sa.Column("setup", sa.Text(), nullable=True),
        sa.Column("round1", sa.Text(), nullable=False),
        sa.Column("signatures", sa.Text(), nullable=False),
        sa.Column("complete", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_ceremonies_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", name=op.f("pk_ballot_ceremonies")),
    )


def downgrade() -> None:
    op.drop_table("ballot_ceremonies")
