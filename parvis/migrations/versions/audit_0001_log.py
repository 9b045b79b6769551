"""Audit log engine: logs, entries, stored nodes, checkpoints, events, pending queue, details.

Append-only is enforced by the database, as audit-log.md ("Append-only in the database")
prescribes (audit-log.md, "Append-only in the database"; ADR 0003):

* SQLite: BEFORE UPDATE and BEFORE DELETE triggers that RAISE(ABORT), plus a BEFORE INSERT
  duplicate check on every key, which refuses ``INSERT OR REPLACE`` even on a connection
  that forgot ``PRAGMA recursive_triggers=ON`` (the kernel sets it on every connection of
  its own, which makes the delete trigger fire on REPLACE as well).
* PostgreSQL: row triggers refusing UPDATE and DELETE and a statement trigger refusing
  TRUNCATE, set ``ENABLE ALWAYS`` so that ``session_replication_role = replica`` does not
  skip them. When the migrating user may create roles, the tables are given to the
  non-login role ``parvis_audit_owner`` and the non-login role ``parvis_audit_writer`` gets
  SELECT and INSERT on named columns only (never the identity keys, so no ``OVERRIDING
  SYSTEM VALUE``), DELETE only on the queue and on the erasable details. The application's
  login role is made a member of ``parvis_audit_writer`` by the DBA (ADR 0003). Both role
  names are cluster-wide and created idempotently, so several databases (and the test
  suite's parallel databases) share them.

Revision ID: audit_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("audit",)
# No depends_on: these tables reference no kernel table, and a dependency would make
# alembic_version keep only audit_0001 (see identity_0001 for the same reason).
depends_on: str | Sequence[str] | None = None

OWNER_ROLE = "parvis_audit_owner"
WRITER_ROLE = "parvis_audit_writer"

#: Append-only tables, each with its keys (for SQLite's duplicate check) and the columns the
#: writer role may INSERT (all but identity keys).
APPEND_ONLY: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "audit_logs": (
        (("id",), ("name",), ("origin",)),
        ("name", "origin", "public", "verifier_key", "created_at"),
    ),
    "audit_entries": ((("log_id", "idx"),), ("log_id", "idx", "leaf_hash", "data")),
    "audit_nodes": ((("log_id", "level", "idx"),), ("log_id", "level", "idx", "hash")),
    "audit_checkpoints": (
        (("log_id", "size"),),
        ("log_id", "size", "root_hash", "note", "created_at"),
    ),
    "audit_events": (
        (("seq",), ("log_id", "leaf_hash")),
        ("log_id", "leaf_hash", "event_type", "actor", "subject", "purpose", "time"),
    ),
}
#: Tables whose rows may be deleted (queue, erasable details) but never updated.
DELETABLE: dict[str, tuple[str, ...]] = {
    "audit_pending": ("log_id", "data"),
    "audit_details": ("log_id", "leaf_hash", "salt", "details"),
}

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _create_tables() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("id", _SERIAL, sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        sa.UniqueConstraint("name", name=op.f("uq_audit_logs_name")),
        sa.UniqueConstraint("origin", name=op.f("uq_audit_logs_origin")),
    )
    op.create_table(
        "audit_pending",
        sa.Column("id", _SERIAL, sa.Identity(always=True), nullable=False),
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"], ["audit_logs.id"], name=op.f("fk_audit_pending_log_id_audit_logs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    op.create_index("ix_audit_pending_log_id_id", "audit_pending", ["log_id", "id"])
    op.create_table(
        "audit_entries",
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "idx", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_log_id_leaf_hash", "audit_entries", ["log_id", "leaf_hash"])
    op.create_table(
        "audit_nodes",
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "level", "idx", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"], ["audit_logs.id"], name=op.f("fk_audit_checkpoints_log_id_audit_logs")
        ),
        sa.PrimaryKeyConstraint("log_id", "size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", _SERIAL, sa.Identity(always=True), nullable=False),
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=True),
        sa.Column("purpose", sa.String(length=128), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"], ["audit_logs.id"], name=op.f("fk_audit_events_log_id_audit_logs")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("log_id", "leaf_hash", name="uq_audit_events_log_id_leaf_hash"),
    )
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_events_log_id_time", "audit_events", ["log_id", "time"])
    op.create_table(
        "audit_details",
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "leaf_hash", name=op.f("pk_audit_details")),
    )


def _sqlite_triggers() -> None:
    def refuse(table: str, what: str) -> str:
        return f"SELECT RAISE(ABORT, '{what} on {table} refused: the table is append-only');"

    for table, (keys, _columns) in APPEND_ONLY.items():
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN {refuse(table, 'UPDATE')} END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN {refuse(table, 'DELETE')} END"
        )
        for n, key in enumerate(keys):
            match = " AND ".join(f"{col} = NEW.{col}" for col in key)
            # Table and column names are the constants above, never input.
            duplicate = f"EXISTS (SELECT 1 FROM {table} WHERE {match})"  # noqa: S608
            op.execute(
                f"CREATE TRIGGER {table}_no_duplicate_{n} BEFORE INSERT ON {table} "
                f"WHEN {duplicate} BEGIN {refuse(table, 'INSERT of an existing key')} END"
            )
    for table in DELETABLE:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} refused'); END"
        )


def _postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    guarded = [(t, "UPDATE OR DELETE") for t in APPEND_ONLY] + [(t, "UPDATE") for t in DELETABLE]
    for table, events in guarded:
        for name, timing in (
            (f"{table}_append_only", f"BEFORE {events} ON {table} FOR EACH ROW"),
            (f"{table}_no_truncate", f"BEFORE TRUNCATE ON {table} FOR EACH STATEMENT"),
        ):
            op.execute(f"CREATE TRIGGER {name} {timing} EXECUTE FUNCTION audit_refuse_change()")
            # ENABLE ALWAYS: fire even under session_replication_role = replica.
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")


def _postgresql_roles() -> None:
    bind = op.get_bind()
    superuser, createrole = bind.execute(
        sa.text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not (superuser or createrole):
        # Documented in ADR 0003: without the right to create roles the tables stay owned
        # by the migrating user and only the ENABLE ALWAYS triggers protect them.
        return
    for role in (OWNER_ROLE, WRITER_ROLE):
        # Idempotent and safe against a concurrent migration of another database of the
        # same cluster (which surfaces as unique_violation on the catalog).
        op.execute(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    if not superuser:
        op.execute(f"GRANT {OWNER_ROLE} TO CURRENT_USER")
    op.execute(f"ALTER FUNCTION audit_refuse_change() OWNER TO {OWNER_ROLE}")
    for table, (_keys, columns) in APPEND_ONLY.items():
        op.execute(f"ALTER TABLE {table} OWNER TO {OWNER_ROLE}")
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(f"GRANT SELECT, INSERT ({', '.join(columns)}) ON {table} TO {WRITER_ROLE}")
    for table, columns in DELETABLE.items():
        op.execute(f"ALTER TABLE {table} OWNER TO {OWNER_ROLE}")
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(
            f"GRANT SELECT, DELETE, INSERT ({', '.join(columns)}) ON {table} TO {WRITER_ROLE}"
        )


def upgrade() -> None:
    _create_tables()
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_triggers()
    elif dialect == "postgresql":
        _postgresql_triggers()
        _postgresql_roles()


def downgrade() -> None:
    # DROP TABLE removes the triggers with the tables; the roles are cluster-wide and may
    # serve other databases, so they stay (ADR 0003).
    for table in (
        "audit_details",
        "audit_events",
        "audit_checkpoints",
        "audit_nodes",
        "audit_entries",
        "audit_pending",
        "audit_logs",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_refuse_change()")
