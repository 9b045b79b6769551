"""The issuance register (ballot-secrecy.md §3; ADR 0019).

* ``ballot_registers``: an election's register — its sealed audit log, how many entries it
  holds, the size last shown on the board, the last batch boundary it took entries at;
* ``ballot_register_pending``: register entries waiting for the next boundary, keyed by
  the blinded message's hash (random), ``WITHOUT ROWID`` on SQLite (no issuance order);
* ``ballot_register_keys``: the FranceConnect keys already archived in a register.

Elections opened before have no register; their issuance stays as it was.

Revision ID: ballot_0007
Revises: ballot_0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0007"
down_revision: str | None = "ballot_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _election_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["election_id"],
        ["ballot_elections.id"],
        name=op.f(f"fk_{table}_election_id_ballot_elections"),
    )


def upgrade() -> None:
    op.create_table(
        "ballot_registers",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("log", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("published_size", sa.BigInteger(), nullable=False),
        sa.Column("batched_through", sa.DateTime(timezone=True), nullable=True),
        _election_fk("ballot_registers"),
        sa.PrimaryKeyConstraint("election_id", name=op.f("pk_ballot_registers")),
        sa.UniqueConstraint("log", name=op.f("uq_ballot_registers_log")),
    )
    op.create_table(
        "ballot_register_pending",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("blinded_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _election_fk("ballot_register_pending"),
        sa.PrimaryKeyConstraint(
            "election_id", "blinded_hash", name=op.f("pk_ballot_register_pending")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ballot_register_keys",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        _election_fk("ballot_register_keys"),
        sa.PrimaryKeyConstraint("election_id", "thumbprint", name=op.f("pk_ballot_register_keys")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("ballot_register_keys")
    op.drop_table("ballot_register_pending")
    op.drop_table("ballot_registers")
