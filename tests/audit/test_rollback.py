"""Rollback detection (docs/adr/0017-rollback-detection.md), on SQLite and PostgreSQL.

A rollback is simulated as an operator would cause it: the database is copied at one point
(a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), the service goes on
appending to the original — so the remembered checkpoint in the state directory moves on —
and then the old copy is put back in its place.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from audit import AuditService, merkle, service_from
from audit.errors import LogRollbackError
from audit.rollback import CheckpointMemory, Remembered, check_head
from parvis.kernel.context import AppContext, build_context
from tests.audit.conftest import record_many
from tests.audit.test_cli import env, ok, one_line_error, run  # noqa: F401 - env is a fixture
from tests.support.postgres import TempPostgres


def snapshot_of(request: pytest.FixtureRequest, ctx: AppContext) -> Callable[[], None]:
    """Copy the database now; the returned function puts that copy back in its place."""
    ctx.db.dispose()  # no open connection: the copy is whole, the template unused
    if ctx.db.is_sqlite:
        path = ctx.settings.sqlite_path()
        assert path is not None
        copy = path.with_suffix(".snapshot")
        shutil.copyfile(path, copy)

        def restore_sqlite() -> None:
            ctx.db.dispose()
            for extra in ("-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            shutil.copyfile(copy, path)

        return restore_sqlite
    server: TempPostgres = request.getfixturevalue("pg_server")
    name = make_url(ctx.settings.database_url).database
    snap = f"{name}_snapshot"
    server.psql(f"CREATE DATABASE {snap} TEMPLATE {name}")
    request.addfinalizer(lambda: server.psql(f"DROP DATABASE IF EXISTS {snap} WITH (FORCE)"))

    def restore_postgres() -> None:
        ctx.db.dispose()
        server.psql(f"DROP DATABASE {name} WITH (FORCE)")
        server.psql(f"CREATE DATABASE {name} TEMPLATE {snap}")

    return restore_postgres


def size_of(service: AuditService, ctx: AppContext) -> int:
    with ctx.db.read_session() as session:
        return service.head(session, log="audit").size


def test_integration_remembers_each_published_head_outside_the_database(
    service: AuditService, ctx: AppContext
) -> None:
    record_many(service, ctx, 3)
    service.integrate()
    with ctx.db.read_session() as session:
        head = service.head(session, log="audit")
    assert service.memory.directory == ctx.settings.data_dir / "state" / "audit"
    assert service.memory.get("audit") == Remembered(size=3, root=head.root_hash)


def test_a_restored_older_database_is_refused_flagged_and_acknowledged(
    request: pytest.FixtureRequest,
    service: AuditService,
    ctx: AppContext,
    env: dict[str, str],  # noqa: F811 - the fixture imported above
) -> None:
    record_many(service, ctx, 3)
    service.integrate()
    put_back = snapshot_of(request, ctx)
    record_many(service, ctx, 2)
    service.integrate()
    assert service.memory.get("audit") is not None
    assert service.memory.get("audit").size == 5  # type: ignore[union-attr]

    put_back()
    assert size_of(service, ctx) == 3
    with ctx.db.read_session() as session:
        [alarm] = service.rollbacks(session)
    assert (alarm.name, alarm.remembered_size, alarm.database_size) == ("audit", 5, 3)
    assert "log audit has 3 entries in the database but a checkpoint of size 5" in alarm.detail

    # Writers still commit: their entries stay queued, and nothing is integrated.
    record_many(service, ctx, 2)
    with pytest.raises(LogRollbackError, match="acknowledge-rollback audit"):
        service.integrate(log="audit")
    assert service.integrate() == 0  # the sequencer's sweep skips it
    assert size_of(service, ctx) == 3
    refused = one_line_error(run(env, "record", "--detail", '{"x": 1}'))
    assert "log audit has 3 entries in the database but a checkpoint of size 5" in refused

    # Acknowledging needs a reason, and only a rolled-back log can be acknowledged.
    assert "--reason must say why" in one_line_error(
        run(env, "acknowledge-rollback", "audit", "--reason", " ")
    )
    out = ok(run(env, "acknowledge-rollback", "audit", "--reason", "restore drill of 7 Dec"))
    assert "rollback from size 5 to size 3 acknowledged" in out
    with ctx.db.read_session() as session:
        assert service.rollbacks(session) == []
        [event] = service.query(session, event_type="audit.rollback.acknowledged")
    assert event.index is not None
    assert event.details == {
        "log": "audit",
        "remembered_size": 5,
        "database_size": 3,
        "reason": "restore drill of 7 Dec",
    }
    # 3 restored + 2 queued by writers + 1 by the failed CLI record + the acknowledgement.
    assert size_of(service, ctx) == 7
    assert service.memory.get("audit").size == 7  # type: ignore[union-attr]
    history = (service.memory.directory / "audit.acknowledged").read_text()
    assert history.startswith("5 ")
    assert "restore drill of 7 Dec" in history
    assert "is not behind" in one_line_error(
        run(env, "acknowledge-rollback", "audit", "--reason", "again")
    )


def test_a_memory_behind_the_database_is_no_alarm(service: AuditService, ctx: AppContext) -> None:
    """Another process (or host) published after this memory was written: the database
    extends it, proven by a consistency proof, so integration goes on."""
    record_many(service, ctx, 3)
    service.integrate()
    older = service.memory.get("audit")
    assert older is not None
    record_many(service, ctx, 6)
    service.integrate()
    service.memory.reset("audit", older, reason="test: another host led meanwhile")
    with ctx.db.read_session() as session:
        assert service.rollbacks(session) == []
    record_many(service, ctx, 1)
    assert service.integrate(log="audit") == 1


def _tree(n: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + bytes([i])) for i in range(n)]


@pytest.mark.parametrize(
    ("db_leaves", "message"),
    [
        (None, "missing from the database"),
        (_tree(4), "has 4 entries in the database but a checkpoint of size 5"),
        (_tree(5, b"fork"), "another root at size 5"),
        (_tree(5, b"fork") + _tree(3), "not consistent with the checkpoint of size 5"),
    ],
)
def test_check_head_names_each_kind_of_rollback(
    db_leaves: list[bytes] | None, message: str
) -> None:
    published = Remembered(size=5, root=merkle.root(_tree(5)))

    def prove(m: int, n: int) -> list[bytes]:
        assert db_leaves is not None
        return merkle.consistency_proof(db_leaves, m=m, n=n)

    with pytest.raises(LogRollbackError, match=message):
        check_head(
            log="audit",
            remembered=published,
            size=None if db_leaves is None else len(db_leaves),
            root=None if db_leaves is None else merkle.root(db_leaves),
            prove=prove,
        )
    # The same tree, and any extension of it, pass.
    for leaves in (_tree(5), _tree(5) + _tree(9, b"more")):
        check_head(
            log="audit",
            remembered=published,
            size=len(leaves),
            root=merkle.root(leaves),
            prove=lambda m, n, leaves=leaves: merkle.consistency_proof(leaves, m=m, n=n),
        )


def test_a_damaged_memory_file_is_an_error_not_a_pass(tmp_path: Path) -> None:
    memory = CheckpointMemory(tmp_path)
    (tmp_path / "audit.checkpoint").write_text("five roots\n")
    with pytest.raises(Exception, match="is not '<size> <base64 root>'"):
        memory.get("audit")


def test_start_up_logs_and_metrics_show_the_queue_and_the_rollback(
    request: pytest.FixtureRequest,
    service: AuditService,
    ctx: AppContext,
    app: FastAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A starting process says so in its logs; ``/metrics`` reads the database when scraped:
    what to alert on (docs/operations.md, "Monitoring")."""
    record_many(service, ctx, 3)
    service.integrate()
    put_back = snapshot_of(request, ctx)
    record_many(service, ctx, 2)
    service.integrate()
    put_back()
    record_many(service, ctx, 4)
    with (
        caplog.at_level(logging.ERROR, logger="parvis.audit"),
        TestClient(app, base_url="http://127.0.0.1") as client,
    ):
        text = client.get("/metrics").text
    [started] = [r for r in caplog.records if r.getMessage().startswith("audit log rolled back")]
    assert started.__dict__["log"] == "audit"
    assert 'parvis_audit_pending_entries{log="audit"} 4.0' in text
    assert 'parvis_audit_tree_size{log="audit"} 3.0' in text
    assert 'parvis_audit_rolled_back{log="audit"} 1.0' in text
    assert 'parvis_consent_webhook_deliveries{state="abandoned"} 0.0' in text


def test_a_board_that_moved_on_is_caught_like_the_audit_trail(
    request: pytest.FixtureRequest, service: AuditService, ctx: AppContext
) -> None:
    """A public log (an election's board is one) behind its published checkpoint, while
    the audit trail is not: only the board is refused, and the acknowledgement of the
    board's rollback goes to the audit trail, which integrates at once."""
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="board-test", public=True)
        service.append_many(session, log="board-test", data=[b"manifest", b"ballot 1"])
    service.integrate()
    put_back = snapshot_of(request, ctx)
    with ctx.db.write_session() as session:
        service.append(session, log="board-test", data=b"ballot 2")
    service.integrate()
    put_back()
    with ctx.db.write_session() as session:
        service.append(session, log="board-test", data=b"ballot 2, again")
    record_many(service, ctx, 1)
    assert service.integrate() == 1  # the audit trail's event; the board is skipped
    with pytest.raises(LogRollbackError, match="log board-test has 2 entries"):
        service.integrate(log="board-test")
    alarm = service.acknowledge_rollback(
        log="board-test", reason="restored before ballot 2", actor="staff:ops"
    )
    assert (alarm.remembered_size, alarm.database_size) == (3, 2)
    assert service.integrate() == 2  # the queued ballot and the acknowledgement event
    with ctx.db.read_session() as session:
        assert service.head(session, log="board-test").size == 3
        [event] = service.query(session, event_type="audit.rollback.acknowledged")
    assert event.actor == "staff:ops"
    assert event.details is not None
    assert event.details["log"] == "board-test"


def test_the_state_directory_is_a_setting(make_settings: Any, tmp_path: Path) -> None:
    """``PARVIS_STATE_DIR`` puts the memory where backups do not reach (ADR 0017)."""
    settings = make_settings(state_dir=tmp_path / "elsewhere")
    assert settings.state_path() == tmp_path / "elsewhere"
    context = build_context(settings)
    try:
        assert service_from(context).memory.directory == tmp_path / "elsewhere" / "audit"
    finally:
        context.db.dispose()
