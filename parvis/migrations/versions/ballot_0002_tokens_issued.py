"""``ballot_boards.tokens_issued``: the number of tokens issued, kept beside the board.

Issuance stops at the election's eligible population (voting-protocol.md: #tokens issued ≤
eligible population, which the verifier checks). The count is raised by a conditional
``UPDATE … SET tokens_issued = tokens_issued + 1 WHERE tokens_issued < population`` in the
transaction that records the token, so concurrent issuers never pass the cap: PostgreSQL
re-evaluates the condition under the row lock (READ COMMITTED), SQLite runs one writer at
a time. Existing boards start at the number of online voters already recorded.

Revision ID: ballot_0002
Revises: ballot_0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0002"
down_revision: str | None = "ballot_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ballot_boards",
        sa.Column("tokens_issued", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE ballot_boards SET tokens_issued = (SELECT count(*) FROM ballot_voters "
        "WHERE ballot_voters.election_id = ballot_boards.election_id "
        "AND ballot_voters.channel = 'online')"
    )


def downgrade() -> None:
    op.drop_column("ballot_boards", "tokens_issued")
