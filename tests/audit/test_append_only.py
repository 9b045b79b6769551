"""The database itself refuses to change or remove log rows (audit-log.md, "Append-only in the
database").

audit-log.md, "Append-only in the database": SQLite triggers plus ``recursive_triggers``;
PostgreSQL triggers set ``ENABLE ALWAYS``, tables owned by a non-login role, the application
role limited to INSERT on named columns and SELECT. Each test tries UPDATE, DELETE,
``INSERT OR REPLACE`` (PostgreSQL: ``INSERT … ON CONFLICT DO UPDATE``) and TRUNCATE on every
log table and checks that each attempt fails and that nothing changed.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from audit import AuditService, service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.db import Database
from parvis.kernel.settings import Settings, load_settings
from tests.audit.conftest import app_role_url, record_many
from tests.conftest import fresh_database

#: Append-only tables: (a column to update, the constraint an upsert collides with).
LOG_TABLES = {
    "audit_logs": ("public", "uq_audit_logs_name"),
    "audit_entries": ("data", "pk_audit_entries"),
    "audit_nodes": ("hash", "pk_audit_nodes"),
    "audit_checkpoints": ("note", "pk_audit_checkpoints"),
    "audit_events": ("actor", "uq_audit_events_log_id_leaf_hash"),
}
INSERTABLE = {
    "audit_logs": "name, origin, public, verifier_key, created_at",
    "audit_entries": "log_id, idx, leaf_hash, data",
    "audit_nodes": "log_id, level, idx, hash",
    "audit_checkpoints": "log_id, size, root_hash, note, created_at",
    "audit_events": "log_id, leaf_hash, event_type, actor, subject, purpose, time",
}


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            table: [
                tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
            ]
            for table in LOG_TABLES
        }


def attempts(dialect: str) -> Iterator[tuple[str, str]]:
    for table, (column, constraint) in LOG_TABLES.items():
        columns = INSERTABLE[table]
        yield table, f"UPDATE {table} SET {column} = {column}"
        yield table, f"DELETE FROM {table} WHERE 1 = 1"
        if dialect == "sqlite":
            yield table, f"INSERT OR REPLACE INTO {table} SELECT * FROM {table} LIMIT 1"
            # SQLite has no TRUNCATE: an unqualified DELETE is its truncate optimisation.
            yield table, f"DELETE FROM {table}"
        else:
            first = columns.split(",")[0]
            yield (
                table,
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} LIMIT 1 "
                f"ON CONFLICT ON CONSTRAINT {constraint} DO UPDATE SET {first} = EXCLUDED.{first}",
            )
            yield table, f"TRUNCATE {table} CASCADE"


def refused(
    engine: Engine, statements: Iterator[tuple[str, str]], *, because: str, setup: str = ""
) -> None:
    """Run each statement in its own transaction: each must fail with an error matching
    ``because`` (so a typo in a statement cannot pass for a refusal)."""
    wrong = []
    for _table, sql in statements:
        try:
            with engine.begin() as conn:
                if setup:
                    conn.execute(text(setup))
                conn.execute(text(sql))
            wrong.append(("ALLOWED", sql))
        except DBAPIError as exc:
            reason = str(exc.orig).splitlines()[0]
            if not re.search(because, reason):
                wrong.append((reason, sql))
    assert wrong == []


@pytest.fixture
def populated(settings: Settings, clock: FixedClock) -> Iterator[tuple[AppContext, AuditService]]:
    ctx = build_context(settings, clock=clock)
    service = service_from(ctx)
    record_many(service, ctx, 20)  # 20 entries: level-4 nodes are stored too
    assert service.integrate() == 20
    yield ctx, service
    ctx.db.dispose()


def test_every_change_is_refused_through_the_application_engine(
    populated: tuple[AppContext, AuditService], db_kind: str
) -> None:
    ctx, _service = populated
    before = snapshot(ctx.db.engine)
    assert all(before.values())
    if db_kind == "sqlite":
        with ctx.db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA recursive_triggers")).scalar() == 1
    # PostgreSQL: the suite connects as the superuser, which only the triggers stop.
    refused(ctx.db.engine, attempts(ctx.db.engine.dialect.name), because="append-only")
    assert snapshot(ctx.db.engine) == before


def populate(url: str, tmp_path: Path) -> tuple[AppContext, AuditService]:
    ctx = build_context(
        load_settings(mode="test", database_url=url, data_dir=tmp_path / "var"),
        clock=FixedClock(),
        database=Database(url),
    )
    service = service_from(ctx)
    record_many(service, ctx, 20)
    assert service.integrate() == 20
    return ctx, service


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest) -> str:
    return fresh_database(request, "sqlite", migrated=True)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    return fresh_database(request, "postgresql", migrated=True)


def test_sqlite_refuses_replace_even_without_recursive_triggers(
    sqlite_url: str, tmp_path: Path
) -> None:
    ctx, _service = populate(sqlite_url, tmp_path)
    path = ctx.settings.sqlite_path()
    assert path is not None
    before = snapshot(ctx.db.engine)
    # A connection opened by hand (the sqlite3 shell, a script) has recursive_triggers off,
    # so REPLACE would delete the old row without firing the delete trigger. The insert
    # trigger's duplicate check refuses it anyway.
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA recursive_triggers").fetchone() == (0,)
        for table in LOG_TABLES:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM {table} LIMIT 1")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"UPDATE {table} SET rowid = rowid")
        conn.rollback()
    finally:
        conn.close()
    assert snapshot(ctx.db.engine) == before
    ctx.db.dispose()


@pytest.mark.postgres
def test_postgresql_application_role_can_append_but_not_change(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path
) -> None:
    # The whole service runs as the limited role: create the log, record, integrate, erase.
    ctx, service = populate(app_role_url(request, pg_url), tmp_path)
    try:
        with ctx.db.write_session() as session:
            assert service.erase_subject_details(session, subject="subject-0") == 7
        engine = ctx.db.engine
        before = snapshot(engine)
        extra = [
            (t, stmt)
            for t in LOG_TABLES
            for stmt in (
                f"ALTER TABLE {t} DISABLE TRIGGER ALL",
                f"DROP TABLE {t} CASCADE",
            )
        ] + [
            (
                "audit_logs",
                "INSERT INTO audit_logs (id, name, origin, public, verifier_key, "
                "created_at) OVERRIDING SYSTEM VALUE VALUES (99, 'x', 'x/x', true, 'k', now())",
            ),
            ("audit_pending", "UPDATE audit_pending SET data = data"),
            ("audit_details", "UPDATE audit_details SET details = details"),
            ("-", "SET session_replication_role = replica"),
        ]
        refused(
            engine,
            iter([*attempts("postgresql"), *extra]),
            because="permission denied|must be owner",
        )
        assert snapshot(engine) == before
    finally:
        ctx.db.dispose()


@pytest.mark.postgres
def test_postgresql_triggers_stop_even_the_owner_and_replica_mode(
    pg_url: str, tmp_path: Path
) -> None:
    ctx, _service = populate(pg_url, tmp_path)
    # The test connects as the superuser, which bypasses privileges: only the triggers
    # stand, and ENABLE ALWAYS keeps them firing in replica mode.
    engine = ctx.db.engine
    before = snapshot(engine)
    refused(engine, attempts("postgresql"), because="append-only")
    refused(
        engine,
        attempts("postgresql"),
        because="append-only",
        setup="SET LOCAL session_replication_role = replica",
    )
    with engine.connect() as conn:
        owners = set(
            conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE tablename LIKE 'audit\\_%'")
            ).scalars()
        )
        login = conn.execute(
            text("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'parvis_audit_owner'")
        ).scalar_one()
        modes = set(
            conn.execute(
                text(
                    "SELECT tgenabled FROM pg_trigger WHERE NOT tgisinternal "
                    "AND tgrelid::regclass::text LIKE 'audit\\_%'"
                )
            ).scalars()
        )
    assert owners == {"parvis_audit_owner"}
    assert login is False
    assert modes == {"A"}  # A = ENABLE ALWAYS
    assert snapshot(engine) == before
    ctx.db.dispose()
