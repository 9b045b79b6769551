"""Consent registry tables: controllers, purposes (versioned), notices, consent events and
their projection, receipts, data keys, data-subject requests, API clients, webhooks.

Revision ID: consent_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "consent_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("consent",)
# No depends_on: consent's tables reference no kernel or audit table (audit is reached
# through its service only), and a depends_on makes alembic_version keep only this head,
# which parvis.migrate.schema_status would read as the dependency missing.
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_controllers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_controllers")),
    )
    op.create_table(
        "consent_data_keys",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_consent_data_keys")),
    )
    op.create_table(
        "consent_api_clients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("controller_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["controller_id"],
            ["consent_controllers.id"],
            name=op.f("fk_consent_api_clients_controller_id_consent_controllers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_api_clients")),
    )
    op.create_index(
        op.f("ix_consent_api_clients_controller_id"),
        "consent_api_clients",
        ["controller_id"],
        unique=False,
    )
    op.create_table(
        "consent_notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("controller_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose_fingerprints", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["controller_id"],
            ["consent_controllers.id"],
            name=op.f("fk_consent_notices_controller_id_consent_controllers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_notices")),
        sa.UniqueConstraint(
            "controller_id", "language", "version", name="uq_consent_notices_version"
        ),
    )
    op.create_index(
        op.f("ix_consent_notices_controller_id"), "consent_notices", ["controller_id"], unique=False
    )
    op.create_table(
        "consent_purposes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("controller_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["controller_id"],
            ["consent_controllers.id"],
            name=op.f("fk_consent_purposes_controller_id_consent_controllers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_purposes")),
    )
    op.create_index(
        op.f("ix_consent_purposes_controller_id"),
        "consent_purposes",
        ["controller_id"],
        unique=False,
    )
    op.create_table(
        "consent_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("purpose_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("interface", sa.String(length=80), nullable=False),
        sa.Column("notice_id", sa.String(length=64), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["consent_notices.id"],
            name=op.f("fk_consent_events_notice_id_consent_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purposes.id"],
            name=op.f("fk_consent_events_purpose_id_consent_purposes"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_consent_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_consent_events_event_id")),
    )
    op.create_index(
        "ix_consent_events_history",
        "consent_events",
        ["subject", "purpose_id", "seq"],
        unique=False,
    )
    op.create_table(
        "consent_purpose_versions",
        sa.Column("purpose_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purposes.id"],
            name=op.f("fk_consent_purpose_versions_purpose_id_consent_purposes"),
        ),
        sa.PrimaryKeyConstraint("purpose_id", "version", name=op.f("pk_consent_purpose_versions")),
    )
    op.create_table(
        "consent_receipts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("purpose_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purposes.id"],
            name=op.f("fk_consent_receipts_purpose_id_consent_purposes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_receipts")),
    )
    op.create_index(
        op.f("ix_consent_receipts_subject"), "consent_receipts", ["subject"], unique=False
    )
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("controller_id", sa.String(length=64), nullable=False),
        sa.Column("purpose_id", sa.String(length=64), nullable=True),
        sa.Column("right", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=80), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("identity_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identity_method", sa.String(length=200), nullable=False),
        sa.Column("extension_months", sa.Integer(), nullable=False),
        sa.Column("extension_reasons", sa.Text(), nullable=False),
        sa.Column("extension_notified_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("motivation", sa.Text(), nullable=False),
        sa.Column("recipients_notified", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=80), nullable=True),
        sa.Column("note_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("artefact_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["controller_id"],
            ["consent_controllers.id"],
            name=op.f("fk_consent_requests_controller_id_consent_controllers"),
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purposes.id"],
            name=op.f("fk_consent_requests_purpose_id_consent_purposes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_requests")),
    )
    op.create_index(
        "ix_consent_requests_queue", "consent_requests", ["status", "due_on"], unique=False
    )
    op.create_index(
        op.f("ix_consent_requests_subject"), "consent_requests", ["subject"], unique=False
    )
    op.create_table(
        "consent_states",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("purpose_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_id", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.String(length=64), nullable=True),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["consent_notices.id"],
            name=op.f("fk_consent_states_notice_id_consent_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purposes.id"],
            name=op.f("fk_consent_states_purpose_id_consent_purposes"),
        ),
        sa.PrimaryKeyConstraint("subject", "purpose_id", name=op.f("pk_consent_states")),
    )
    op.create_index(
        "ix_consent_states_purpose_status", "consent_states", ["purpose_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_consent_states_valid_until"), "consent_states", ["valid_until"], unique=False
    )
    op.create_table(
        "consent_webhooks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["consent_api_clients.id"],
            name=op.f("fk_consent_webhooks_client_id_consent_api_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_webhooks")),
    )
    op.create_index(
        op.f("ix_consent_webhooks_client_id"), "consent_webhooks", ["client_id"], unique=False
    )
    op.create_table(
        "consent_deliveries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column(
            "subscription_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_type", sa.String(length=48), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["consent_webhooks.id"],
            name=op.f("fk_consent_deliveries_subscription_id_consent_webhooks"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_consent_deliveries")),
        sa.UniqueConstraint("id", name=op.f("uq_consent_deliveries_id")),
    )
    op.create_index(
        "ix_consent_deliveries_due",
        "consent_deliveries",
        ["delivered_at", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_consent_deliveries_due", table_name="consent_deliveries")
    op.drop_table("consent_deliveries")
    op.drop_index(op.f("ix_consent_webhooks_client_id"), table_name="consent_webhooks")
    op.drop_table("consent_webhooks")
    op.drop_index(op.f("ix_consent_states_valid_until"), table_name="consent_states")
    op.drop_index("ix_consent_states_purpose_status", table_name="consent_states")
    op.drop_table("consent_states")
    op.drop_index(op.f("ix_consent_requests_subject"), table_name="consent_requests")
    op.drop_index("ix_consent_requests_queue", table_name="consent_requests")
    op.drop_table("consent_requests")
    op.drop_index(op.f("ix_consent_receipts_subject"), table_name="consent_receipts")
    op.drop_table("consent_receipts")
    op.drop_table("consent_purpose_versions")
    op.drop_index("ix_consent_events_history", table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_index(op.f("ix_consent_purposes_controller_id"), table_name="consent_purposes")
    op.drop_table("consent_purposes")
    op.drop_index(op.f("ix_consent_notices_controller_id"), table_name="consent_notices")
    op.drop_table("consent_notices")
    op.drop_index(op.f("ix_consent_api_clients_controller_id"), table_name="consent_api_clients")
    op.drop_table("consent_api_clients")
    op.drop_table("consent_data_keys")
    op.drop_table("consent_controllers")
