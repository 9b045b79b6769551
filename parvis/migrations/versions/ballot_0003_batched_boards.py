"""Batched boards: the pending pool, the last boundary integrated, and no rowid order.

* ``ballot_pending``: the ballots accepted since the last batch boundary, keyed by their
  leaf hash (no time, no arrival order), moved onto the board in a random order at the next
  boundary (docs/adr/0009-batched-boards.md); its UNIQUE (election, nullifier, slot) makes a
  token count once among them.
* ``ballot_boards.batched_through``: the last boundary integrated (a public time).
* On SQLite, the tables written on the token path and the cast path (``ballot_voters``,
  ``ballot_ballots``, ``ballot_commitments``, ``ballot_pending``) become ``WITHOUT ROWID``
  tables: an implicit rowid numbers rows in the order they were written, which for the voter
  list is the order tokens were issued. The rebuilt tables are stored in primary-key order.
  PostgreSQL has no rowid; its heap order is discussed in the threat model.

Revision ID: ballot_0003
Revises: ballot_0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0003"
down_revision: str | None = "ballot_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables that must not keep a write order (SQLite rowid).
_ORDERLESS = ("ballot_voters", "ballot_ballots", "ballot_commitments")


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _ORDERLESS:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
        ):
            pass


def upgrade() -> None:
    op.add_column(
        "ballot_boards", sa.Column("batched_through", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "ballot_pending",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("nullifier", sa.LargeBinary(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_pending_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", "leaf_hash", name=op.f("pk_ballot_pending")),
        sa.UniqueConstraint("election_id", "nullifier", "slot", name="uq_ballot_pending_slot"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_ballot_pending_code", "ballot_pending", ["election_id", "code"])
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
    op.drop_index("ix_ballot_pending_code", table_name="ballot_pending")
    op.drop_table("ballot_pending")
    op.drop_column("ballot_boards", "batched_through")
