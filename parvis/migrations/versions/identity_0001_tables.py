"""Identity tables: pseudonymous citizens, FranceConnect links, vault, territories, rules,
census, evidence, postal and desk codes, paper votes, decisions, staff, login throttle.

Revision ID: identity_0001
Revises:
Create Date: 2026-11-26 07:17:10.230296
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("identity",)
# No depends_on: identity's tables reference no kernel table, and with depends_on the
# alembic_version table keeps only identity_0001, which parvis.migrate.schema_status then
# reads as "0001_kernel missing" (reported to the kernel owner).
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_citizens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pivot_hash", sa.String(length=64), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=False),
        sa.Column("acr", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_citizens")),
        sa.UniqueConstraint("pivot_hash", name=op.f("uq_identity_citizens_pivot_hash")),
    )
    op.create_table(
        "identity_login_throttle",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_identity_login_throttle")),
    )
    op.create_table(
        "identity_staff",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_staff")),
        sa.UniqueConstraint("email", name="uq_identity_staff_email"),
    )
    op.create_table(
        "identity_territories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cog_vintage", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["identity_territories.id"],
            name=op.f("fk_identity_territories_parent_id_identity_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_territories")),
    )
    op.create_table(
        "identity_vault_keys",
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_identity_vault_keys")),
    )
    op.create_table(
        "identity_census_imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("territory_id", sa.String(length=64), nullable=False),
        sa.Column("electoral_roll", sa.Boolean(), nullable=False),
        sa.Column("cog_vintage", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("imported_by", sa.String(length=80), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["identity_territories.id"],
            name=op.f("fk_identity_census_imports_territory_id_identity_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_census_imports")),
    )
    with op.batch_alter_table("identity_census_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_census_imports_territory_id"), ["territory_id"], unique=False
        )

    op.create_table(
        "identity_desk_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["identity_citizens.id"],
            name=op.f("fk_identity_desk_codes_citizen_id_identity_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_identity_desk_codes")),
    )
    with op.batch_alter_table("identity_desk_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_desk_codes_citizen_id"), ["citizen_id"], unique=False
        )

    op.create_table(
        "identity_evidence",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("territory_id", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("cog_vintage", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["identity_citizens.id"],
            name=op.f("fk_identity_evidence_citizen_id_identity_citizens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["identity_territories.id"],
            name=op.f("fk_identity_evidence_territory_id_identity_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_evidence")),
    )
    with op.batch_alter_table("identity_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_evidence_citizen_id"), ["citizen_id"], unique=False
        )

    op.create_table(
        "identity_fc_links",
        sa.Column("sub_hash", sa.String(length=64), nullable=False),
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["identity_citizens.id"],
            name=op.f("fk_identity_fc_links_citizen_id_identity_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sub_hash", name=op.f("pk_identity_fc_links")),
    )
    with op.batch_alter_table("identity_fc_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_fc_links_citizen_id"), ["citizen_id"], unique=False
        )

    op.create_table(
        "identity_postal_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("territory_id", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("cog_vintage", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["identity_citizens.id"],
            name=op.f("fk_identity_postal_codes_citizen_id_identity_citizens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["identity_territories.id"],
            name=op.f("fk_identity_postal_codes_territory_id_identity_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_postal_codes")),
    )
    with op.batch_alter_table("identity_postal_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_postal_codes_citizen_id"), ["citizen_id"], unique=False
        )

    op.create_table(
        "identity_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("territory_id", sa.String(length=64), nullable=False),
        sa.Column("accepted_evidence", sa.String(length=200), nullable=False),
        sa.Column("min_acr", sa.String(length=16), nullable=False),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
        sa.Column("reference_date", sa.Date(), nullable=False),
        sa.Column("electoral_roll", sa.Boolean(), nullable=False),
        sa.Column("paper_votes", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["identity_territories.id"],
            name=op.f("fk_identity_rules_territory_id_identity_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_rules")),
    )
    op.create_table(
        "identity_territory_communes",
        sa.Column("territory_id", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["identity_territories.id"],
            name=op.f("fk_identity_territory_communes_territory_id_identity_territories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "territory_id", "commune_code", name=op.f("pk_identity_territory_communes")
        ),
    )
    op.create_table(
        "identity_vault_attributes",
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["identity_vault_keys.citizen_id"],
            name=op.f("fk_identity_vault_attributes_citizen_id_identity_vault_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("citizen_id", "name", name=op.f("pk_identity_vault_attributes")),
    )
    op.create_table(
        "identity_census_entries",
        sa.Column("import_id", sa.String(length=32), nullable=False),
        sa.Column("pivot_hash", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["identity_census_imports.id"],
            name=op.f("fk_identity_census_entries_import_id_identity_census_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "pivot_hash", name=op.f("pk_identity_census_entries")),
    )
    with op.batch_alter_table("identity_census_entries", schema=None) as batch_op:
        batch_op.create_index("ix_identity_census_entries_pivot_hash", ["pivot_hash"], unique=False)

    op.create_table(
        "identity_decisions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("citizen_id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.String(length=300), nullable=False),
        sa.Column("evidence", sa.String(length=32), nullable=True),
        sa.Column("assurance", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.String(length=64), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["identity_citizens.id"],
            name=op.f("fk_identity_decisions_citizen_id_identity_citizens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["identity_rules.id"],
            name=op.f("fk_identity_decisions_rule_id_identity_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_decisions")),
    )
    with op.batch_alter_table("identity_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identity_decisions_citizen_rule",
            ["citizen_id", "rule_id", "decided_at"],
            unique=False,
        )

    op.create_table(
        "identity_paper_votes",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("pivot_hash", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["identity_rules.id"],
            name=op.f("fk_identity_paper_votes_rule_id_identity_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "pivot_hash", name=op.f("pk_identity_paper_votes")),
    )


def downgrade() -> None:
    op.drop_table("identity_paper_votes")
    with op.batch_alter_table("identity_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_decisions_citizen_rule")

    op.drop_table("identity_decisions")
    with op.batch_alter_table("identity_census_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_census_entries_pivot_hash")

    op.drop_table("identity_census_entries")
    op.drop_table("identity_vault_attributes")
    op.drop_table("identity_territory_communes")
    op.drop_table("identity_rules")
    with op.batch_alter_table("identity_postal_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_postal_codes_citizen_id"))

    op.drop_table("identity_postal_codes")
    with op.batch_alter_table("identity_fc_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_fc_links_citizen_id"))

    op.drop_table("identity_fc_links")
    with op.batch_alter_table("identity_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_evidence_citizen_id"))

    op.drop_table("identity_evidence")
    with op.batch_alter_table("identity_desk_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_desk_codes_citizen_id"))

    op.drop_table("identity_desk_codes")
    with op.batch_alter_table("identity_census_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_census_imports_territory_id"))

    op.drop_table("identity_census_imports")
    op.drop_table("identity_vault_keys")
    op.drop_table("identity_territories")
    op.drop_table("identity_staff")
    op.drop_table("identity_login_throttle")
    op.drop_table("identity_citizens")
