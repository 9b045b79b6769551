"""Ballot tables: elections, their sealed keys, boards (the audit log of each), commitments,
milestone checkpoints, the ballot box (one row per nullifier), the voter list, paper totals.

The voter list (``ballot_voters``) and the ballot box (``ballot_ballots``,
``ballot_commitments``) share no column but the election id: no citizen, no time, no row
number links them (architecture.md, "Separate the voter list from the ballot box").

Revision ID: ballot_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ballot_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("ballot",)
# No depends_on: ballot's tables reference no other domain's tables (the board lives in an
# audit log named by text), and a depends_on would hide 0001_kernel from schema_status
# (see identity_0001).
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballot_elections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_client", sa.String(length=48), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_elections")),
    )
    op.create_index(op.f("ix_ballot_elections_owner_client"), "ballot_elections", ["owner_client"])
    op.create_table(
        "ballot_election_keys",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("rsa_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_election_keys_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", name=op.f("pk_ballot_election_keys")),
    )
    op.create_table(
        "ballot_boards",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("log", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("manifest_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("close_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("results_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("issued_published", sa.BigInteger(), nullable=False),
        sa.Column("issued_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_boards_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", name=op.f("pk_ballot_boards")),
        sa.UniqueConstraint("log", name=op.f("uq_ballot_boards_log")),
    )
    op.create_table(
        "ballot_commitments",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("nullifier_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_commitments_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", "leaf_hash", name=op.f("pk_ballot_commitments")),
    )
    op.create_index("ix_ballot_commitments_code", "ballot_commitments", ["election_id", "code"])
    op.create_table(
        "ballot_milestones",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_milestones_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", "size", name=op.f("pk_ballot_milestones")),
    )
    op.create_table(
        "ballot_ballots",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("nullifier", sa.LargeBinary(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_ballots_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", "nullifier", name=op.f("pk_ballot_ballots")),
    )
    op.create_table(
        "ballot_voters",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("citizen", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_voters_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", "citizen", name=op.f("pk_ballot_voters")),
    )
    op.create_index("ix_ballot_voters_channel", "ballot_voters", ["election_id", "channel"])
    op.create_table(
        "ballot_paper_totals",
        sa.Column("election_id", sa.String(length=36), nullable=False),
        sa.Column("voters", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["ballot_elections.id"],
            name=op.f("fk_ballot_paper_totals_election_id_ballot_elections"),
        ),
        sa.PrimaryKeyConstraint("election_id", name=op.f("pk_ballot_paper_totals")),
    )


def downgrade() -> None:
    op.drop_table("ballot_paper_totals")
    op.drop_index("ix_ballot_voters_channel", table_name="ballot_voters")
    op.drop_table("ballot_voters")
    op.drop_table("ballot_ballots")
    op.drop_table("ballot_milestones")
    op.drop_index("ix_ballot_commitments_code", table_name="ballot_commitments")
    op.drop_table("ballot_commitments")
    op.drop_table("ballot_boards")
    op.drop_table("ballot_election_keys")
    op.drop_index(op.f("ix_ballot_elections_owner_client"), table_name="ballot_elections")
    op.drop_table("ballot_elections")
