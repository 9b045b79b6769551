"""``parvis backup create|restore`` (docs/adr/0015-backups.md): the restore drill on both
databases, and each refusal of a restore — one line, exit 1, nothing written."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from pathlib import Path

import pyrage
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyrage import x25519
from sqlalchemy import text
from typer.testing import CliRunner, Result

import audit
from audit.merkle import verify_consistency
from audit.note import VerifierKey, open_checkpoint
from ballot.service import board_log_name
from ballot.service import service_from as ballot_service
from ballot.verify import verify_board
from consent import service_from as consent_service
from consent.ledger import Actor, ActorKind, Method, Status
from consent.loader import load_document
from parvis.app import create_app
from parvis.backup import MANIFEST
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.db import Database
from parvis.kernel.settings import Settings, load_settings
from tests.ballot.elections import (
    GOOD_CHOICES,
    Voter,
    integrate,
    later,
    open_election,
    setup_rule,
    voters,
)
from tests.conftest import fresh_database
from tests.consent.conftest import DPO, register_document

runner = CliRunner()


def run(args: list[str], settings: Settings, **extra: str) -> Result:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(settings.data_dir),
        **extra,
    }
    return runner.invoke(build_cli(), [str(a) for a in args], env=env)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def age_pair(tmp_path: Path, name: str = "operator") -> tuple[str, Path]:
    """(recipient, identity file) as ``age-keygen -o`` writes it (with its comment lines)."""
    identity = x25519.Identity.generate()
    path = tmp_path / f"{name}.agekey"
    recipient = str(identity.to_public())
    path.write_text(f"# created: today\n# public key: {recipient}\n{identity}\n")
    return recipient, path


def empty_target(request: pytest.FixtureRequest, db_kind: str, tmp_path: Path) -> Settings:
    url = fresh_database(request, db_kind, migrated=False)
    return load_settings(mode="test", database_url=url, data_dir=tmp_path / "restored")


def assert_still_empty(target: Settings) -> None:
    """Nothing half-written: no table in the database, no key in the data directory."""
    from sqlalchemy import inspect

    path = target.sqlite_path()
    if path is None or path.exists():
        db = Database(target.database_url)
        try:
            assert inspect(db.engine).get_table_names() == []
        finally:
            db.dispose()
    data_dir = Path(target.data_dir)
    leftovers = [p.name for p in data_dir.iterdir()] if data_dir.exists() else []
    assert leftovers == []


def table_acl(settings: Settings) -> dict[str, tuple[str, str]]:
    """Owner and access privileges of every table (PostgreSQL)."""
    db = Database(settings.database_url)
    try:
        with db.read_session() as session:
            rows = session.execute(
                text(
                    "SELECT c.relname, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '')"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind = 'r'"
                )
            ).all()
    finally:
        db.dispose()
    return {name: (owner, acl) for name, owner, acl in rows}


def board_checkpoint(ctx: AppContext, election: str, board_key: str) -> tuple[int, bytes]:
    service = audit.service_from(ctx)
    with ctx.db.read_session() as session:
        note = service.checkpoint(session, log=board_log_name(election))
    key = VerifierKey.parse(board_key)
    checkpoint = open_checkpoint(note, origin=key.name, log_key=key).checkpoint
    return checkpoint.size, checkpoint.root_hash


def give_consent(ctx: AppContext, subject: str) -> tuple[str, bytes]:
    service = consent_service(ctx)
    with ctx.db.write_session() as session:
        notice = service.current_notice(session, "ville-exemple", "fr")
        assert notice is not None
        recorded = service.record(
            session,
            subject=subject,
            purpose_id="newsletter",
            status=Status.GIVEN,
            actor=Actor(ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="parvis:test",
            notice_id=notice.id,
        )
        return recorded.receipt_id, service.receipt_document(session, subject, recorded.receipt_id)


def test_restore_drill(
    *,
    app: FastAPI,
    client: TestClient,
    clock: FixedClock,
    settings: Settings,
    request: pytest.FixtureRequest,
    db_kind: str,
    tmp_path: Path,
) -> None:
    """Open election, ballots and consents; back up while the service runs; restore into an
    empty database and data directory; the election goes on, closes and its board verifies,
    and the board after the restore extends the checkpoint taken before the backup."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    with ctx.db.write_session() as session:
        load_document(ctx, session, register_document(), actor=DPO)
    election = open_election(ctx, clock)
    crowd: list[Voter] = list(voters(ctx, client, election, 3))
    for voter in crowd:
        voter.obtain_right()
        voter.vote(GOOD_CHOICES)
    integrate(ctx)
    receipts = {subject: give_consent(ctx, subject) for subject in ("alice", "bob")}
    assert audit.service_from(ctx).integrate() > 0  # the audit trail has entries too
    board_key = crowd[0].manifest().board_key
    before = board_checkpoint(ctx, election, board_key)
    assert before[0] >= 4  # the manifest and three ballots

    recipient, identity = age_pair(tmp_path)
    _other_recipient, other_identity = age_pair(tmp_path, "second-operator")
    archive = tmp_path / "parvis.backup.age"
    created = run(
        [
            "backup",
            "create",
            "--out",
            archive,
            "--recipient",
            recipient,
            "--recipient",
            _other_recipient,
        ],
        settings,
        # The master secret given as production gives it: it must not reach the archive.
        PARVIS_SECRET_KEY=settings.secret_key,
    )
    assert created.exit_code == 0, created.output
    assert f"backup written to {archive}: {archive.stat().st_size} bytes in" in created.stdout
    assert "backup: keys:" in created.stderr  # progress on standard error

    # Inside: the manifest, the snapshot and the keys; never the master secret.
    plain = pyrage.decrypt(
        archive.read_bytes(),
        [x25519.Identity.from_str(other_identity.read_text().splitlines()[-1])],
    )
    assert settings.secret_key.encode() not in plain
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    assert names[0] == MANIFEST
    assert manifest["database"] == db_kind
    assert manifest["settings"]["PARVIS_SECRET_KEY"] == "***"
    assert manifest["settings"]["PARVIS_DATA_DIR"] == str(settings.data_dir)
    assert sorted(names[1:]) == sorted(m["name"] for m in manifest["members"])
    key_files = sorted(p.name for p in (Path(settings.data_dir) / "keys").iterdir())
    assert sorted(n for n in names if n.startswith("keys/")) == [f"keys/{k}" for k in key_files]

    # The restore, into an empty database and data directory; the source stays untouched.
    target = empty_target(request, db_kind, tmp_path)
    restored = run(["backup", "restore", archive, "--identity", identity], target)
    assert restored.exit_code == 0, restored.output
    restored_db = Database(target.database_url)
    with restored_db.read_session() as session:
        logs = session.execute(text("SELECT COUNT(*) FROM audit_logs")).scalar_one()
    restored_db.dispose()
    assert logs >= 2  # the audit trail and the election's board at least
    if db_kind == "postgresql":
        # Owners and grants came back: the audit tables' append-only roles (ADR 0003).
        assert table_acl(target) == table_acl(settings)
        assert table_acl(target)["audit_entries"][0] == "parvis_audit_owner"
    assert restored.stdout.count("signature valid") == logs
    assert f"{logs} logs verify" in restored.stdout
    assert restored.stderr.count("backup: verifying log") == logs

    # The election goes on, on the restored service.
    app2 = create_app(target, clock=clock)
    with TestClient(app2, base_url="http://127.0.0.1") as client2:
        ctx2: AppContext = app2.state.ctx
        # Consents and their receipts survive (the vault opens under the same master secret).
        service = consent_service(ctx2)
        with ctx2.db.read_session() as session:
            for subject, (receipt_id, document) in receipts.items():
                assert service.receipt_document(session, subject, receipt_id) == document
                state = service.state(session, subject, "newsletter")
                assert state is not None
                assert state.status is Status.GIVEN
        # A voter of before the backup votes again; two new voters cast their first ballot.
        crowd[0].client = client2
        crowd[0].vote({"parc": "tilleuls", "budget": ["velos"]})
        newcomers = list(voters(ctx2, client2, election, 2))
        for voter in newcomers:
            voter.obtain_right()
            voter.vote(GOOD_CHOICES)
        integrate(ctx2)
        later(clock)
        ballots = ballot_service(ctx2)
        ballots.close(election_id=election, actor="staff:t")
        ballots.tally(election_id=election, actor="staff:t")
        ballots.publish(election_id=election, actor="staff:t")
        export = client2.get(f"/elections/{election}/board").json()
        results = client2.get(f"/elections/{election}/results").json()
        after = board_checkpoint(ctx2, election, board_key)
        with ctx2.db.read_session() as session:
            proof = audit.service_from(ctx2).consistency_proof(
                session, log=board_log_name(election), first=before[0], second=after[0]
            )
    report = verify_board(export, trusted_key=board_key)
    assert report.counted_ballots == 5  # the revote replaced its first ballot
    assert results["ballots"] == 5
    assert after[0] > before[0]
    verify_consistency(
        size1=before[0], size2=after[0], root1=before[1], root2=after[1], proof=list(proof.proof)
    )


# -- each refusal of a restore: one line, exit 1, nothing written --------------------------


@pytest.fixture
def backup(settings: Settings, tmp_path: Path) -> tuple[Path, Path]:
    """An archive of a small database (one audit entry) and the identity that opens it."""
    ctx = build_context(settings)
    try:
        with ctx.db.write_session() as session:
            audit.service_from(ctx).record(
                session, log="audit", event_type="manual", actor="system:test", details={"n": 1}
            )
        audit.service_from(ctx).integrate()
    finally:
        ctx.db.dispose()
    recipient, identity = age_pair(tmp_path)
    archive = tmp_path / "small.age"
    result = run(["backup", "create", "--out", archive, "--recipient", recipient], settings)
    assert result.exit_code == 0, result.output
    return archive, identity


def test_restore_refuses_a_target_that_is_not_empty(
    backup: tuple[Path, Path], settings: Settings, tmp_path: Path
) -> None:
    archive, identity = backup
    # The source itself: a database with tables (and a data directory with keys).
    line = one_line_error(run(["backup", "restore", archive, "--identity", identity], settings))
    assert "the target database is not empty" in line


def test_restore_refuses_a_data_directory_that_is_not_empty(
    backup: tuple[Path, Path], request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    archive, identity = backup
    target = empty_target(request, db_kind, tmp_path)
    Path(target.data_dir).mkdir()
    (Path(target.data_dir) / "keys").mkdir()
    line = one_line_error(run(["backup", "restore", archive, "--identity", identity], target))
    assert "the data directory" in line
    assert "is not empty (keys)" in line


def test_restore_refuses_a_wrong_key(
    backup: tuple[Path, Path], request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    archive, _identity = backup
    _recipient, stranger = age_pair(tmp_path, "stranger")
    target = empty_target(request, db_kind, tmp_path)
    line = one_line_error(run(["backup", "restore", archive, "--identity", stranger], target))
    assert "no key in the identity file opens this archive" in line
    assert_still_empty(target)


def test_restore_refuses_a_truncated_archive(
    backup: tuple[Path, Path], request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    archive, identity = backup
    cut = tmp_path / "cut.age"
    # Cut at a 64 KiB chunk boundary of the payload too: age's last-chunk flag catches it.
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    target = empty_target(request, db_kind, tmp_path)
    line = one_line_error(run(["backup", "restore", cut, "--identity", identity], target))
    assert "truncated or was tampered with" in line
    assert_still_empty(target)


def test_restore_refuses_a_tampered_archive(
    backup: tuple[Path, Path], request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    archive, identity = backup
    data = bytearray(archive.read_bytes())
    data[len(data) - 100] ^= 0x01  # one bit of the last chunk
    tampered = tmp_path / "tampered.age"
    tampered.write_bytes(bytes(data))
    target = empty_target(request, db_kind, tmp_path)
    line = one_line_error(run(["backup", "restore", tampered, "--identity", identity], target))
    assert "truncated or was tampered with" in line
    assert_still_empty(target)


def test_backup_needs_a_recipient(settings: Settings, tmp_path: Path) -> None:
    line = one_line_error(run(["backup", "create", "--out", tmp_path / "x.age"], settings))
    assert "no recipient" in line
    assert not (tmp_path / "x.age").exists()


def test_recipients_from_settings(settings: Settings, tmp_path: Path) -> None:
    recipient, identity = age_pair(tmp_path)
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(settings.data_dir),
        "PARVIS_BACKUP_RECIPIENTS": recipient,
    }
    out = tmp_path / "x.age"
    result = runner.invoke(build_cli(), ["backup", "create", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    key = x25519.Identity.from_str(identity.read_text().splitlines()[-1])
    assert pyrage.decrypt(out.read_bytes(), [key])[:512].find(MANIFEST.encode()) >= 0


def test_restore_refuses_a_member_that_differs_from_the_manifest(
    backup: tuple[Path, Path], request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    """age does not say who encrypted: anyone with the public recipient can make a valid
    envelope. A member swapped inside one is caught by the manifest's SHA-256."""
    archive, identity = backup
    key = x25519.Identity.from_str(identity.read_text().splitlines()[-1])
    plain = pyrage.decrypt(archive.read_bytes(), [key])
    forged = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(plain)) as source,
        tarfile.open(fileobj=forged, mode="w", format=tarfile.PAX_FORMAT) as out,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("keys/"):
                data = data[:-2] + b"A\n"  # another signing key of the same length
            out.addfile(member, io.BytesIO(data))
    swapped = tmp_path / "swapped.age"
    swapped.write_bytes(pyrage.encrypt(forged.getvalue(), [key.to_public()]))
    target = empty_target(request, db_kind, tmp_path)
    line = one_line_error(run(["backup", "restore", swapped, "--identity", identity], target))
    assert "keys/log-audit.key does not match its SHA-256" in line
    assert_still_empty(target)


def test_backup_while_the_logs_are_written(
    settings: Settings, request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    """The service goes on writing during ``backup create``; the snapshot is consistent
    (every log of the restored copy verifies, entries and stored tree agree)."""
    ctx = build_context(settings)
    service = audit.service_from(ctx)
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            with ctx.db.write_session() as session:
                service.record(
                    session, event_type="manual", actor="system:test", details={"n": written[0]}
                )
            written[0] += 1
            if written[0] % 5 == 0:
                service.integrate()

    thread = threading.Thread(target=writer)
    recipient, identity = age_pair(tmp_path)
    archive = tmp_path / "busy.age"
    thread.start()
    try:
        while written[0] < 20:
            time.sleep(0.01)
        before = written[0]
        result = run(["backup", "create", "--out", archive, "--recipient", recipient], settings)
        during = written[0] - before
    finally:
        stop.set()
        thread.join()
        ctx.db.dispose()
    assert result.exit_code == 0, result.output
    assert during > 0  # the log was written to while the backup ran
    target = empty_target(request, db_kind, tmp_path)
    restored = run(["backup", "restore", archive, "--identity", identity], target)
    assert restored.exit_code == 0, restored.output
    assert "recomputed the tree from all" in restored.stdout


def test_restore_refuses_a_database_of_the_other_kind(
    backup: tuple[Path, Path], request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    archive, identity = backup
    other = "postgresql" if db_kind == "sqlite" else "sqlite"
    target = empty_target(request, other, tmp_path)
    line = one_line_error(run(["backup", "restore", archive, "--identity", identity], target))
    assert f"holds a {db_kind} database; the target is {other}" in line
    assert_still_empty(target)


def test_restore_fails_when_a_log_does_not_verify(
    settings: Settings, request: pytest.FixtureRequest, db_kind: str, tmp_path: Path
) -> None:
    """The restore runs the audit verification itself: an entry rewritten in the source
    (past the append-only guards, as a DBA could) makes it fail, not report success."""
    ctx = build_context(settings)
    try:
        with ctx.db.write_session() as session:
            audit.service_from(ctx).record(
                session, event_type="manual", actor="system:test", details={"n": 1}
            )
        audit.service_from(ctx).integrate()
        with ctx.db.engine.begin() as conn:
            if db_kind == "sqlite":
                conn.execute(text("DROP TRIGGER audit_entries_no_update"))
            else:
                conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            conn.execute(text("UPDATE audit_entries SET data = :d"), {"d": b"rewritten"})
    finally:
        ctx.db.dispose()
    recipient, identity = age_pair(tmp_path)
    archive = tmp_path / "rewritten.age"
    created = run(["backup", "create", "--out", archive, "--recipient", recipient], settings)
    assert created.exit_code == 0, created.output
    target = empty_target(request, db_kind, tmp_path)
    restored = run(["backup", "restore", archive, "--identity", identity], target)
    assert restored.exit_code == 1
    last = restored.stderr.strip().splitlines()[-1]
    assert last == (
        "error: entry 0: its data does not hash to the leaf hash the log serves "
        "(the entry was rewritten)"
    )
    assert "restored the backup" not in restored.stdout
