"""Audit log engine: sustained durable appends on SQLite and PostgreSQL, proof latency and size.

audit-log.md, "Figures to beat": appends per second for writer batch sizes 1, 64 and 256, each with
its ratio to a raw batched INSERT of rows of the same size into the same database in the same
run (the database's own floor); target >= 0.5 at batch 256 on both engines, and more than
Trillian's published ~1,190 appends/s. Inclusion- and consistency-proof latency (median) at
10^6 entries (target < 2 ms) and proof sizes (= ceil(log2 n) x 32 bytes).

What one "append" costs here, end to end and durable: the writer's transaction queues
``batch`` entries (``AuditService.append_many``, one commit), and as soon as 256 entries wait
the sequencer integrates them (``AuditService.integrate``: entries, stored nodes, queue
deletion and one signed checkpoint in one more commit). Both commits are durable: SQLite
with ``synchronous=FULL`` (the kernel's setting), PostgreSQL started with fsync on
(``TempPostgres(durable=True)``). The raw floor inserts the same number of rows of the same
size with the same batch per commit into a plain table of the same database.

The 10^6-entry log for the proof figures is built directly through the storage layer (leaf
hashes and stored nodes computed with ``merkle.CompactRange``, bulk-inserted, one signed
checkpoint); ``--quick`` uses 10^5 entries. Latency is measured per proof inside one read
transaction (the proof's own queries and hashing), over random indexes or first sizes.

Usage: ``python bench/audit_append.py [--quick] [--engines sqlite postgresql]``. The last
line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    insert,
    text,
)

from audit import merkle, service_from
from audit.service import AuditService
from audit.storage import LEVEL_STEP, insert_checkpoint, insert_rows
from audit.tables import LogRow
from parvis import migrate
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import load_settings
from tests.support.postgres import TempPostgres

BATCHES = (1, 64, 256)
SEQUENCER_BATCH = 256
ENTRY_SIZE = 200  # bytes: about an audit-event leaf (JCS JSON with pseudonyms and a hash)
TARGET_RATIO = 0.5
TRILLIAN_PER_S = 1190
TARGET_PROOF_MS = 2.0

_raw = MetaData()
RAW = Table(
    "bench_raw",
    _raw,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


def payloads(count: int) -> list[bytes]:
    return [os.urandom(ENTRY_SIZE) for _ in range(count)]


def append_rate(ctx: AppContext, service: AuditService, *, batch: int, total: int) -> float:
    """Durable appends per second: writer commits of ``batch`` plus sequencer commits."""
    data = payloads(total)
    waiting = 0
    start = time.perf_counter()
    for i in range(0, total, batch):
        with ctx.db.write_session() as session:
            service.append_many(session, log="bench", data=data[i : i + batch])
        waiting += batch
        if waiting >= SEQUENCER_BATCH:
            service.integrate(log="bench")
            waiting = 0
    service.integrate(log="bench")
    return total / (time.perf_counter() - start)


def raw_rate(engine: Engine, *, batch: int, total: int) -> float:
    """Rows per second of a plain batched INSERT of the same rows: the database's floor."""
    data = payloads(total)
    start = time.perf_counter()
    for i in range(0, total, batch):
        with engine.begin() as conn:
            conn.execute(insert(RAW), [{"data": d} for d in data[i : i + batch]])
    return total / (time.perf_counter() - start)


def measure_appends(ctx: AppContext, *, quick: bool, reps: int) -> dict[str, Any]:
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="bench", public=True)
    _raw.create_all(ctx.db.engine)
    totals = {1: 256, 64: 2048, 256: 4096} if quick else {1: 2048, 64: 16384, 256: 65536}
    results: dict[str, Any] = {}
    for batch in BATCHES:
        total = totals[batch]
        # Alternate the two measurements so that drift in the machine's load hits both.
        ours, floor = [], []
        for _ in range(reps):
            ours.append(append_rate(ctx, service, batch=batch, total=total))
            floor.append(raw_rate(ctx.db.engine, batch=batch, total=total))
        per_s, raw = statistics.median(ours), statistics.median(floor)
        results[str(batch)] = {
            "entries_per_s": round(per_s),
            "raw_rows_per_s": round(raw),
            "ratio": round(per_s / raw, 3),
            "entries": total,
        }
        print(
            f"  batch {batch:3}: {per_s:8.0f} appends/s   raw INSERT {raw:8.0f} rows/s   "
            f"ratio {per_s / raw:.3f}   ({total} entries x {reps})"
        )
    return results


def build_log(ctx: AppContext, *, size: int) -> tuple[int, bytes]:
    """A log of ``size`` entries written straight through the storage layer."""
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        info = service.ensure_log(session, name="proofs", public=True)
        log_id = session.execute(
            LogRow.__table__.select().with_only_columns(LogRow.id).where(LogRow.name == "proofs")
        ).scalar_one()
    signer = service.keys.signer(name=info.name, origin=info.origin, create=False)
    compact = merkle.CompactRange.empty()
    chunk = 1 << 16
    for start in range(0, size, chunk):
        data = [i.to_bytes(8, "big") * 4 for i in range(start, min(start + chunk, size))]
        leaves = [hashlib.sha256(b"\x00" + d).digest() for d in data]
        appended = compact.append(leaves)
        compact = appended.compact_range
        nodes = [
            (log_id, n.level, n.index, n.hash)
            for n in appended.new_nodes
            if n.level and n.level % LEVEL_STEP == 0
        ]
        entries = [
            (log_id, start + i, leaf, d)
            for i, (leaf, d) in enumerate(zip(leaves, data, strict=True))
        ]
        with ctx.db.write_session() as session:
            conn = session.connection()
            if ctx.db.is_sqlite:
                insert_rows(conn, "audit_entries", ("log_id", "idx", "leaf_hash", "data"), entries)
                insert_rows(conn, "audit_nodes", ("log_id", "level", "idx", "hash"), nodes)
            else:
                # COPY: the fastest bulk path of PostgreSQL (the bench's set-up, not measured).
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(
                    "COPY audit_entries (log_id, idx, leaf_hash, data) FROM STDIN"
                ) as c:
                    for row in entries:
                        c.write_row(row)
                with cursor.copy("COPY audit_nodes (log_id, level, idx, hash) FROM STDIN") as c:
                    for row in nodes:
                        c.write_row(row)
    root = compact.root()
    with ctx.db.write_session() as session:
        insert_checkpoint(
            session.connection(),
            log_id=log_id,
            origin=info.origin,
            size=size,
            root_hash=root,
            signer=signer,
            now=ctx.clock.now(),
        )
    if not ctx.db.is_sqlite:
        with ctx.db.engine.connect() as conn:
            conn.execute(text("ANALYZE audit_entries, audit_nodes"))
            conn.commit()
    return log_id, root


def measure_proofs(ctx: AppContext, *, size: int, samples: int) -> dict[str, Any]:
    service = service_from(ctx)
    started = time.perf_counter()
    _log_id, root = build_log(ctx, size=size)
    built = time.perf_counter() - started
    rng = random.Random(6962)
    inclusion_ms, consistency_ms = [], []
    inclusion_bytes, consistency_bytes = [], []
    with ctx.db.read_session() as session:
        # Warm-up and correctness: a few proofs verified against the signed root.
        for _ in range(5):
            index = rng.randrange(size)
            proof = service.inclusion_proof(session, log="proofs", index=index, size=size)
            merkle.verify_inclusion(
                leaf_hash=proof.leaf_hash, index=index, size=size, proof=proof.proof, root=root
            )
        for _ in range(samples):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            proof = service.inclusion_proof(session, log="proofs", index=index, size=size)
            inclusion_ms.append((time.perf_counter() - t0) * 1000)
            inclusion_bytes.append(32 * len(proof.proof))
        for _ in range(samples):
            first = rng.randrange(1, size)
            t0 = time.perf_counter()
            link = service.consistency_proof(session, log="proofs", first=first, second=size)
            consistency_ms.append((time.perf_counter() - t0) * 1000)
            consistency_bytes.append(32 * len(link.proof))
        first = size // 3
        link = service.consistency_proof(session, log="proofs", first=first, second=size)
        merkle.verify_consistency(
            size1=first,
            size2=size,
            root1=service.root(session, log="proofs", size=first),
            root2=root,
            proof=link.proof,
        )
    bound = math.ceil(math.log2(size)) * 32
    result = {
        "entries": size,
        "build_seconds": round(built, 1),
        "inclusion_ms_median": round(statistics.median(inclusion_ms), 3),
        "inclusion_ms_p95": round(sorted(inclusion_ms)[int(0.95 * samples)], 3),
        "consistency_ms_median": round(statistics.median(consistency_ms), 3),
        "consistency_ms_p95": round(sorted(consistency_ms)[int(0.95 * samples)], 3),
        "inclusion_bytes_max": max(inclusion_bytes),
        "consistency_bytes_max": max(consistency_bytes),
        "ceil_log2_n_x32_bytes": bound,
    }
    print(
        f"  proofs at {size} entries (built in {built:.1f} s): inclusion median "
        f"{result['inclusion_ms_median']} ms (p95 {result['inclusion_ms_p95']}), consistency "
        f"median {result['consistency_ms_median']} ms (p95 {result['consistency_ms_p95']}); "
        f"sizes <= {max(inclusion_bytes)} / {max(consistency_bytes)} bytes "
        f"(ceil(log2 n) x 32 = {bound})"
    )
    return result


def run_engine(url: str, data_dir: Path, *, quick: bool, reps: int) -> dict[str, Any]:
    migrate.upgrade(url)
    ctx = build_context(load_settings(mode="test", database_url=url, data_dir=data_dir))
    try:
        appends = measure_appends(ctx, quick=quick, reps=reps)
        proofs = measure_proofs(
            ctx, size=100_000 if quick else 1_000_000, samples=200 if quick else 1000
        )
    finally:
        ctx.db.dispose()
    return {"append": appends, "proofs": proofs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (median taken)")
    parser.add_argument(
        "--engines", nargs="*", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    print(
        f"# Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; entries of "
        f"{ENTRY_SIZE} bytes; sequencer batch {SEQUENCER_BATCH}; {reps} repetition(s), medians"
    )
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="parvis-bench-audit-") as tmp:
        root = Path(tmp)
        if "sqlite" in args.engines:
            print("SQLite (WAL, synchronous=FULL):")
            results["sqlite"] = run_engine(
                f"sqlite:///{root / 'bench.sqlite3'}", root / "sqlite", quick=args.quick, reps=reps
            )
        if "postgresql" in args.engines:
            with TempPostgres(durable=True) as server:
                server.psql("CREATE DATABASE bench")
                print("PostgreSQL (fsync on):")
                results["postgresql"] = run_engine(
                    server.url_for("bench"), root / "pg", quick=args.quick, reps=reps
                )
    results["targets"] = {
        "ratio_at_256": TARGET_RATIO,
        "trillian_appends_per_s": TRILLIAN_PER_S,
        "proof_ms": TARGET_PROOF_MS,
    }
    results["quick"] = args.quick
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
