"""Identity's attributes move to consent's per-subject data keys; drop identity's key table.

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-11-26 08:30:00

The vault now seals each attribute with :func:`consent.data_keys` (ADR 0005), so that one
erasure through consent's data-subject requests crypto-shreds identity's attributes too.
The attributes sealed under identity's own keys cannot be re-sealed here: a migration gets a
database URL, not the master secret that unwraps those keys. They are deleted instead:

- the birth date is written again at the citizen's next FranceConnect sign-in (until then
  eligibility answers "birth date unknown: sign in again");
- a letter not yet exported loses its address and code, so its request is marked ``void``
  and the citizen's page offers to ask for a new letter. Letters already exported keep
  working (only the code's keyed hash is needed to check the code).

The attributes now reference the citizen account (ON DELETE CASCADE) instead of the key row.
Downgrading does the same in reverse (consent's keys stay in consent).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0002"
down_revision: str | None = "identity_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _discard_sealed_attributes() -> None:
    op.execute(
        "UPDATE identity_postal_codes SET status = 'void' "
        "WHERE status = 'pending' AND exported_at IS NULL"
    )
    op.execute("DELETE FROM identity_vault_attributes")


def upgrade() -> None:
    _discard_sealed_attributes()
    with op.batch_alter_table("identity_vault_attributes", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_identity_vault_attributes_citizen_id_identity_vault_keys", type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_identity_vault_attributes_citizen_id_identity_citizens"),
            "identity_citizens",
            ["citizen_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.drop_table("identity_vault_keys")


def downgrade() -> None:
    _discard_sealed_attributes()
    op.create_table(
        "identity_vault_keys",
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_identity_vault_keys")),
    )
    with op.batch_alter_table("identity_vault_attributes", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_identity_vault_attributes_citizen_id_identity_citizens", type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_identity_vault_attributes_citizen_id_identity_vault_keys"),
            "identity_vault_keys",
            ["citizen_id"],
            ["citizen_id"],
            ondelete="CASCADE",
        )
