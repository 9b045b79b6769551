"""Sealed logs: ``audit_logs.sealed``, the one column of an append-only row that may change.

A sealed log serves no entry body (JSON entries, tlog-tiles entry bundles, typed events)
on any read path; hashes, checkpoints and proofs stay readable (voting-protocol.md, "Fairness").
An election's bulletin board is sealed from its creation to its close, so nobody — a DPO
included — reads a ballot before the close (voting-protocol.md, "Fairness").

Legal changes of a row, enforced by the database for every role (the service checks them
first to answer with a precise error):

* ``sealed`` true → false (unseal), every other column unchanged;
* ``sealed`` false → true (seal) only while the log has no entry, integrated or queued — a
  seal never hides what was once readable;
* nothing else: every other UPDATE, and every DELETE, stays refused as in ``audit_0001``.

SQLite: the BEFORE UPDATE trigger of ``audit_logs`` now fires only when the change is not
one of the above. PostgreSQL: the row trigger of ``audit_logs`` is split into a DELETE
trigger (the append-only function) and an UPDATE trigger running
``audit_logs_seal_only()``, both ``ENABLE ALWAYS``; the writer role gets UPDATE on the
``sealed`` column only.

Revision ID: audit_0002
Revises: audit_0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0002"
down_revision: str | None = "audit_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_ROLE = "parvis_audit_owner"
WRITER_ROLE = "parvis_audit_writer"

_UNCHANGED = ("id", "name", "origin", "public", "verifier_key", "created_at")

#: SQL (both engines) that is true when the UPDATE of an ``audit_logs`` row is legal.
#: Column names are the constants above, never input.
_LEGAL_CHANGE = (
    " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _UNCHANGED)  # noqa: S608
    + " AND ("
    "(OLD.sealed AND NOT NEW.sealed)"
    " OR (NOT OLD.sealed AND NEW.sealed"
    " AND NOT EXISTS (SELECT 1 FROM audit_entries WHERE audit_entries.log_id = OLD.id)"
    " AND NOT EXISTS (SELECT 1 FROM audit_pending WHERE audit_pending.log_id = OLD.id)))"
)
_REFUSED = (
    "UPDATE on audit_logs refused: the table is append-only "
    "(only unsealing a log, or sealing a log without entries, may change a row)"
)


def _sqlite_legal() -> str:
    # SQLite spells IS NOT DISTINCT FROM as IS; a Boolean is 0 or 1, nothing else.
    return _LEGAL_CHANGE.replace("IS NOT DISTINCT FROM", "IS") + " AND NEW.sealed IN (0, 1)"


def _owned_by_owner_role() -> bool:
    owner = (
        op.get_bind()
        .execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_logs'"))
        .scalar_one()
    )
    return bool(owner == OWNER_ROLE)


def upgrade() -> None:
    op.add_column(
        "audit_logs",
        sa.Column("sealed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER audit_logs_no_update")
        op.execute(
            "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
            f"WHEN NOT ({_sqlite_legal()}) "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_logs_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {_LEGAL_CHANGE} THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION '{_REFUSED}' USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute("DROP TRIGGER audit_logs_append_only ON audit_logs")
        for name, timing, function in (
            ("audit_logs_append_only", "BEFORE DELETE", "audit_refuse_change"),
            ("audit_logs_seal_only", "BEFORE UPDATE", "audit_logs_seal_only"),
        ):
            op.execute(
                f"CREATE TRIGGER {name} {timing} ON audit_logs FOR EACH ROW "
                f"EXECUTE FUNCTION {function}()"
            )
            # ENABLE ALWAYS: fire even under session_replication_role = replica.
            op.execute(f"ALTER TABLE audit_logs ENABLE ALWAYS TRIGGER {name}")
        if _owned_by_owner_role():
            op.execute(f"ALTER FUNCTION audit_logs_seal_only() OWNER TO {OWNER_ROLE}")
            op.execute(f"GRANT UPDATE (sealed) ON audit_logs TO {WRITER_ROLE}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER audit_logs_no_update")
        op.execute(
            "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
            "BEGIN SELECT RAISE(ABORT, "
            "'UPDATE on audit_logs refused: the table is append-only'); END"
        )
    elif dialect == "postgresql":
        if _owned_by_owner_role():
            op.execute(f"REVOKE UPDATE (sealed) ON audit_logs FROM {WRITER_ROLE}")
        for name in ("audit_logs_append_only", "audit_logs_seal_only"):
            op.execute(f"DROP TRIGGER {name} ON audit_logs")
        op.execute("DROP FUNCTION audit_logs_seal_only()")
        op.execute(
            "CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute("ALTER TABLE audit_logs ENABLE ALWAYS TRIGGER audit_logs_append_only")
    op.drop_column("audit_logs", "sealed")
