"""Benchmark of ``parvis backup create`` and ``parvis backup restore``
(docs/adr/0015-backups.md) on a database holding ``--ballots`` ballots and ``--citizens``
citizens, as ratios to a baseline measured in the same run on the same database.

For each database (SQLite, then a durable PostgreSQL: ``fsync`` on):

1. **fill** — migrate, open an election for ``--ballots`` voters and put that many ballots
   on its board: tokens signed straight with the election key (the box checks tokens, not
   the voter register), ``prepare_cast`` + ``cast_batch`` in chunks of 256, and
   ``integrate_batches(force=True)`` (as bench/cast.py's batch integration does) after
   every 10,000 ballots (see ``BALLOTS_PER_BATCH``). Then
   ``--citizens`` citizens through identity's service (``create_citizen`` and
   ``self_declare``, as tests/ballot/elections.py's ``make_citizen``), 500 per write
   transaction rather than one transaction each, and the audit trail integrated, so the
   restore verifies a board of N+1 entries and an audit log of its real size. Not timed;
2. **baseline** — SQLite: a plain copy of the database file (after a WAL checkpoint, so the
   file is the whole database); PostgreSQL: a bare ``pg_dump --format=custom`` (the format
   the backup uses) to /dev/null, with the same ``pg_dump`` the backup finds;
3. **backup** — ``parvis backup create --out FILE --recipient age1…`` run in-process through
   the CLI (typer's runner, as tests/test_backup.py drives it), to a recipient made with
   pyrage's ``x25519.Identity.generate()``: snapshot, tar, age encryption, rename;
4. **restore** — ``parvis backup restore FILE --identity KEYFILE`` into a fresh empty
   database (a new SQLite file in a new data directory; a new database in the same
   PostgreSQL cluster, whose roles exist) — decryption, manifest checks, the database
   restored in one transaction, and every log verified (ADR 0015, decision 6): the
   restore's time includes its log verification, whose share is reported too (from the
   command's first ``verifying log`` progress line to its end).

Reported per database: database size (the SQLite file; ``pg_database_size``, which counts
the system catalogs of even an empty database, several MB), archive size, baseline, backup
and restore times, and the ratios backup ÷ baseline and restore ÷ baseline. Times are wall
clock, in this process (no Python start-up: the ADR's figures for the whole command add
about 2 s of it). Not a test: it never fails on a figure.

Usage: ``python bench/backup.py [--quick] [--ballots N] [--citizens M]
[--db sqlite|postgresql]…``. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyrage import x25519
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import audit
import identity
import parvis.backup
from ballot import rsabssa
from ballot.client import begin_issuance
from ballot.service import service_from
from bench.cast import CHOICES, bench_database, machine, open_bench_election
from parvis.backup import _libpq, find_pg_tool
from parvis.cli import build_cli
from parvis.kernel.context import AppContext
from tests.ballot.elections import COMMUNE

CITIZENS_PER_TRANSACTION = 500
# Ballots per board batch. One batch of 100,000 fails on PostgreSQL: the box's token count
# (ballot/box.py, ``_count_tokens``) binds every nullifier of a batch in one ``IN (…)``, and
# PostgreSQL's protocol takes at most 65,535 parameters. A batch per 10,000 ballots is what a
# busy election's ten-minute boundaries would give anyway.
BALLOTS_PER_BATCH = 10_000


def fill(ctx: AppContext, election: str, manifest: Any, key: Any, ballots: int) -> None:
    """``ballots`` ballots cast and integrated on the election's board, a batch per
    ``BALLOTS_PER_BATCH``."""
    service = service_from(ctx)
    prepared = []
    moved = 0
    for i in range(ballots):
        issuance = begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
        right = issuance.finish(rsabssa.blind_sign(key, issuance.blinded_msg))
        _right, request = right.cast(CHOICES[i % 2])
        prepared.append(service.prepare_cast(election, request.to_json_bytes()))
        if len(prepared) == 256 or i + 1 == ballots or (i + 1) % BALLOTS_PER_BATCH == 0:
            service.cast_batch(election, prepared)
            prepared = []
        if (i + 1) % BALLOTS_PER_BATCH == 0 or i + 1 == ballots:
            moved += service.integrate_batches(force=True)
    assert moved == ballots, moved
    service.committer.stop()


def add_citizens(ctx: AppContext, count: int) -> None:
    """``count`` eligible citizens (``make_citizen``'s two service calls), several per
    transaction, then the audit trail their creation appended to integrated."""
    service = identity.service_from(ctx)
    for first in range(0, count, CITIZENS_PER_TRANSACTION):
        with ctx.db.write_session() as db:
            for _ in range(min(CITIZENS_PER_TRANSACTION, count - first)):
                citizen = service.create_citizen(
                    db, pivot_hash_value=secrets.token_hex(32), acr="eidas1", birth_year=1980
                )
                service.self_declare(
                    db, citizen_id=citizen.id, territory_id="ballot-town", commune_code=COMMUNE
                )
    audit.service_from(ctx).integrate()


def database_size(ctx: AppContext, kind: str, url: str) -> int:
    """Bytes of the database: the SQLite file once its WAL is checkpointed into it (so a
    plain copy of the file is a copy of the database), or ``pg_database_size``."""
    with ctx.db.engine.begin() as conn:
        if kind == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    return Path(url.removeprefix("sqlite:///")).stat().st_size


def baseline(kind: str, url: str, scratch: Path) -> float:
    """Seconds of a plain copy of the SQLite file, or of a bare ``pg_dump`` to /dev/null."""
    started = time.perf_counter()
    if kind == "sqlite":
        shutil.copyfile(url.removeprefix("sqlite:///"), scratch / "copy.sqlite3")
    else:
        uri, env = _libpq(url)
        # To standard output, sent to /dev/null (``--file=/dev/null`` fails: pg_dump fsyncs
        # its output file, and /dev/null refuses fsync).
        subprocess.run(
            [find_pg_tool("pg_dump"), "--format=custom", "--dbname", uri],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
    seconds = time.perf_counter() - started
    (scratch / "copy.sqlite3").unlink(missing_ok=True)
    return seconds


def cli(args: list[str], env: dict[str, str]) -> tuple[float, str, list[tuple[float, str]]]:
    """Run ``parvis ARGS`` in-process under ``env``: (seconds, standard output, and each
    ``backup: …`` progress line with the seconds since the start at which it was said).

    The progress lines are timed by wrapping the command's own progress function (looked up
    in its module at each call): it splits a restore into the restore proper and its log
    verification, which begins at the first ``verifying log``."""
    runner = CliRunner()
    said: list[tuple[float, str]] = []
    say = parvis.backup._say

    def timed_say(line: str) -> None:
        said.append((time.perf_counter() - started, line))
        say(line)

    parvis.backup._say = timed_say
    started = time.perf_counter()
    try:
        result = runner.invoke(build_cli(), args, env=env)
    finally:
        seconds = time.perf_counter() - started
        parvis.backup._say = say
    assert result.exit_code == 0, (result.output, result.exception)
    return seconds, result.stdout, said


def run_database(kind: str, args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    tmp, url, _workers, _pid = bench_database(kind, stack, "backup")
    env = {"PARVIS_MODE": "test", "PARVIS_DATA_DIR": tmp, "PARVIS_DATABASE_URL": url}
    started = time.perf_counter()
    ctx, election, manifest, key = open_bench_election(env, url, population=args.ballots)
    fill(ctx, election, manifest, key, args.ballots)
    ballots_s = time.perf_counter() - started
    started = time.perf_counter()
    add_citizens(ctx, args.citizens)
    citizens_s = time.perf_counter() - started
    size = database_size(ctx, kind, url)
    ctx.db.dispose()
    print(
        f"{kind}: filled with {args.ballots} ballots in {ballots_s:.1f} s and "
        f"{args.citizens} citizens in {citizens_s:.1f} s; database {size} bytes",
        flush=True,
    )

    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parvis-bench-bk-")))
    operator = x25519.Identity.generate()
    identity_file = scratch / "operator.agekey"
    identity_file.write_text(f"# public key: {operator.to_public()}\n{operator}\n")
    archive = scratch / "parvis.backup.age"

    base = baseline(kind, url, scratch)
    backup_s, _out, _said = cli(
        ["backup", "create", "--out", str(archive), "--recipient", str(operator.to_public())], env
    )
    archive_size = archive.stat().st_size

    target_dir = scratch / "restored"
    if kind == "sqlite":
        target_url = f"sqlite:///{scratch}/restored.sqlite3"
    else:
        target_url = url.rsplit("/", 1)[0] + "/restored"
        engine = create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("CREATE DATABASE restored")
        finally:
            engine.dispose()
    target = {**env, "PARVIS_DATA_DIR": str(target_dir), "PARVIS_DATABASE_URL": target_url}
    restore_s, out, said = cli(
        ["backup", "restore", str(archive), "--identity", str(identity_file)], target
    )
    verify_from = next(at for at, line in said if line.startswith("verifying log"))
    verify_s = restore_s - verify_from
    verified = next(line for line in out.splitlines() if line.startswith("restored the backup"))

    result = {
        "ballots": args.ballots,
        "citizens": args.citizens,
        "database_bytes": size,
        "archive_bytes": archive_size,
        "archive_to_database": round(archive_size / size, 3),
        "baseline": "file copy" if kind == "sqlite" else "pg_dump --format=custom to /dev/null",
        "baseline_s": round(base, 3),
        "backup_s": round(backup_s, 3),
        "restore_s": round(restore_s, 3),
        "backup_to_baseline": round(backup_s / base, 2),
        "restore_to_baseline": round(restore_s / base, 2),
        "restore_verification_s": round(verify_s, 3),
        "fill_ballots_s": round(ballots_s, 1),
        "fill_citizens_s": round(citizens_s, 1),
    }
    print(
        f"{kind}: database {size} bytes, archive {archive_size} bytes; baseline "
        f"({result['baseline']}) {base:.3f} s; backup {backup_s:.3f} s "
        f"(×{result['backup_to_baseline']}); restore with verification {restore_s:.3f} s "
        f"(×{result['restore_to_baseline']}; of which log verification {verify_s:.3f} s); "
        f"{verified}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2,000 ballots, 500 citizens")
    parser.add_argument("--ballots", type=int, default=None, help="ballots on the board")
    parser.add_argument("--citizens", type=int, default=None, help="citizens in identity")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args()
    args.ballots = args.ballots if args.ballots is not None else (2_000 if args.quick else 100_000)
    args.citizens = args.citizens if args.citizens is not None else (500 if args.quick else 10_000)
    results: dict[str, Any] = {}
    for kind in args.db or ["sqlite", "postgresql"]:
        with ExitStack() as stack:
            results[kind] = run_database(kind, args, stack)
    print(
        json.dumps(
            {
                "benchmark": "backup",
                "ballots": args.ballots,
                "citizens": args.citizens,
                "machine": machine(),
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
