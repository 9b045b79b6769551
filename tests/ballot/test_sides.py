"""The voter side and the box side stay apart (docs/adr/0009-batched-boards.md, "Voter side
and box side"): in the schema — no column of one refers to the other, nothing records
a time finer than the day or a write order — and in the code, where the import contracts
fail as soon as casting imports a voter-side module.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Date, DateTime, Integer, Table

from ballot.client import obtain_voting_right
from ballot.manifest import Manifest
from ballot.service import service_from
from ballot.tables import BallotRow, CommitmentRow, PendingBallotRow, VoterRow
from parvis import migrate
from parvis.kernel.clock import FixedClock
from tests.ballot.elections import GOOD_CHOICES, make_citizen, open_election, setup_rule
from tests.ballot.test_cli_and_server import context
from tests.support.server import REPO

VOTER_SIDE = [VoterRow]
BOX_SIDE = [BallotRow, PendingBallotRow, CommitmentRow]


def _table(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def test_no_column_of_one_side_refers_to_the_other() -> None:
    voter_columns = {c.name for m in VOTER_SIDE for c in _table(m).columns}
    box_columns = {c.name for m in BOX_SIDE for c in _table(m).columns}
    # The election is all they share: no pseudonym on the box side, no nullifier, leaf or
    # code on the voter side.
    assert voter_columns & box_columns == {"election_id"}
    for model in VOTER_SIDE + BOX_SIDE:
        targets = {fk.column.table.name for fk in _table(model).foreign_keys}
        assert targets == {"ballot_elections"}, model


@pytest.mark.parametrize("model", VOTER_SIDE + BOX_SIDE, ids=lambda m: m.__tablename__)
def test_no_time_finer_than_the_day_and_no_write_order(model: type) -> None:
    table = _table(model)
    for column in table.columns:
        assert not isinstance(column.type, DateTime), column
        if isinstance(column.type, Date):
            assert table.name == "ballot_voters", column
        # A numbered key would be a write order: every key here is random (a pseudonym, a
        # nullifier, a leaf hash) beside the election id.
        assert not (column.primary_key and isinstance(column.type, Integer)), column
    assert table.kwargs.get("sqlite_with_rowid") is False


def test_the_migrated_sqlite_tables_have_no_rowid(tmp_path: Path) -> None:
    path = tmp_path / "schema.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        for model in VOTER_SIDE + BOX_SIDE:
            name = model.__tablename__  # type: ignore[attr-defined]
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
            assert "WITHOUT ROWID" in sql, name
            with pytest.raises(sqlite3.OperationalError, match="rowid"):
                db.execute(f"SELECT rowid FROM {name}")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(REPO) / ".venv" / "bin" / "lint-imports"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        # verifier/: the verifier distribution's package, a root package of the contracts.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tree}:{tree / 'verifier'}"},
        check=False,
    )


def test_the_contracts_fail_when_casting_imports_the_voter_side(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    shutil.copy(REPO / "pyproject.toml", tree)
    for package in ("parvis", "identity", "ballot", "consent", "audit", "verifier"):
        shutil.copytree(
            REPO / package,
            tree / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "build", "*.egg-info"),
        )
    kept = _lint_imports(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    casting = tree / "ballot" / "casting.py"
    casting.write_text(casting.read_text() + "\nimport ballot.voters  # planted\n")
    broken = _lint_imports(tree)
    assert broken.returncode != 0
    assert "the box side imports nothing of the voter side" in broken.stdout
    assert "BROKEN" in broken.stdout


def test_sqlite_keeps_no_write_order_once_a_batch_is_on_the_board(tmp_path: Path) -> None:
    """The write-ahead log (page images in commit order) is emptied after a batch, and
    deleted rows are zeroed (``secure_delete``), so the file keeps no trace of the order in
    which ballots waited (ADR 0009)."""
    url = f"sqlite:///{tmp_path}/parvis.sqlite3"
    migrate.upgrade(url)
    ctx = context({"PARVIS_DATABASE_URL": url, "PARVIS_DATA_DIR": str(tmp_path / "var")})
    setup_rule(ctx)
    election = open_election(ctx, FixedClock(ctx.clock.now()))
    service = service_from(ctx)
    with ctx.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    with ctx.db.read_session() as db:
        manifest = Manifest.from_json(service.manifest(db, election))
    for _ in range(3):
        citizen = make_citizen(ctx)
        right = obtain_voting_right(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
            transport=lambda blinded, who=citizen: service.issue_token(
                election_id=election, citizen=who, blinded_msg=blinded
            ),
        )
        body = right.cast(GOOD_CHOICES)[1].to_json_bytes()
        service.committer.cast(election, service.prepare_cast(election, body))
    wal = tmp_path / "parvis.sqlite3-wal"
    assert wal.stat().st_size > 0
    assert service.integrate_batches(force=True) == 3
    assert wal.stat().st_size == 0
    service.committer.stop()
    ctx.db.dispose()
