"""Sealed logs (migration audit_0002; ADR 0003, "Sealed logs"): while a log is sealed no read path
serves its entry bodies — service, HTTP JSON entries, tlog-tiles entry bundles, typed events,
``parvis audit`` — while hashes, checkpoints and proofs stay readable. Only an empty log may
be sealed, an unseal is final for a log with entries, seal and unseal are audit events, and
the database itself refuses every other change of a log row (SQLite and PostgreSQL, the
latter also as the limited application role)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from audit import AuditService, merkle, service_from
from audit.errors import LogSealedError, LogSealError
from audit.tiles import TilePath, decode_bundle
from parvis.cli import build_cli
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.db import Database
from parvis.kernel.principal import Role, Staff
from parvis.kernel.settings import Settings, load_settings
from tests.audit.conftest import app_role_url
from tests.conftest import fresh_database
from tests.support.auth import sign_in

LOG = "board-sealed"
DATA = [f'{{"secret":"ballot-{i}"}}'.encode() for i in range(20)]
ACTOR = "staff:officer-1"
DPO = Staff("dpo-1", frozenset({Role.DPO}))


def sealed_log(service: AuditService, ctx: AppContext, *, public: bool = False) -> None:
    """``LOG`` sealed while empty, then 20 entries integrated."""
    with ctx.db.write_session() as session:
        service.ensure_log(session, name=LOG, public=public)
        assert service.seal(session, log=LOG, actor=ACTOR) is True
    with ctx.db.write_session() as session:
        assert service.seal(session, log=LOG, actor=ACTOR) is False  # already sealed
        service.append_many(session, log=LOG, data=DATA)
    assert service.integrate(log=LOG) == len(DATA)


def test_a_sealed_log_serves_hashes_and_proofs_but_no_entry(
    ctx: AppContext, service: AuditService
) -> None:
    sealed_log(service, ctx)
    leaves = [merkle.leaf_hash(d) for d in DATA]
    with ctx.db.read_session() as session:
        assert service.log_info(session, log=LOG).sealed is True
        with pytest.raises(LogSealedError, match="is sealed"):
            service.entries(session, log=LOG, start=0, end=1)
        with pytest.raises(LogSealedError):
            service.tile(session, log=LOG, tile=TilePath(level=None, index=0, width=20))
        with pytest.raises(LogSealedError):
            service.query(session, log=LOG)
        # What reveals nothing of the entries is served.
        head = service.head(session, log=LOG)
        assert head.size == len(DATA)
        assert head.root_hash == merkle.root(leaves)
        hashes = service.tile(session, log=LOG, tile=TilePath(level=0, index=0, width=20))
        assert hashes == b"".join(leaves)
        proof = service.inclusion_proof(session, log=LOG, index=7)
        merkle.verify_inclusion(
            leaf_hash=leaves[7],
            index=7,
            size=head.size,
            proof=list(proof.proof),
            root=head.root_hash,
        )
        assert service.consistency_proof(session, log=LOG, first=5, second=20).proof
        assert service.index_of(session, log=LOG, leaf_hash=leaves[3]) == 3
        # The owning domain reads its own entries on purpose.
        owned = service.entries(session, log=LOG, start=0, end=20, reveal_sealed=True)
        assert [e.data for e in owned] == DATA

    with ctx.db.write_session() as session:
        assert service.unseal(session, log=LOG, actor=ACTOR) is True
    with ctx.db.write_session() as session:
        assert service.unseal(session, log=LOG, actor=ACTOR) is False  # already unsealed
    with ctx.db.read_session() as session:
        assert service.log_info(session, log=LOG).sealed is False
        assert [e.data for e in service.entries(session, log=LOG, start=0, end=20)] == DATA
        bundle = service.tile(session, log=LOG, tile=TilePath(level=None, index=0, width=20))
        assert decode_bundle(bundle) == DATA
        # Each change happened once, and the audit trail says who did it to which log.
        events = [
            (e.event_type, e.actor, e.details)
            for e in service.query(session, event_type="audit.log.sealed")
            + service.query(session, event_type="audit.log.unsealed")
        ]
    assert events == [
        ("audit.log.sealed", ACTOR, {"log": LOG}),
        ("audit.log.unsealed", ACTOR, {"log": LOG}),
    ]


def test_only_a_log_without_entries_can_be_sealed(ctx: AppContext, service: AuditService) -> None:
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="queued", public=False)
        service.append(session, log="queued", data=b"not yet integrated")
    with ctx.db.write_session() as session, pytest.raises(LogSealError, match="has entries"):
        service.seal(session, log="queued", actor=ACTOR)
    service.integrate(log="queued")
    with ctx.db.write_session() as session, pytest.raises(LogSealError):
        service.seal(session, log="queued", actor=ACTOR)
    # Once unsealed with entries, a log is never sealed again: what was readable stays so.
    sealed_log(service, ctx)
    with ctx.db.write_session() as session:
        service.unseal(session, log=LOG, actor=ACTOR)
    with ctx.db.write_session() as session, pytest.raises(LogSealError):
        service.seal(session, log=LOG, actor=ACTOR)
    with ctx.db.read_session() as session:
        assert service.log_info(session, log=LOG).sealed is False
        assert service.log_info(session, log="queued").sealed is False
        assert service.query(session, event_type="audit.log.sealed", limit=10)[0].details == {
            "log": LOG
        }
        assert len(service.query(session, event_type="audit.log.sealed")) == 1


def _refused(engine: Engine, sql: str, because: str) -> None:
    with pytest.raises(DBAPIError, match=because), engine.begin() as conn:
        conn.execute(text(sql))


def _sealed(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT sealed FROM audit_logs WHERE name = :n"), {"n": name}
            ).scalar_one()
        )


def test_the_database_allows_only_legal_seal_changes(
    ctx: AppContext, service: AuditService
) -> None:
    """Bypassing the service (the application engine, as the owner on PostgreSQL): the
    triggers of migration audit_0002 still hold."""
    sealed_log(service, ctx)
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="empty", public=False)
    engine = ctx.db.engine
    where = f"WHERE name = '{LOG}'"
    # Anything but the seal flag, alone or with an unseal: refused.
    _refused(engine, f"UPDATE audit_logs SET public = true {where}", "append-only")
    _refused(engine, f"UPDATE audit_logs SET sealed = false, name = 'x' {where}", "append-only")
    _refused(engine, f"UPDATE audit_logs SET sealed = sealed {where}", "append-only")
    _refused(engine, f"DELETE FROM audit_logs {where}", "append-only")
    assert _sealed(engine, LOG)
    # Unseal: allowed; sealing it again now that it has entries: refused.
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_logs SET sealed = false {where}"))
    _refused(engine, f"UPDATE audit_logs SET sealed = true {where}", "append-only")
    assert not _sealed(engine, LOG)
    # An empty log may be sealed, and only the seal changes.
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_logs SET sealed = true WHERE name = 'empty'"))
    assert _sealed(engine, "empty")
    # A queued entry counts as an entry: the seal could otherwise hide it once integrated.
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="queued", public=False)
        service.append(session, log="queued", data=b"queued")
    _refused(engine, "UPDATE audit_logs SET sealed = true WHERE name = 'queued'", "append-only")
    # The entries themselves stay append-only.
    _refused(engine, "UPDATE audit_entries SET data = data", "append-only")


@pytest.mark.postgres
def test_postgresql_application_role_may_change_the_seal_only(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = app_role_url(request, fresh_database(request, "postgresql", migrated=True))
    ctx = build_context(
        load_settings(mode="test", database_url=url, data_dir=tmp_path / "var"),
        database=Database(url),
    )
    service = service_from(ctx)
    try:
        sealed_log(service, ctx)
        for sql in (
            f"UPDATE audit_logs SET public = public WHERE name = '{LOG}'",
            f"UPDATE audit_logs SET sealed = false, origin = 'x' WHERE name = '{LOG}'",
        ):
            _refused(ctx.db.engine, sql, "permission denied")
        with ctx.db.write_session() as session:
            assert service.unseal(session, log=LOG, actor=ACTOR) is True
        _refused(
            ctx.db.engine,
            f"UPDATE audit_logs SET sealed = true WHERE name = '{LOG}'",
            "append-only",
        )
        assert not _sealed(ctx.db.engine, LOG)
    finally:
        ctx.db.dispose()


def test_no_http_read_path_serves_a_sealed_log(app: FastAPI, client: TestClient) -> None:
    ctx: AppContext = app.state.ctx
    service = service_from(ctx)
    sealed_log(service, ctx, public=True)  # public: even anonymous readers may read it
    bodies = (f"/logs/{LOG}/entries?start=0&end=20", f"/logs/{LOG}/tile/entries/000.p/20")
    for who in ("anonymous", "dpo"):
        if who == "dpo":
            sign_in(client, app, DPO)
        for path in bodies:
            refused = client.get(path)
            assert refused.status_code == 403, (who, path)
            assert refused.json()["title"] == "Log sealed"
            assert refused.json()["type"] == "tag:parvis.fr,2026:problem/audit-log-sealed"
            assert "secret" not in refused.text
        leaf = base64.urlsafe_b64encode(merkle.leaf_hash(DATA[2])).decode()
        for path in (
            f"/logs/{LOG}",
            f"/logs/{LOG}/key",
            f"/logs/{LOG}/checkpoint",
            f"/logs/{LOG}/tile/0/000.p/20",
            f"/logs/{LOG}/proof/inclusion?leaf_hash={leaf}",
            f"/logs/{LOG}/proof/consistency?first=3&second=20",
        ):
            served = client.get(path)
            assert served.status_code == 200, (who, path)
            assert b"secret" not in served.content, path
    with ctx.db.write_session() as session:
        service.unseal(session, log=LOG, actor=ACTOR)
    client.cookies.clear()
    entries = client.get(bodies[0]).json()["entries"]
    assert [base64.b64decode(e["data"]) for e in entries] == DATA
    assert decode_bundle(client.get(bodies[1]).content) == DATA


def test_the_cli_reads_no_sealed_entry(settings: Settings, ctx: AppContext) -> None:
    service = service_from(ctx)
    sealed_log(service, ctx)
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(settings.data_dir),
    }

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(build_cli(), ["audit", *args, "--log", LOG], env=env)
        return result.exit_code, result.output

    code, output = run("verify")
    assert code == 1
    assert "sealed" in output
    assert "secret" not in output
    assert len(output.strip().splitlines()) == 1  # one line, no traceback
    for args in (("checkpoint",), ("key",), ("proof", "--index", "4")):
        code, output = run(*args)
        assert code == 0, output
        assert "secret" not in output
