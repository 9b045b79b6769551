"""``parvis audit record|checkpoint|key|proof|verify`` (ADR 0003, "Verification") and the operator
who bypasses the database protections, caught by ``verify`` against a remembered checkpoint
(audit-log.md, "Append-only in the database")."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner, Result

from audit import AuditService, merkle, open_promise, service_from
from audit.errors import LogRollbackError, LogVerificationError, StateFileError
from audit.note import Checkpoint, Signer, VerifierKey, sign_note
from audit.verifier import HttpSource, verify_log
from parvis.cli import build_cli
from parvis.kernel.context import AppContext
from parvis.kernel.settings import Settings
from tests.audit.conftest import record_many
from tests.support.server import free_port

LOG_TABLES = (
    "audit_logs",
    "audit_entries",
    "audit_nodes",
    "audit_checkpoints",
    "audit_events",
    "audit_details",  # UPDATE refused too (erasure deletes)
)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(settings.data_dir),
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(build_cli(), ["audit", *args], env=env, input=stdin)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def operator(ctx: AppContext, *statements: str) -> None:
    """What an operator with full database rights can do: switch the protections off (drop
    the triggers on SQLite; disable them as owner/superuser on PostgreSQL) and write."""
    if ctx.db.is_sqlite:
        path = ctx.settings.sqlite_path()
        assert path is not None
        conn = sqlite3.connect(path)
        try:
            names = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'"
            ).fetchall()
            for (name,) in names:
                conn.execute(f"DROP TRIGGER {name}")
            for sql in statements:
                conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return
    with ctx.db.engine.begin() as conn:
        for table in LOG_TABLES:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
        for sql in statements:
            conn.execute(text(sql))


def blob(ctx: AppContext, data: bytes) -> str:
    """A binary SQL literal for either engine."""
    return f"X'{data.hex()}'" if ctx.db.is_sqlite else f"decode('{data.hex()}', 'hex')"


def test_cli_contract(env: dict[str, str], ctx: AppContext, service: AuditService) -> None:
    first = json.loads(ok(run(env, "record", "--log", "audit", "--type", "dpo.inspection",
                              "--detail", '{"room": "B12"}')))  # fmt: skip
    assert first["index"] == 0
    assert first["log"] == "audit"
    key = VerifierKey.parse(ok(run(env, "key", "--log", "audit")).strip())
    leaf = base64.b64decode(first["leaf_hash"])
    open_promise(first["promise"], log_key=key, origin=key.name, leaf_hash=leaf)

    lines = ok(run(env, "record", "--type", "breach.notified", stdin='{"a": 1}\n\n{"b": 2}\n'))
    assert [json.loads(line)["index"] for line in lines.splitlines()] == [1, 2]
    with ctx.db.read_session() as session:
        events = service.query(session)
    assert [(e.event_type, e.actor, e.details) for e in events] == [
        ("dpo.inspection", "system:cli", {"room": "B12"}),
        ("breach.notified", "system:cli", {"a": 1}),
        ("breach.notified", "system:cli", {"b": 2}),
    ]

    note = ok(run(env, "checkpoint", "--log", "audit"))
    body = Checkpoint.parse(note.split("\n\n")[0] + "\n")
    assert body.size == 3

    proof = json.loads(ok(run(env, "proof", "--log", "audit", "--index", "1", "--size", "3")))
    assert list(proof) == ["index", "tree_size", "leaf_hash", "root", "proof"]
    assert base64.b64decode(proof["root"]) == body.root_hash
    merkle.verify_inclusion(
        leaf_hash=base64.b64decode(proof["leaf_hash"]),
        index=1,
        size=3,
        proof=[base64.b64decode(p) for p in proof["proof"]],
        root=body.root_hash,
    )
    link = json.loads(ok(run(env, "proof", "--log", "audit", "--consistency", "1", "3")))
    assert list(link) == ["from", "to", "proof"]
    merkle.verify_consistency(
        size1=1,
        size2=3,
        root1=leaf,
        root2=body.root_hash,
        proof=[base64.b64decode(p) for p in link["proof"]],
    )

    for args, stdin, reason in [
        (["record", "--detail", "[1]"], None, "--detail is not a JSON object"),
        (["record"], "not json\n", "line 1 of standard input is not JSON"),
        (["record"], "", "nothing to record"),
        (["proof", "--log", "audit"], None, "give either --index or --consistency"),
        (["proof", "--index", "3"], None, "entry 3 is not in the tree of size 3"),
        (["proof", "--consistency", "0", "3"], None, "no consistency proof from size 0"),
        (["checkpoint", "--log", "nope"], None, "no log named nope"),
        (["key", "--log", "../x"], None, "a log name is 1 to 64 characters"),
    ]:
        assert reason in one_line_error(run(env, *args, stdin=stdin))


def test_verify_remembers_and_checks_consistency(
    env: dict[str, str], ctx: AppContext, service: AuditService, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first = ok(run(env, "verify", "--log", "audit", "--state", str(state)))
    assert "no remembered checkpoint" in first
    assert "trusted on first use" in first
    assert json.loads(state.read_text())["size"] == 0
    record_many(service, ctx, 40)
    service.integrate()
    second = ok(run(env, "verify", "--log", "audit", "--state", str(state)))
    assert "remembered in the state file" in second
    assert "the remembered checkpoint is the empty tree" in second
    record_many(service, ctx, 5)
    service.integrate()
    third = ok(run(env, "verify", "--state", str(state)))
    assert "consistent with the remembered checkpoint of size 40" in third
    assert "recomputed the tree from all 45 entries: the root matches" in third
    assert json.loads(state.read_text())["size"] == 45

    # A pinned key that is not the log's key is refused, whatever the log publishes.
    other = Signer(name="127.0.0.1:8000/audit", seed=bytes(32)).verifier.text
    assert "publishes the verifier key" in one_line_error(run(env, "verify", "--key", other))
    assert "another verifier key" in one_line_error(
        run({**env, "PARVIS_AUDIT_VERIFIER_KEYS": other}, "verify", "--state", str(state))
    )


@pytest.mark.parametrize(
    ("tamper", "caught"),
    [
        ("rewrite-data", "entry 2: its data does not hash to the leaf hash the log serves"),
        ("rewrite-all", "not consistent with the remembered checkpoint of size 5"),
        ("rewrite-same-size", "another root than the remembered one"),
        ("remove-last", "smaller than the remembered size 5: entries were removed"),
        ("remove-middle", "entry 1 is missing"),
    ],
)
def test_verify_catches_the_operator(
    env: dict[str, str],
    *,
    ctx: AppContext,
    service: AuditService,
    tmp_path: Path,
    tamper: str,
    caught: str,
) -> None:
    record_many(service, ctx, 5)
    service.integrate()
    state = tmp_path / "dpo-state.json"  # the DPO's copy, kept outside the operator's reach
    ok(run(env, "verify", "--state", str(state)))
    with ctx.db.read_session() as session:
        log_id = session.execute(text("SELECT id FROM audit_logs")).scalar_one()
        old = [e.data for e in service.entries(session, log="audit", start=0, end=5)]
    forged = old[2].replace(b"test.event", b"test.other")
    if tamper == "rewrite-data":
        operator(ctx, f"UPDATE audit_entries SET data = {blob(ctx, forged)} WHERE idx = 2")
    elif tamper in ("rewrite-all", "rewrite-same-size"):
        # The operator rebuilds the whole tree around the changed entry and signs fresh
        # checkpoints with the real key: everything the log serves is self-consistent.
        # It rewrites the typed view to match, so that the view check finds nothing either.
        operator(
            ctx,
            "DELETE FROM audit_entries",
            "DELETE FROM audit_nodes",
            "DELETE FROM audit_checkpoints WHERE size > 0",
            f"UPDATE audit_events SET event_type = 'test.other', "
            f"leaf_hash = {blob(ctx, merkle.leaf_hash(forged))} "
            f"WHERE leaf_hash = {blob(ctx, merkle.leaf_hash(old[2]))}",
        )
        new = [*old[:2], forged, *old[3:]]
        if tamper == "rewrite-all":
            new.append(b"extra")
        with ctx.db.write_session() as session:
            service.append_many(session, log="audit", data=new)
        # The engine itself remembers what it published (docs/adr/0017) and refuses...
        with pytest.raises(LogRollbackError, match="acknowledge-rollback"):
            service.integrate(log="audit")
        # ...so this operator also deletes that memory, on the host they control.
        (service.memory.directory / "audit.checkpoint").unlink()
        service.integrate()
        # Without the remembered checkpoint the forgery is invisible...
        assert "the root matches" in ok(run(env, "verify", "--state", str(tmp_path / "new")))
    elif tamper == "remove-last":
        operator(
            ctx,
            "DELETE FROM audit_entries WHERE idx = 4",
            "DELETE FROM audit_checkpoints WHERE size = 5",
        )
    else:
        operator(ctx, f"DELETE FROM audit_entries WHERE log_id = {log_id} AND idx = 1")
    # ...with it, verify names the first discrepancy and keeps the old state.
    before = state.read_text()
    assert caught in one_line_error(run(env, "verify", "--state", str(state)))
    assert state.read_text() == before


@pytest.mark.parametrize(
    ("tamper", "caught"),
    [
        (
            "UPDATE audit_events SET actor = 'staff:9' WHERE seq = 3",
            "audit_events row 3, entry 2: actor staff:9 differs from the leaf's system",
        ),
        (
            "UPDATE audit_events SET subject = NULL, purpose = 'other' WHERE seq = 2",
            "audit_events row 2, entry 1: subject None differs from the leaf's subject-1",
        ),
        ("DELETE FROM audit_events WHERE seq = 4", "entry 3: an audit event missing from"),
        (
            # (no colon in the SQL: SQLAlchemy's text() would read a bind parameter)
            "UPDATE audit_details SET details = replace(details, '1', '7') "
            "WHERE details LIKE '%1}' AND length(details) = 7",
            "audit_events row 2, entry 1: its details do not hash to the leaf's commitment",
        ),
        (
            "INSERT INTO audit_events (log_id, leaf_hash, event_type, actor, subject, purpose, "
            "time) SELECT log_id, {hash}, event_type, actor, subject, purpose, time "
            "FROM audit_events WHERE seq = 1",
            "audit_events row 6: names no leaf of the log",
        ),
    ],
)
def test_verify_checks_the_typed_view(
    env: dict[str, str],
    *,
    ctx: AppContext,
    service: AuditService,
    tamper: str,
    caught: str,
) -> None:
    """The DPO's typed view is checked against the leaves: the database owner who edits,
    deletes or adds a row of ``audit_events`` (or rewrites remaining details) is named."""
    record_many(service, ctx, 5)
    service.integrate()
    assert "the typed view audit_events matches the leaves (5 rows checked)" in ok(
        run(env, "verify")
    )
    operator(ctx, tamper.replace("{hash}", blob(ctx, bytes(32))))
    error = one_line_error(run(env, "verify"))
    assert "the typed view does not match the log" in error
    assert caught in error
    # Erased details are not a mismatch: the leaf still verifies without them.
    if "audit_details" in tamper:
        with ctx.db.write_session() as session:
            service.erase_subject_details(session, subject="subject-1")
        ok(run(env, "verify"))


def test_verify_over_http(app: FastAPI, client: TestClient, tmp_path: Path) -> None:
    ctx: AppContext = app.state.ctx
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="board", public=True)
        service.append_many(session, log="board", data=[b"a", b"b", b"c"])
    service.integrate()
    state = tmp_path / "board.json"

    def verify() -> list[str]:
        source = HttpSource(client=client, base_url="http://127.0.0.1", log="board")
        return verify_log(source, configured_key=None, state_path=state).lines

    assert "recomputed the tree from all 3 entries: the root matches" in verify()
    with ctx.db.write_session() as session:
        service.append(session, log="board", data=b"d")
    service.integrate()
    assert "consistent with the remembered checkpoint of size 3 (3-hash RFC 9162 proof)" in verify()
    operator(ctx, f"UPDATE audit_entries SET data = {blob(ctx, b'z')} WHERE idx = 0")
    with pytest.raises(LogVerificationError, match="entry 0: its data does not hash"):
        verify()
    state.write_text("{}")
    with pytest.raises(StateFileError):
        verify()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app behind a real socket (uvicorn in a thread of this process)."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_cli_verify_url_against_a_real_server(
    app: FastAPI, env: dict[str, str], tmp_path: Path
) -> None:
    ctx: AppContext = app.state.ctx
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="board", public=True)
        service.append_many(session, log="board", data=[b"%d" % i for i in range(300)])
    service.integrate()
    try:
        with serving(app) as url:
            out = ok(run(env, "verify", "--log", "board", "--url", url,
                         "--state", str(tmp_path / "s.json")))  # fmt: skip
            denied = one_line_error(run(env, "verify", "--log", "audit", "--url", url))
            unreachable = one_line_error(run(env, "verify", "--url", "http://127.0.0.1:1"))
    finally:
        ctx.db.dispose()  # no lifespan ran to do it
    assert "recomputed the tree from all 300 entries" in out
    assert "answered 401" in denied
    assert "the log audit is not public, and --url verifies public logs only" in denied
    assert "cannot fetch http://127.0.0.1:1/logs/audit: ConnectError" in unreachable


def test_verify_against_a_previous_checkpoint(
    env: dict[str, str], *, ctx: AppContext, service: AuditService, tmp_path: Path
) -> None:
    # `verify --prev-checkpoint FILE`: a checkpoint kept by anyone (not the state file): the
    # log must extend it (consistency proof from its size, root recomputed at its size).
    record_many(service, ctx, 5)
    service.integrate()
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(ok(run(env, "checkpoint")))
    record_many(service, ctx, 3)
    service.integrate()

    out = ok(run(env, "verify", "--prev-checkpoint", str(kept)))
    assert "consistent with the previous checkpoint of size 5" in out
    assert "recomputed the tree from all 8 entries: the root matches" in out

    # A checkpoint of another log: same name, another key; then another log's name.
    body = kept.read_text().split("\n\n")[0] + "\n"
    other = tmp_path / "other.checkpoint"
    other.write_text(
        sign_note(body, signers=[Signer(name=Checkpoint.parse(body).origin, seed=b"\x09" * 32)])
    )
    assert "error: the previous checkpoint is not this log's: " in one_line_error(
        run(env, "verify", "--prev-checkpoint", str(other))
    )
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="board", public=True)
        service.append(session, log="board", data=b"board entry")
    service.integrate()
    other.write_text(ok(run(env, "checkpoint", "--log", "board")))
    assert "error: the previous checkpoint is not this log's: " in one_line_error(
        run(env, "verify", "--prev-checkpoint", str(other))
    )

    # The operator rewrites entry 2, rebuilds the tree and re-signs with the real key.
    with ctx.db.read_session() as session:
        old = [e.data for e in service.entries(session, log="audit", start=0, end=8)]
    forged = old[2].replace(b"test.event", b"test.other")
    operator(
        ctx,
        "DELETE FROM audit_entries WHERE log_id = (SELECT id FROM audit_logs WHERE name = 'audit')",
        "DELETE FROM audit_nodes WHERE log_id = (SELECT id FROM audit_logs WHERE name = 'audit')",
        "DELETE FROM audit_checkpoints WHERE size > 0 AND log_id = "
        "(SELECT id FROM audit_logs WHERE name = 'audit')",
        f"UPDATE audit_events SET event_type = 'test.other', "
        f"leaf_hash = {blob(ctx, merkle.leaf_hash(forged))} "
        f"WHERE leaf_hash = {blob(ctx, merkle.leaf_hash(old[2]))}",
    )
    with ctx.db.write_session() as session:
        service.append_many(session, log="audit", data=[*old[:2], forged, *old[3:]])
    (service.memory.directory / "audit.checkpoint").unlink()
    service.integrate()
    assert "the root matches" in ok(run(env, "verify"))  # self-consistent on its own

    error = one_line_error(run(env, "verify", "--prev-checkpoint", str(kept)))
    assert error.startswith(
        "error: the checkpoint of size 8 is not consistent with the previous checkpoint of "
        "size 5: the log was rewritten or forked"
    )
    assert "--prev-checkpoint" in one_line_error(
        run(env, "verify", "--prev-checkpoint", str(tmp_path / "none"))
    )
